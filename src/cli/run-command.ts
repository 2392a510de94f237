import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { systemClock } from '../core/clock.ts';
import { ConnectError, type EffectHooks, runTask } from '../core/engine.ts';
import { errorMessage, UsageError } from '../core/errors.ts';
import { parseDeleteLimit } from '../core/guard.ts';
import { Redactor } from '../core/redact.ts';
import type { Reporter } from '../core/reporter.ts';
import { SqliteLedger } from '../ledger/sqlite-ledger.ts';
import { describeHolder, type LockHolder } from '../lock/lock.ts';
import { SqliteLock } from '../lock/sqlite-lock.ts';
import { HumanReporter, type Verbosity } from '../report/human-reporter.ts';
import { JsonReporter } from '../report/json-reporter.ts';
import { Progress } from '../report/progress.ts';
import { styleFor } from '../report/style.ts';
import { parseDuration } from './duration.ts';
import { EXIT, ExitError, exitCodeFor } from './exit-codes.ts';
import { loadTask } from './load-task.ts';
import { createSetupContext } from './setup-context.ts';
import { ledgerPath, lockDir, stateDirFor } from './state.ts';

export interface RunOptions {
  input?: string;
  dryRun?: boolean;
  resume?: boolean;
  concurrency?: string;
  stateDir?: string;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  detailedExitcode?: boolean;
  wait?: string;
  maxDeletes?: string;
  breaker?: string;
  grace?: string;
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} takes a whole number of 1 or more, not "${value}"`);
  return n;
}

function option<T>(parse: () => T, flag: string): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError(`${flag}: ${errorMessage(err)}`);
  }
}

/** Test-only crash points: IDEM_TEST_CRASH=before-intent:<effect> | after-effect:<effect>. */
function crashHooks(env: NodeJS.ProcessEnv): EffectHooks | undefined {
  const spec = env.IDEM_TEST_CRASH;
  if (!spec) return undefined;
  const [point, effect] = spec.split(':');
  const die = (name: string) => {
    if (name === effect) process.kill(process.pid, 'SIGKILL');
  };
  return point === 'before-intent'
    ? { beforeIntent: die }
    : point === 'after-effect'
      ? { beforeDone: die }
      : undefined;
}

/** `idem run <task-file>`: lock → ledger → engine → unlock, in that order, with cleanup in `finally`. */
export async function runCommand(taskFile: string, opts: RunOptions): Promise<number> {
  const env = process.env;
  const { task, path } = await loadTask(taskFile);
  const taskDir = dirname(path);
  const stateDir = stateDirFor(path, opts.stateDir, env);
  const inputPath = opts.input ? resolve(opts.input) : resolve(taskDir, task.source.path);
  if (!existsSync(inputPath)) {
    throw new UsageError(
      `input ${inputPath} does not exist${opts.input ? '' : ` (the source path of task ${task.name})`}`,
    );
  }
  const concurrency = positiveInt(opts.concurrency, '--concurrency') ?? task.concurrency ?? 4;
  const breaker = positiveInt(opts.breaker, '--breaker');
  const waitMs = opts.wait ? option(() => parseDuration(opts.wait as string), '--wait') : 0;
  const graceMs = opts.grace ? option(() => parseDuration(opts.grace as string), '--grace') : 10_000;
  const maxDeletes = opts.maxDeletes
    ? option(() => parseDeleteLimit(opts.maxDeletes as string), '--max-deletes')
    : undefined;
  if (opts.verbose && opts.quiet) throw new UsageError('-v and -q cannot be used together');

  const verbosity: Verbosity = opts.verbose ? 'verbose' : opts.quiet ? 'quiet' : 'normal';
  const humanOut = opts.json ? process.stderr : process.stdout;
  // A live line only on a real terminal of known width (ora divides by it), never in CI or cron.
  const progress =
    process.stderr.isTTY && (process.stderr.columns ?? 0) > 0 && !opts.quiet && !env.CI
      ? new Progress(process.stderr)
      : undefined;
  const human = new HumanReporter({
    out: humanOut,
    err: process.stderr,
    style: styleFor(humanOut, env),
    verbosity,
    records: !opts.json,
    ...(progress ? { progress } : {}),
  });
  const redactor = new Redactor();
  const base: Reporter = opts.json ? new JsonReporter(process.stdout, human) : human;

  const lock = new SqliteLock(lockDir(stateDir));
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    runId: 'starting',
    task: task.name,
    since: Date.now(),
  };
  const got = await lock.acquire(holder, {
    waitMs,
    onWait: (h) => human.warn(`${describeHolder(task.name, h)}; waiting up to ${opts.wait}`),
  });
  if (!got.acquired) {
    throw new ExitError(
      EXIT.locked,
      `idem: ${describeHolder(task.name, got.holder)}; try again later or wait with --wait 10m`,
    );
  }
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

  const stop = new AbortController();
  const kill = new AbortController();
  let signal: 'SIGINT' | 'SIGTERM' | undefined;
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
    if (signal) {
      process.stderr.write(`idem: second ${sig}: exiting now; the run can be resumed with --resume\n`);
      process.exit(sig === 'SIGTERM' ? EXIT.sigterm : EXIT.sigint);
    }
    signal = sig;
    human.warn(
      `${sig}: no new records; letting in-flight records finish (up to ${Math.round(graceMs / 1000)}s); press Ctrl-C again to exit now`,
    );
    stop.abort();
    setTimeout(() => kill.abort(), graceMs).unref();
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);

  let ledger: SqliteLedger | undefined;
  const { setup, close } = createSetupContext({
    taskDir,
    stateDir,
    concurrency,
    env,
    redactor,
    warn: (m) => reporter.warn(m),
  });
  try {
    ledger = new SqliteLedger(ledgerPath(stateDir));
    const hooks = crashHooks(env);
    const summary = await runTask(
      { task, source: task.source.open(inputPath), ledger, reporter, clock: systemClock, setup, redactor },
      {
        dryRun: opts.dryRun ?? false,
        resume: opts.resume ?? false,
        concurrency,
        host: hostname(),
        pid: process.pid,
        stopSignal: stop.signal,
        killSignal: kill.signal,
        options: {
          dryRun: Boolean(opts.dryRun),
          resume: Boolean(opts.resume),
          concurrency,
          input: inputPath,
          ...(maxDeletes ? { maxDeletes } : {}),
        },
        ...(maxDeletes ? { maxDeletes } : {}),
        ...(breaker ? { breaker } : {}),
        ...(hooks ? { hooks } : {}),
      },
    );
    return exitCodeFor(summary, { detailedExitcode: Boolean(opts.detailedExitcode), signal });
  } catch (err) {
    if (err instanceof ConnectError) {
      throw new ExitError(err.transient ? EXIT.aborted : EXIT.usage, `idem: ${err.message}`);
    }
    throw err;
  } finally {
    progress?.stop();
    for (const problem of await close()) human.warn(`cleanup: ${redactor.redact(problem)}`);
    await ledger?.close();
    await got.handle.release();
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  }
}

export function registerRun(program: Command, action: (code: Promise<number>) => void): void {
  program
    .command('run')
    .description(
      'reconcile every record of a task: check, apply what differs, verify, record it in the ledger',
    )
    .argument('<task-file>', 'the task module (TypeScript or JavaScript), e.g. tasks/provision-users.ts')
    .option('--input <file>', "read records from this file instead of the task's source path")
    .option('--dry-run', 'run only the checks and print the plan; writes nothing to any target')
    .option('--resume', 'continue the last unfinished run of the task (starts a new run if there is none)')
    .option('--concurrency <n>', 'records processed at once (default: the task’s, else 4)')
    .option(
      '--state-dir <dir>',
      'ledger and lock folder (default: $IDEM_STATE_DIR, else .idem/ next to the task file)',
    )
    .option('--json', 'NDJSON records and a summary on stdout; human messages on stderr')
    .option('-v, --verbose', 'also print records that needed no change')
    .option('-q, --quiet', 'print only problems and the counts')
    .option(
      '--detailed-exitcode',
      'exit 5 instead of 0 when changes were made (or, with --dry-run, are pending)',
    )
    .option('--wait <duration>', 'wait this long for the lock instead of exiting 75 (e.g. 30s, 10m)')
    .option(
      '--max-deletes <limit>',
      'deletion guard override: a count (50), a percentage (10%) or both (50,10%)',
    )
    .option('--breaker <k>', 'stop after k consecutive records fail with the same error (default 5)')
    .option('--grace <duration>', 'on SIGINT/SIGTERM, how long in-flight records may finish (default 10s)')
    .addHelpText(
      'after',
      `
Examples:
  $ idem run tasks/onboard-accounts.ts                  # reconcile every record
  $ idem run tasks/onboard-accounts.ts --dry-run        # preview: the plan, nothing written
  $ idem run tasks/provision-users.ts --resume -q       # cron: continue a crashed run, else start one
  $ idem run tasks/provision-users.ts --input /srv/hr/export.csv --json > run.ndjson
  $ idem run tasks/provision-users.ts --dry-run --detailed-exitcode || [ $? -eq 5 ] && echo "changes pending"

Exit codes: 0 ok, 1 internal error, 2 usage/config/input error, 3 some records failed/invalid/in-doubt,
4 aborted (guard or circuit breaker), 5 changes (only with --detailed-exitcode), 75 lock held,
130/143 interrupted by SIGINT/SIGTERM.`,
    )
    .action((taskFile: string, opts: RunOptions) => action(runCommand(taskFile, opts)));
}
