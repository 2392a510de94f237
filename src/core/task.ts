import type { ConvergencePolicy } from './convergence.ts';
import type { Classifier } from './errors.ts';
import type { ChangeBudget } from './gate.ts';
import type { SourceSpec } from './source.ts';
import type { Step, StepEnv } from './step.ts';

/** Bounds for retrying transient errors. Every retry re-runs `check` first. */
export interface RetryPolicy {
  /** Attempts per step, the first included. @default 5 */
  attempts: number;
  /** First backoff delay in ms. @default 500 */
  minDelayMs: number;
  /** Largest backoff delay in ms. @default 10_000 */
  maxDelayMs: number;
  /** Backoff growth factor. @default 2 */
  factor: number;
  /** Randomize delays (full jitter between delay and 2×delay). @default true */
  jitter: boolean;
  /** Give up retrying a record after this much time in ms. @default 60_000 */
  maxRetryTimeMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5,
  minDelayMs: 500,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: true,
  maxRetryTimeMs: 60_000,
};

/** The deletion guard: the most deletions a run may make. */
export interface DeleteLimit {
  /** At most this many deletions. */
  count?: number;
  /** At most this percentage of the existing population (see `prune.existing`). */
  percent?: number;
}

/** The guard a prune phase gets when the task sets no `maxDeletes`: 10% of the population. */
export const DEFAULT_PRUNE_LIMIT: DeleteLimit = { percent: 10 };

/** What `connect` receives to set up the task's connections. */
export interface SetupContext {
  /** The folder of the task file. Relative paths in a task are relative to it. */
  taskDir: string;
  /** The state folder (ledger, lock). */
  stateDir: string;
  /** The environment (process.env). */
  env: Readonly<Record<string, string | undefined>>;
  /** Parallel records in this run: size connection pools to it. */
  concurrency: number;
  /** Declares a value secret: it is replaced by `<secret>` in all output and in the ledger. */
  secret(value: string): string;
  /**
   * Reads a secret from an env var, or from a file named by another env var,
   * and declares it secret. Throws a usage error naming both when neither is set.
   * A secret read from an env var is then deleted from `process.env` (and from
   * `setup.env`), so that no child process inherits it; reading it again in the
   * same process still returns it. The kernel keeps the environment the process
   * started with (`/proc/PID/environ`, readable by its user and root): prefer
   * the file variable for a long-running or shared host.
   * @example const pw = setup.readSecret({ env: 'IDEM_LDAP_PASSWORD', fileEnv: 'IDEM_LDAP_PASSWORD_FILE' });
   */
  readSecret(from: { env: string; fileEnv?: string }): string;
  /** Registers a cleanup; cleanups run last-in-first-out when the run ends. */
  onClose(fn: () => unknown): void;
  /** Prints a warning for the operator (an insecure TLS option, say). */
  warn(message: string): void;
}

/** Records of the target that the input no longer lists: candidates for deletion. */
export interface PruneSpec<C> {
  /**
   * The keys of everything the task manages at the target now. Keys the input
   * does not hold are pruned; their count is also the base of `maxDeletes.percent`.
   */
  existing(ctx: C): AsyncIterable<string> | Iterable<string> | Promise<Iterable<string>>;
  /**
   * The steps for one key to prune (usually one destructive step). With a
   * `lifecycle`, these disable the entry, and the lifecycle's `delete` removes it
   * after the grace period.
   */
  steps(key: string, ctx: C): Step<PruneRecord, C>[];
  /**
   * Soft delete: leavers are disabled (`steps`) first and deleted only after a
   * grace period; one who comes back within it is re-enabled by the task's own
   * steps (which set the desired, enabled state), and `once` effects already done
   * for them (the welcome mail) are not sent again. Disables and deletes both
   * count toward the deletion guard.
   * @example lifecycle: { graceDays: 30, delete: (uid) => [ldap.ensureAbsent(find(uid), { mode: 'delete' })] }
   */
  lifecycle?: PruneLifecycle<C>;
}

/** The soft-delete lifecycle of a prune phase. */
export interface PruneLifecycle<C> {
  /** Delete a disabled entry once it has been disabled this many days… */
  graceDays?: number;
  /** …or during this many runs, the one that disabled it included (whichever comes first). */
  graceRuns?: number;
  /** The steps that delete a leaver after the grace period. */
  delete(key: string, ctx: C): Step<PruneRecord, C>[];
  /** `once` effects to run again when a leaver comes back within the grace period. @default none */
  resendOnRehire?: string[];
}

/** The record a prune step receives. */
export interface PruneRecord {
  key: string;
}

/**
 * A task: where records come from, how each is keyed and checked, and the steps
 * that reconcile it.
 *
 * @example
 * export default defineTask({
 *   name: 'greet',
 *   source: csv('../fixtures/people.csv'),
 *   key: 'id',
 *   steps: (r) => [fs.ensureFile(`greetings/${r.id}.txt`, `hello ${r.name}\n`)],
 * });
 */
export interface TaskDefinition<R = Record<string, string>, C = unknown, Raw = Record<string, string>> {
  /** Names the task in the ledger, the lock and `once` keys. Keep it stable. */
  name: string;
  description?: string;
  /** Where records come from, e.g. `csv('../fixtures/users.csv')`. */
  source: SourceSpec<Raw>;
  /** A column name, or a function of the parsed record, giving each record's unique key. */
  key: string | ((record: R) => string);
  /**
   * Turns a raw row into the record the steps get. Throw to reject the row:
   * it ends `invalid` with its line number and your message.
   */
  parse?: (raw: Raw) => R;
  /** Rejects a record: return a reason (or several) to make it `invalid`. */
  validate?: (record: R) => string | string[] | undefined | null;
  /** Leaves a record alone on purpose: return a reason to make it `skipped`. */
  skip?: (record: R) => string | false | undefined | null;
  /** Sets up connections once per run; what it returns is the `ctx` every step gets. */
  connect?: (setup: SetupContext) => Promise<C> | C;
  /** The steps for one record, in order. */
  steps: Step<R, C>[] | ((record: R, ctx: C) => Step<R, C>[]);
  /** Accept an input with no records. @default false */
  allowEmpty?: boolean;
  /** Retry bounds for transient errors. */
  retry?: Partial<RetryPolicy>;
  /** Stop the run when this many consecutive records fail with the same error. @default 5 */
  breaker?: number;
  /** Classifies errors before the connectors' and the default classifier. */
  classify?: Classifier;
  /**
   * The deletion guard; `--max-deletes` overrides it. A task with `prune` and no
   * limit gets {@link DEFAULT_PRUNE_LIMIT}.
   */
  maxDeletes?: DeleteLimit;
  /**
   * Removes (or disables) what the input no longer lists. Off unless defined.
   * A function of the run's setup may decide from the environment, and may
   * throw a `UsageError` for a bad setting (exit 2).
   * @example prune: (setup) => (setup.env.IDEM_PRUNE === 'delete' ? { existing, steps } : undefined)
   */
  prune?: PruneSpec<C> | ((setup: SetupContext) => PruneSpec<C> | undefined) | undefined;
  /** Default for `--concurrency`. @default 4 */
  concurrency?: number;
  /**
   * Change budgets: the whole night's plan is checked against them (and against
   * the last accepted run) before the first write, and refused past them (exit 6).
   * `false` switches them off and the run makes one pass. @default {@link DEFAULT_BUDGET}
   * @example budget: { modifications: { percent: 10 }, attributes: { mail: { percent: 5 } } }
   */
  budget?: ChangeBudget | false;
  /**
   * Flag records whose same step changes the same field on each of the last
   * `runs` runs (a value written every run, normalised by the target, fought
   * over by another writer). `false` switches it off. @default { runs: 3 }
   */
  convergence?: ConvergencePolicy | false;
}

/** Steps that need a context (`ctx.fs`, `ctx.ldap`...) need the `connect` that makes it. */
type ConnectFor<R, C> = undefined extends C ? unknown : Required<Pick<TaskDefinition<R, C>, 'connect'>>;

/**
 * Declares a task. An identity function that exists for type inference.
 *
 * @example
 * import { defineTask, csv, sql } from 'idem';
 * export default defineTask({ name: 'accounts', source: csv('accounts.csv'), key: 'id', steps: [] });
 */
export function defineTask<R = Record<string, string>, C = unknown, Raw = Record<string, string>>(
  task: TaskDefinition<R, C, Raw> & ConnectFor<R, C>,
): TaskDefinition<R, C, Raw> {
  return task;
}

export type { StepEnv };
