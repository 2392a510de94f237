import type { Counts, RecordResult, RunStatus } from './outcome.ts';

/** The last word of a run. */
export interface RunSummary {
  runId: string;
  task: string;
  status: RunStatus;
  dryRun: boolean;
  resumed: boolean;
  counts: Counts;
  /** Records not reached (aborted or interrupted runs); a resume picks them up. */
  notProcessed: number;
  /** Records skipped because this run had already finished them before a resume. */
  alreadyDone: number;
  elapsedMs: number;
  ledger: string;
  message?: string;
}

/** Where the engine tells what happens. Renderers are adapters: TTY, plain lines, NDJSON, memory. */
export interface Reporter {
  runStarted(info: { runId: string; task: string; total: number; dryRun: boolean; resumed: boolean }): void;
  recordFinished(result: RecordResult): void;
  /** A retry is about to happen. */
  retrying(info: { key: string; step: string; attempt: number; error: string; delayMs: number }): void;
  warn(message: string): void;
  runFinished(summary: RunSummary): void;
}
