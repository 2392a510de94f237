import { formatCounts, type RecordResult } from '../core/outcome.ts';
import type { Reporter, RetryNotice, RunStart, RunSummary } from '../core/reporter.ts';
import { recapHead, recordLines, summaryLines, supersededLines } from './format.ts';
import type { Progress } from './progress.ts';
import type { Style } from './style.ts';
import { localTime } from './time.ts';

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
  /** The task's folder: an unexpected error in a step points at the task's file and line. */
  taskDir?: string;
  /** The time, for the start and end lines. @default Date.now */
  now?: () => number;
}

/**
 * Plain lines for people and cron: one per changed, failed, invalid, in-doubt or
 * absorbed record (no-ops only with -v; only problems with -q), then a recap.
 * The start line and the recap's first line carry the local time with its zone
 * and the run id, also with -q, so a cron log appended every night can be tied
 * to a night and to `idem show <run>`.
 */
export class HumanReporter implements Reporter {
  private dryRun = false;
  private readonly now: () => number;
  constructor(private readonly o: HumanReporterOptions) {
    this.now = o.now ?? Date.now;
  }

  private say(stream: { write(t: string): unknown }, lines: string[]): void {
    const write = () => stream.write(`${lines.join('\n')}\n`);
    if (this.o.progress) this.o.progress.print(write);
    else write();
  }

  runStarted(info: RunStart): void {
    this.dryRun = info.dryRun;
    const what = info.dryRun ? 'dry run (checks only)' : info.resumed ? 'resumed run' : 'run';
    const n = `${info.total} record${info.total === 1 ? '' : 's'}${info.nothingToResume ? ' (no unfinished run to resume)' : ''}`;
    this.say(this.o.err, [
      this.o.style.dim(`idem: ${localTime(this.now())} ${what} ${info.runId} of task ${info.task}: ${n}`),
    ]);
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
    if (show) {
      const lines = recordLines(r, this.o.style, {
        dryRun: this.dryRun,
        taskDir: this.o.taskDir,
        stack: this.o.verbosity === 'verbose',
      });
      this.say(this.o.out, lines);
    }
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
    const quietSuccess = this.o.verbosity === 'quiet' && summary.status === 'succeeded';
    const lines = quietSuccess
      ? [
          `${recapHead(summary, this.o.style, this.now())} · ${formatCounts(summary.counts)}`,
          ...supersededLines(summary, this.o.style),
        ]
      : summaryLines(summary, this.o.style, this.now());
    this.say(this.o.out, lines);
  }
}
