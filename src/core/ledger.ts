import type { LineRange } from './line-ranges.ts';
import type { Counts, RecordResult, RunStatus, StepDiff } from './outcome.ts';
import type { EffectState } from './step.ts';

/**
 * The checkpoint ledger, as three small roles. Implementations only store and
 * read: every decision (which runs are finished, what history line an action
 * writes, what time it is, when a batch is committed) is made once in the core
 * (`runs.ts`, `journal.ts`, `effects.ts`), so the SQLite ledger and its
 * in-memory twin cannot drift apart. Methods are async so that a networked
 * ledger (PostgreSQL) fits the same shape.
 */
export interface Ledger extends RunStore, OutcomeStore, OnceStore, PlanStore {
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
  /** sha256 of the task file the run was started with (`--resume` refuses another). */
  taskDigest?: string;
  /** The idem version that started it. */
  idemVersion?: string;
  /** Where a plan-first run is: `plan` (checking every record), `apply` (the gate let the plan through). */
  phase?: RunPhase;
  /** How many records the input held. */
  records?: number;
}

/** The phases of a plan-first run. */
export type RunPhase = 'plan' | 'apply';

/** What changes when a run is reopened or finished. `null` clears a field. */
export interface RunUpdate {
  status: RunStatus;
  phase?: RunPhase;
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

/**
 * Record outcomes and the history, committed in batches (a re-check is always
 * safe). A record whose outcome has something to tell (a change, a failure, a
 * note) gets a result row; every finished record's line goes into the run's
 * finished line ranges, so a plain no-op costs no row at all.
 */
export interface OutcomeStore {
  /** Commits results, finished lines and events together, in one transaction, in order. */
  commit(batch: OutcomeBatch): Promise<void>;
  /** The outcome of a record in a run, if a row was committed (a plain `ok` has none). */
  getResult(runId: string, slot: string): Promise<RecordResult | undefined>;
  /**
   * Counts of the outcomes committed so far in a run: the rows, plus the
   * finished lines that have no row, which are plain `ok`s (see `countOutcomes`).
   */
  countResults(runId: string): Promise<Counts>;
  /** The line ranges of the records a run finished (not failed, not in doubt), overlaps possible. */
  finishedLines(runId: string): Promise<LineRange[]>;
  /** History lines, oldest first. */
  events(filter: { runId?: string; key?: string }): Promise<LedgerEvent[]>;
}

/** What one commit of the journal writes. */
export interface OutcomeBatch {
  results: { runId: string; result: RecordResult }[];
  /** Lines of records that reached a final outcome (not failed, not in doubt), as ranges. */
  finished?: { runId: string; first: number; last: number }[];
  events: LedgerEvent[];
  /** Records with pending changes, in a plan-first run's plan phase. */
  planned?: { runId: string; record: PlannedRecord }[];
}

/** A record of a plan: what its checks found pending, and the input to apply it from. */
export interface PlannedRecord {
  slot: string;
  key: string;
  line: number;
  inputHash: string;
  /** A key the prune phase removes (no input row). The apply phase reads input rows from the input again. */
  prune: boolean;
  /** The pending diffs, secrets masked. */
  diff: StepDiff[];
}

/** How a refused plan was let through once (`--accept <hash>`). */
export interface Acceptance {
  task: string;
  planHash: string;
  runId: string;
  acceptedBy: string;
  acceptedAt: number;
  /** The budgets it exceeded. */
  reasons: string[];
}

/** A leaver disabled by a prune lifecycle, waiting out the grace period before deletion. */
export interface Departure {
  task: string;
  key: string;
  disabledAt: number;
  runId: string;
  /** Runs that have seen the key disabled, the one that disabled it included. */
  runsSince: number;
}

/** The plan of a plan-first run (written through the journal), acceptances and leavers. */
export interface PlanStore {
  /** Planned records of a run in input order, `limit` at a time after `after` (a line, then a slot). */
  planned(
    runId: string,
    after: { line: number; slot: string } | undefined,
    limit: number,
  ): Promise<PlannedRecord[]>;
  /** The planned record of one slot, if the plan has it. */
  plannedSlot(runId: string, slot: string): Promise<PlannedRecord | undefined>;
  /**
   * How far a run got: its finished outcomes (not `failed` or `in-doubt`, which a
   * resume checks again), its planned records, and how many of those are finished.
   */
  planProgress(runId: string): Promise<{ done: number; planned: { total: number; done: number } }>;
  /** Stores the keys of a run's input (64-bit hashes, see `KeySet`), the baseline of a later run's key comparison. */
  putRunKeys(runId: string, hashes: Uint32Array): Promise<void>;
  /**
   * Hands the keys of a run's input, as stored by `putRunKeys`, to `visit` in
   * consecutive sorted chunks (never the whole list at once: 8 MB for a million
   * keys); false, and no call, if none were kept for that run. `visit` runs while
   * the chunks are read and must not use the ledger; a chunk is only valid during
   * its visit (its memory is reused for the next).
   */
  runKeys(runId: string, visit: (chunk: Uint32Array) => void): Promise<boolean>;
  recordAcceptance(acceptance: Acceptance): Promise<void>;
  findAcceptance(task: string, planHash: string): Promise<Acceptance | undefined>;
  /** The task's leavers in their grace period. */
  listDepartures(task: string): Promise<Departure[]>;
  /** Stores (or with `null`, forgets) a leaver's departure. */
  putDeparture(task: string, key: string, departure: Departure | null): Promise<void>;
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
  /**
   * Whether the history says this effect was intended or done (for a ledger whose
   * effects were lost): its last line is an intent, a completion or an adoption,
   * not a forgotten intent (abandoned, or settled `idem resolve --retry`).
   */
  effectHistory(id: EffectId): Promise<boolean>;
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

/** The history lines that tell a once effect's state. */
export const EFFECT_LINES: ReadonlySet<EventKind> = new Set([
  'effect-done',
  'effect-intent',
  'effect-abandoned',
  'resolved',
]);

/** The detail of an operator's `resolved` line (`idem resolve`): `retry by ada@host`. */
export function resolvedDetail(verdict: 'done' | 'retry', who: string): string {
  return `${verdict} by ${who}`;
}

/**
 * Whether an effect's last history line forgets it: an intent abandoned (it certainly
 * did not happen) or settled by `idem resolve --retry` (an operator says it did not).
 */
export function settledUndone(line: Pick<LedgerEvent, 'kind' | 'detail'>): boolean {
  return (
    line.kind === 'effect-abandoned' ||
    (line.kind === 'resolved' && Boolean(line.detail?.startsWith(resolvedDetail('retry', ''))))
  );
}
