import type { Counts, RecordResult, RunStatus } from './outcome.ts';

/** The last word of a run. */
export interface RunSummary {
  runId: string;
  task: string;
  status: RunStatus;
  dryRun: boolean;
  resumed: boolean;
  /** The unfinished run this one replaced because its input changed (`--resume`). */
  supersedes?: string;
  counts: Counts;
  /** Records not reached (aborted or interrupted runs); a resume picks them up. */
  notProcessed: number;
  /** Records skipped because this run had already finished them before a resume. */
  alreadyDone: number;
  elapsedMs: number;
  ledger: string;
  message?: string;
  /** A plan-first run's plan: its hash, what it does, and what the gate said. */
  plan?: PlanSummary;
}

/** What a plan does and what the gate said of it. */
export interface PlanSummary {
  /** The plan's hash: `--accept <hash>` lets exactly this plan through once. */
  hash: string;
  creates: number;
  modifications: number;
  deletions: number;
  /** The budgets it exceeds (empty when it went through). */
  exceeded: string[];
  /** Who let it through with `--accept`, when it exceeded budgets. */
  acceptedBy?: string;
  /** The last accepted run, when the input is identical to its input. */
  identicalTo?: string;
}

/** A run begins: its id, and how many records (and prune keys) it will go through. */
export interface RunStart {
  runId: string;
  task: string;
  total: number;
  dryRun: boolean;
  resumed: boolean;
  /** `--resume` was asked for and no unfinished run was there: this is a new run (the nightly case). */
  nothingToResume?: boolean;
}

/** A step's attempt failed with an error worth retrying; the retry comes after `delayMs`. */
export interface RetryNotice {
  key: string;
  step: string;
  attempt: number;
  error: string;
  delayMs: number;
}

/** Where the engine tells what happens. Renderers are adapters: TTY, plain lines, NDJSON, memory. */
export interface Reporter {
  runStarted(info: RunStart): void;
  recordFinished(result: RecordResult): void;
  retrying(info: RetryNotice): void;
  warn(message: string): void;
  runFinished(summary: RunSummary): void;
}
