import type { RecordResult } from '../core/outcome.ts';
import type { Reporter, RetryNotice, RunStart, RunSummary } from '../core/reporter.ts';
import { recordLines, summaryLines } from './format.ts';
import type { Progress } from './progress.ts';
import type { Style } from './style.ts';

export type Verbosity = 'quiet' | 'normal' | 'verbose';

export interface HumanReporterOptions {
  /** Where record lines and the recap go (stdout; stderr under --json). */
  out: { write(text: string): unknown };
  /** Where warnings go (stderr). */
  err: { write(text: string): unknown };
  style: Style;
  verbosity: Verbosity;
  progress?: Progress;
  /** Print record lines (off under --json, where records are NDJSON). */
  records?: boolean;
}

/**
 * Plain lines for people and cron: one per changed, failed, invalid, in-doubt or
 * absorbed record (no-ops only with -v; only problems with -q), then a recap.
 */
export class HumanReporter implements Reporter {
  private dryRun = false;
  constructor(private readonly o: HumanReporterOptions) {}

  private say(stream: { write(t: string): unknown }, lines: string[]): void {
    const write = () => stream.write(`${lines.join('\n')}\n`);
    if (this.o.progress) this.o.progress.print(write);
    else write();
  }

  runStarted(info: RunStart): void {
    this.dryRun = info.dryRun;
    if (this.o.verbosity !== 'quiet') {
      const what = info.dryRun ? 'dry run (checks only)' : info.resumed ? 'resuming run' : 'run';
      this.say(this.o.err, [
        this.o.style.dim(
          `idem: ${what} ${info.runId} of task ${info.task}: ${info.total} record${info.total === 1 ? '' : 's'}`,
        ),
      ]);
    }
    this.o.progress?.start(info.task, info.total);
  }

  recordFinished(r: RecordResult): void {
    this.o.progress?.tick();
    if (this.o.records === false) return;
    const problem = r.outcome === 'failed' || r.outcome === 'invalid' || r.outcome === 'in-doubt';
    const show =
      this.o.verbosity === 'verbose' ||
      problem ||
      (this.o.verbosity === 'normal' && (r.outcome === 'changed' || r.absorbed));
    if (show) this.say(this.o.out, recordLines(r, this.o.style, this.dryRun));
  }

  retrying(info: RetryNotice): void {
    if (this.o.verbosity === 'quiet') return;
    this.say(this.o.err, [
      this.o.style.yellow(
        `retry    ${info.key}: step ${info.step} attempt ${info.attempt} failed (${info.error}); retrying`,
      ),
    ]);
  }

  warn(message: string): void {
    this.say(this.o.err, [this.o.style.yellow(`idem: ${message}`)]);
  }

  runFinished(summary: RunSummary): void {
    this.o.progress?.stop();
    const lines = summaryLines(summary, this.o.style);
    this.say(
      this.o.out,
      this.o.verbosity === 'quiet' && summary.status === 'succeeded' ? lines.slice(1, 2) : lines,
    );
  }
}
