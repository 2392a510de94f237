import { existsSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { systemClock } from '../core/clock.ts';
import { runTask } from '../core/engine.ts';
import { UsageError } from '../core/errors.ts';
import type { ChangeBudget } from '../core/gate.ts';
import type { Ledger } from '../core/ledger.ts';
import { Redactor } from '../core/redact.ts';
import type { Reporter, RunSummary } from '../core/reporter.ts';
import type { SavedPlan } from '../core/run-options.ts';
import type { DeleteLimit, RetryPolicy, TaskDefinition } from '../core/task.ts';
import { SqliteLedger } from '../ledger/sqlite-ledger.ts';
import { LockHeldError, type LockHolder } from '../lock/lock.ts';
import { SqliteLock } from '../lock/sqlite-lock.ts';
import { createSetupContext } from './setup-context.ts';
import { ledgerPath, lockDir, prepareStateDir } from './state.ts';
import { IDEM_VERSION } from './version.ts';

/**
 * Options of {@link run}: what `idem run` takes as flags.
 * @example
 * await run(task, { stateDir: '/var/lib/idem', input: '/srv/hr/export.csv', dryRun: true });
 */
export interface RunOptions {
  /** Relative paths in the task (its source) are relative to this. @default process.cwd() */
  taskDir?: string;
  /** Read records from this file instead of the task's source path. */
  input?: string;
  /** The ledger and lock folder. @default `.idem/` in `taskDir` */
  stateDir?: string;
  /** Only run the checks; write nothing to any target. */
  dryRun?: boolean;
  /** Continue the last unfinished run; one whose input changed is superseded by a new run. */
  resume?: boolean;
  /** Continue the last unfinished run, refusing (a `usage` error) when its input changed. */
  strictResume?: boolean;
  /** Records processed at once. @default the task's, else 4 */
  concurrency?: number;
  /** The deletion guard, overriding the task's. */
  maxDeletes?: DeleteLimit;
  /** Consecutive identical failures that stop the run. */
  breaker?: number;
  /** Change budgets overriding the task's. */
  budget?: ChangeBudget;
  /** Plan every record, gate the plan, then apply it, even for a task with `budget: false`. */
  planFirst?: boolean;
  /** Let exactly the refused plan with this hash through once (see the refusal's message). */
  accept?: string;
  /** Who accepts it, kept in the ledger. @default user@host */
  acceptedBy?: string;
  /**
   * Adopt an existing population: `once` effects the ledger has no record of, for
   * records the target already holds, are recorded as done instead of held in doubt.
   */
  adoptEffects?: boolean;
  /** sha256 of the task's source, so that `resume` will not continue a run started with another. */
  taskDigest?: string;
  /** Retry bounds, overriding the task's. */
  retry?: Partial<RetryPolicy>;
  /** Wait this long for the lock, in ms. @default 0: throw a `locked` error at once */
  waitForLockMs?: number;
  /** Where the run is told. @default silent */
  reporter?: Reporter;
  /** The environment `connect` sees. @default process.env */
  env?: Record<string, string | undefined>;
  /** Stop taking new records when aborted; in-flight ones finish. */
  stopSignal?: AbortSignal;
  /** Abort in-flight work too. */
  killSignal?: AbortSignal;
}

/** Wiring only the CLI and its tests change. */
export interface RunInternals {
  /** What the run was started with, kept in the ledger. */
  recorded?: Record<string, unknown>;
  onLockWait?: (holder: LockHolder | undefined) => void;
  /** The lock was taken, after waiting this long for it (ms). */
  onLocked?: (waitedMs: number) => void;
  wrapLedger?: (ledger: Ledger) => Ledger;
  /** Cleanup problems (a connection that would not close), redacted. */
  onCleanupProblem?: (message: string) => void;
  /** Plan and gate only (`idem plan`). */
  planOnly?: boolean;
  /** Apply exactly this saved plan (`idem apply`). */
  applyPlan?: SavedPlan;
  /** Called with the ledger once the run ended, before it is closed (`idem plan` exports the plan). */
  afterRun?: (ledger: Ledger, summary: RunSummary) => Promise<void>;
}

/** `user@host`, for the ledger's record of who accepted a plan. */
export function whoAmI(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}@${hostname()}`;
  }
}

const silent: Reporter = { runStarted() {}, recordFinished() {}, retrying() {}, warn() {}, runFinished() {} };

/**
 * Runs a task from another program, as `idem run` does: takes the task's lock,
 * opens the SQLite ledger, reconciles every record, runs the connectors'
 * cleanups and releases the lock. Record failures are in the summary, not
 * thrown; it throws an `IdemError` for what stops a run before its records
 * (kind `usage`, `unavailable`, `ledger`, `locked`).
 *
 * @example
 * import { run } from 'idem';
 * import task from './tasks/provision-users.ts';
 * const summary = await run(task, { stateDir: '/var/lib/idem' });
 * if (summary.status !== 'succeeded') console.error(summary.message);
 */
export async function run<R, C>(
  task: TaskDefinition<R, C, any>,
  options: RunOptions = {},
  internals: RunInternals = {},
): Promise<RunSummary> {
  const taskDir = resolve(options.taskDir ?? process.cwd());
  const stateDir = resolve(options.stateDir ?? resolve(taskDir, '.idem'));
  const inputPath = options.input ? resolve(options.input) : resolve(taskDir, task.source.path);
  if (!existsSync(inputPath)) {
    throw new UsageError(
      `input ${inputPath} does not exist${options.input ? '' : ` (the source path of task ${task.name})`}`,
    );
  }
  const concurrency = options.concurrency ?? task.concurrency ?? 4;
  const base = options.reporter ?? silent;
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    runId: 'starting',
    task: task.name,
    since: Date.now(),
  };
  prepareStateDir(stateDir, task.name);
  // The lock maps its own file faults to one line (sqliteFault), as the ledger does.
  const got = await new SqliteLock(lockDir(stateDir)).acquire(holder, {
    waitMs: options.waitForLockMs ?? 0,
    onNote: (m) => base.warn(m),
    ...(internals.onLockWait ? { onWait: internals.onLockWait } : {}),
  });
  if (!got.acquired) throw new LockHeldError(task.name, got.holder);
  internals.onLocked?.(Date.now() - holder.since);
  // The lock's holder file learns the run id when the run starts.
  const reporter: Reporter = {
    runStarted: (info) => {
      got.handle.update({ ...holder, runId: info.runId });
      base.runStarted(info);
    },
    recordFinished: (r) => base.recordFinished(r),
    retrying: (i) => base.retrying(i),
    warn: (m) => base.warn(m),
    runFinished: (s) => base.runFinished(s),
  };
  const redactor = new Redactor();
  const env = options.env ?? process.env;
  const { setup, close } = createSetupContext({
    taskDir,
    stateDir,
    concurrency,
    env,
    redactor,
    warn: (m) => reporter.warn(m),
  });
  let ledger: SqliteLedger | undefined;
  try {
    ledger = new SqliteLedger(ledgerPath(stateDir));
    const wrapped = internals.wrapLedger ? internals.wrapLedger(ledger) : ledger;
    const source = task.source.open(inputPath);
    const summary = await runTask(
      { task, source, ledger: wrapped, reporter, clock: systemClock, setup, redactor },
      {
        host: holder.host,
        pid: holder.pid,
        concurrency,
        dryRun: options.dryRun ?? false,
        resume: options.resume ?? false,
        strictResume: options.strictResume ?? false,
        options: internals.recorded ?? { input: inputPath, concurrency },
        ...(options.maxDeletes ? { maxDeletes: options.maxDeletes } : {}),
        ...(options.breaker ? { breaker: options.breaker } : {}),
        ...(options.budget ? { budget: options.budget } : {}),
        ...(options.planFirst ? { planFirst: true } : {}),
        ...(options.accept ? { accept: options.accept, acceptedBy: options.acceptedBy ?? whoAmI() } : {}),
        ...(options.taskDigest ? { taskDigest: options.taskDigest } : {}),
        ...(options.adoptEffects ? { adoptEffects: whoAmI() } : {}),
        idemVersion: IDEM_VERSION,
        ...(options.retry ? { retry: options.retry } : {}),
        ...(options.stopSignal ? { stopSignal: options.stopSignal } : {}),
        ...(options.killSignal ? { killSignal: options.killSignal } : {}),
        ...(internals.planOnly ? { planOnly: true } : {}),
        ...(internals.applyPlan ? { applyPlan: internals.applyPlan } : {}),
      },
    );
    await internals.afterRun?.(wrapped, summary);
    return summary;
  } finally {
    for (const problem of await close()) internals.onCleanupProblem?.(redactor.redact(problem));
    await ledger?.close();
    await got.handle.release();
  }
}
