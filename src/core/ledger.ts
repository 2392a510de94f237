import type { Counts, RecordResult, RunStatus } from './outcome.ts';
import type { EffectState } from './step.ts';

/**
 * The checkpoint ledger, as three small roles. Implementations only store and
 * read: every decision (which runs are finished, what history line an action
 * writes, what time it is, when a batch is committed) is made once in the core
 * (`runs.ts`, `journal.ts`, `effects.ts`), so the SQLite ledger and its
 * in-memory twin cannot drift apart. Methods are async so that a networked
 * ledger (PostgreSQL) fits the same shape.
 */
export interface Ledger extends RunStore, OutcomeStore, OnceStore {
  /** Where it lives, for the operator (a file path). */
  readonly location: string;
  close(): Promise<void>;
}

/** A run as the ledger knows it. */
export interface RunInfo {
  id: string;
  task: string;
  startedAt: number;
  endedAt?: number;
  status: RunStatus;
  dryRun: boolean;
  inputDigest: string;
  inputPath: string;
  host: string;
  pid: number;
  options: Record<string, unknown>;
  counts?: Counts;
  message?: string;
}

/** What changes when a run is reopened or finished. `null` clears a field. */
export interface RunUpdate {
  status: RunStatus;
  endedAt?: number | null;
  counts?: Counts;
  message?: string | null;
  pid?: number;
  host?: string;
}

/** Runs: one row per execution of a task. */
export interface RunStore {
  insertRun(run: RunInfo): Promise<void>;
  updateRun(runId: string, update: RunUpdate): Promise<void>;
  getRun(runId: string): Promise<RunInfo | undefined>;
  /** The newest run of the task that is not a dry run. */
  latestRun(task: string): Promise<RunInfo | undefined>;
  /** Runs, newest first. */
  listRuns(filter: RunFilter): Promise<RunInfo[]>;
}

/** Which runs `listRuns` returns. */
export interface RunFilter {
  task?: string;
  status?: RunStatus;
  /** Started at or after this time (epoch ms). */
  since?: number;
  limit?: number;
}

/** What a line of the history says happened. */
export type EventKind =
  | 'start'
  | 'apply'
  | 'retry'
  | 'absorbed'
  | 'failed'
  | 'done'
  | 'interrupted'
  | 'resumed'
  | 'crashed'
  | 'superseded'
  | 'effect-intent'
  | 'effect-done'
  | 'effect-abandoned'
  | 'resolved';

/** One line of the append-only history: an attempt, a retry, a resolution. */
export interface LedgerEvent {
  runId: string;
  /** The record's slot (its key; `key#line` for a duplicate); '' for run-level events. */
  key: string;
  step?: string;
  kind: EventKind;
  attempt?: number;
  detail?: string;
  at: number;
}

/** Record outcomes and the history, committed in batches (a re-check is always safe). */
export interface OutcomeStore {
  /** Commits results and events together, in one transaction, in order. */
  commit(batch: OutcomeBatch): Promise<void>;
  /** The final outcome of a record in a run, if one was committed. */
  getResult(runId: string, slot: string): Promise<RecordResult | undefined>;
  /** Counts of the outcomes committed so far in a run. */
  countResults(runId: string): Promise<Counts>;
  /** History lines, oldest first. */
  events(filter: { runId?: string; key?: string }): Promise<LedgerEvent[]>;
}

/** What one commit of the journal writes. */
export interface OutcomeBatch {
  results: { runId: string; result: RecordResult }[];
  events: LedgerEvent[];
}

/** A `once` effect as recorded across runs. */
export interface EffectRecord {
  task: string;
  key: string;
  effect: string;
  state: EffectState;
  runId: string;
  intentAt: number;
  doneAt?: number;
  detail?: string;
}

/** Names one effect: (task, record key, effect name). */
export interface EffectId {
  task: string;
  key: string;
  effect: string;
}

/** `once` effects and HTTP idempotency keys, keyed across runs. Each write is durable at once. */
export interface OnceStore {
  getEffect(id: EffectId): Promise<EffectRecord | undefined>;
  /**
   * Stores an effect's new state (or forgets it, with `null`) together with its
   * history line, in one durable transaction.
   */
  putEffect(id: EffectId, record: EffectRecord | null, event: LedgerEvent): Promise<void>;
  /** Effects of a task in one state, oldest intent first. */
  listEffects(task: string, state: EffectState): Promise<EffectRecord[]>;
  /**
   * Stores the payload hash an idempotency key is first sent with; returns the
   * hash stored earlier if the key was already known.
   */
  claimIdempotencyKey(claim: {
    task: string;
    key: string;
    idempotencyKey: string;
    payloadHash: string;
    at: number;
  }): Promise<string>;
}
