import type { Clock } from './clock.ts';
import type { ChangeBudget } from './gate.ts';
import type { JournalPolicy } from './journal.ts';
import type { Ledger, PlannedRecord } from './ledger.ts';
import type { Redactor } from './redact.ts';
import type { Reporter } from './reporter.ts';
import type { RecordSource } from './source.ts';
import type { DeleteLimit, RetryPolicy, SetupContext, TaskDefinition } from './task.ts';

/** What a run is asked to do: the CLI's flags, or a program's options to `run()`. */
export interface EngineOptions {
  /** Only run the checks; write nothing to any target. */
  dryRun?: boolean;
  /** Continue the last unfinished run instead of starting a new one. */
  resume?: boolean;
  /** With `resume`: refuse (exit 2) when the input changed, instead of superseding the run. */
  strictResume?: boolean;
  /** Records processed at once. @default the task's, else 4 */
  concurrency?: number;
  /** The deletion guard, overriding the task's. */
  maxDeletes?: DeleteLimit;
  /** Retry bounds, overriding the task's. */
  retry?: Partial<RetryPolicy>;
  /** Consecutive identical failures that stop the run. @default the task's, else 5 */
  breaker?: number;
  /** Who runs it, for the ledger. */
  host: string;
  pid: number;
  /** What the run was started with, kept in the ledger. */
  options?: Record<string, unknown>;
  /** Stop taking new records (first SIGINT/SIGTERM). */
  stopSignal?: AbortSignal;
  /** Abort in-flight work (the grace period after a stop ran out). */
  killSignal?: AbortSignal;
  /** Fixed run id (tests); generated otherwise. */
  runId?: string;
  /** When outcomes are committed. @default 64 writes or 200 ms */
  journal?: JournalPolicy;
  /** Plan every record, gate the plan, then apply it, even for a task with `budget: false`. */
  planFirst?: boolean;
  /** Plan and gate only, store the plan, apply nothing (`idem plan`). */
  planOnly?: boolean;
  /** Change budgets overriding the task's (flags). */
  budget?: ChangeBudget;
  /** Let exactly the plan with this hash through the gate once. */
  accept?: string;
  /** Who accepts it, for the ledger (user@host). */
  acceptedBy?: string;
  /** sha256 of the task file: `--resume` will not continue a run started with another. */
  taskDigest?: string;
  /** The idem version: `--resume` will not continue a run started by another. */
  idemVersion?: string;
  /**
   * Adopt an existing population: a `once` effect the ledger has no record of,
   * for a record the target already holds, is recorded as done by this person
   * instead of being held in doubt (a ledger created fresh over a populated target).
   */
  adoptEffects?: string;
  /** Apply exactly this saved plan (`idem apply`): records that no longer match it are refused. */
  applyPlan?: SavedPlan;
}

/** A plan saved by `idem plan`, to apply exactly (`idem apply`). */
export interface SavedPlan {
  hash: string;
  /** The input it was made from: the apply refuses another. */
  inputDigest: string;
  /** The records the plan changes, in input order. */
  records: () => AsyncIterable<PlannedRecord>;
  /** Who applies it, for the ledger. */
  appliedBy: string;
}

/** What the engine talks to: each an interface with an in-memory twin. */
export interface EngineDeps<R, C> {
  task: TaskDefinition<R, C, any>;
  source: RecordSource;
  ledger: Ledger;
  reporter: Reporter;
  clock: Clock;
  setup: SetupContext;
  redactor: Redactor;
}
