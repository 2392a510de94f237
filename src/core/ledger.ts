import type { Counts, RecordResult, RunStatus } from './outcome.ts';
import type { EffectState } from './step.ts';

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

/** One line of the append-only history: an attempt, a retry, a resolution. */
export interface LedgerEvent {
  runId: string;
  key: string;
  step?: string;
  /** `attempt`, `retry`, `applied`, `absorbed`, `failed`, `resolved`, ... */
  kind: string;
  attempt?: number;
  detail?: string;
  at: number;
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

/**
 * The checkpoint ledger. The engine only talks to this interface; `SqliteLedger`
 * is the real one, `MemoryLedger` the twin for unit tests. Methods are async so
 * that a networked implementation (PostgreSQL) fits the same shape.
 */
export interface Ledger {
  /** Where it lives, for the operator (a file path). */
  readonly location: string;
  startRun(run: RunInfo): Promise<void>;
  /** Marks a resumed run as running again (new pid, host). */
  reopenRun(runId: string, pid: number, host: string): Promise<void>;
  finishRun(runId: string, status: RunStatus, counts: Counts, message?: string): Promise<void>;
  /** The newest real (not dry) run of the task that did not finish, if any. */
  findUnfinishedRun(task: string): Promise<RunInfo | undefined>;
  getRun(runId: string): Promise<RunInfo | undefined>;
  /** The final outcome of a record in a run, if one was committed. */
  getResult(runId: string, key: string): Promise<RecordResult | undefined>;
  /** Counts of the outcomes committed so far in a run. */
  countResults(runId: string): Promise<Counts>;
  /** Queues a record's final outcome; committed by the next `flush` (or sooner). */
  writeResult(runId: string, result: RecordResult): Promise<void>;
  /** Queues a history event; committed with the next batch. */
  appendEvent(event: LedgerEvent): Promise<void>;
  /** Commits everything queued. */
  flush(): Promise<void>;

  /** `once` effects, keyed by (task, key, effect) across all runs. Written durably at once. */
  getEffect(task: string, key: string, effect: string): Promise<EffectRecord | undefined>;
  effectIntent(task: string, key: string, effect: string, runId: string, detail?: string): Promise<void>;
  effectDone(task: string, key: string, effect: string, runId: string, detail?: string): Promise<void>;
  /** Forgets an intent so the effect runs again (`idem resolve --retry`). */
  effectClear(task: string, key: string, effect: string): Promise<void>;
  /** Effects with an intent and no completion. */
  listInDoubt(task: string): Promise<EffectRecord[]>;
  /**
   * Stores the payload hash of an idempotency key; returns the hash stored
   * earlier if the key was already known.
   */
  claimIdempotencyKey(
    task: string,
    key: string,
    idempotencyKey: string,
    payloadHash: string,
  ): Promise<string>;
  close(): Promise<void>;
}
