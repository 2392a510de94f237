import type { RecordResult } from '../core/outcome.ts';
import type { Reporter, RetryNotice, RunStart, RunSummary } from '../core/reporter.ts';

/** The test twin: keeps everything it is told, for assertions. */
export class MemoryReporter implements Reporter {
  readonly records: RecordResult[] = [];
  readonly warnings: string[] = [];
  readonly retries: RetryNotice[] = [];
  started: RunStart | undefined;
  summary: RunSummary | undefined;

  runStarted(info: RunStart): void {
    this.started = info;
  }
  recordFinished(r: RecordResult): void {
    this.records.push(r);
  }
  retrying(info: RetryNotice): void {
    this.retries.push(info);
  }
  warn(message: string): void {
    this.warnings.push(message);
  }
  runFinished(s: RunSummary): void {
    this.summary = s;
  }
  byKey(key: string): RecordResult | undefined {
    return this.records.find((r) => r.key === key);
  }
}
