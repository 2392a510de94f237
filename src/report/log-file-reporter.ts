import { closeSync, openSync, writeSync } from 'node:fs';
import type { RecordResult } from '../core/outcome.ts';
import type { Reporter, RetryNotice, RunStart, RunSummary } from '../core/reporter.ts';
import { summaryJson } from './json-reporter.ts';
import { recordJson } from './ledger-json.ts';
import { isoTime } from './time.ts';

/**
 * `idem run --log-file PATH`: one JSON object per line, appended, for log
 * shippers (Filebeat, Vector, Fluent Bit). Every line has `type`, `at` (ISO 8601
 * UTC), `task` and `runId` (null before the run has one); the `record` and
 * `summary` lines carry what `--json` prints. See docs/schemas/log-event.schema.json.
 *
 * Each line is one `write` on a file opened for appending, so lines of runs of
 * several tasks sharing a file do not interleave. A write that fails (a full
 * disk) is told once through `onFailure`, and the run goes on without its log.
 */
export class LogFileReporter implements Reporter {
  private readonly fd: number;
  private runId: string | null = null;
  private broken = false;

  /** Opens (creates, 0600) the file for appending; throws if it cannot. */
  constructor(
    readonly path: string,
    private readonly task: string,
    private readonly onFailure: (message: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.fd = openSync(path, 'a', 0o600);
  }

  private emit(type: string, fields: Record<string, unknown>): void {
    if (this.broken) return;
    const line = { type, at: isoTime(this.now()), task: this.task, runId: this.runId, ...fields };
    try {
      writeSync(this.fd, `${JSON.stringify(line)}\n`);
    } catch (err) {
      this.broken = true;
      this.onFailure(
        `cannot append to the log file ${this.path}: ${(err as Error).message}; no more lines go there`,
      );
    }
  }

  runStarted(info: RunStart): void {
    this.runId = info.runId;
    this.emit('run-started', {
      total: info.total,
      dryRun: info.dryRun,
      resumed: info.resumed,
      ...(info.nothingToResume ? { nothingToResume: true } : {}),
    });
  }

  recordFinished(r: RecordResult): void {
    this.emit('record', recordJson(r));
  }

  retrying(i: RetryNotice): void {
    this.emit('retry', { key: i.key, step: i.step, attempt: i.attempt, error: i.error, delayMs: i.delayMs });
  }

  warn(message: string): void {
    this.emit('warning', { message });
  }

  runFinished(s: RunSummary): void {
    this.emit('summary', summaryJson(s));
  }

  /** The invocation stopped before or instead of a run's end (the lock was held, a usage error). */
  failed(kind: string, message: string, exitCode: number): void {
    this.emit('error', { kind, message, exitCode });
  }

  close(): void {
    closeSync(this.fd);
  }
}
