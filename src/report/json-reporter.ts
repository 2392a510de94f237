import type { RecordResult } from '../core/outcome.ts';
import type { Reporter, RetryNotice, RunStart, RunSummary } from '../core/reporter.ts';
import { recordJson } from './ledger-json.ts';

/**
 * NDJSON on stdout for machines: one `record` event per record and a final
 * `summary`. Human messages go to the wrapped reporter (on stderr).
 */
export class JsonReporter implements Reporter {
  constructor(
    private readonly out: { write(text: string): unknown },
    private readonly human: Reporter,
  ) {}

  private emit(event: Record<string, unknown>): void {
    this.out.write(`${JSON.stringify(event)}\n`);
  }

  runStarted(info: RunStart): void {
    this.human.runStarted(info);
  }

  recordFinished(r: RecordResult): void {
    this.human.recordFinished(r);
    this.emit({ type: 'record', ...recordJson(r) });
  }

  retrying(info: RetryNotice): void {
    this.human.retrying(info);
  }

  warn(message: string): void {
    this.human.warn(message);
  }

  runFinished(s: RunSummary): void {
    this.human.runFinished(s);
    this.emit({ type: 'summary', ...summaryJson(s) });
  }
}

/** The `summary` line of `idem run --json` (and of the log file), without its `type`. */
export function summaryJson(s: RunSummary) {
  return {
    runId: s.runId,
    task: s.task,
    status: s.status,
    dryRun: s.dryRun,
    resumed: s.resumed,
    supersedes: s.supersedes ?? null,
    counts: s.counts,
    notProcessed: s.notProcessed,
    alreadyDone: s.alreadyDone,
    elapsedMs: s.elapsedMs,
    ledger: s.ledger,
    message: s.message ?? null,
    plan: s.plan ?? null,
  };
}
