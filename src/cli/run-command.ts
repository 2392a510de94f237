import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import type { ChangeBudget } from '../core/gate.ts';
import { parseDeleteLimit } from '../core/guard.ts';
import type { RunSummary } from '../core/reporter.ts';
import type { DeleteLimit } from '../core/task.ts';
import { describeHolder } from '../lock/lock.ts';
import { chooseReporter } from '../report/choose-reporter.ts';
import type { Verbosity } from '../report/human-reporter.ts';
import { teeReporter } from '../report/tee-reporter.ts';
import { type RunInternals, type RunOptions, run } from '../runner/run.ts';
import { stateDirFor } from '../runner/state.ts';
import { parseDuration } from './duration.ts';
import { exitCodeFor, exitCodeForError } from './exit-codes.ts';
import { fileDigest } from './file-digest.ts';
import { parsed, positiveInt } from './flags.ts';
import { loadTask } from './load-task.ts';
import type { CliOverrides } from './main.ts';
import { stderr, stdout } from './output.ts';
import { RunOutputs } from './run-outputs.ts';
import { RunSignals, type StopSignal } from './signals.ts';

/** The flags of `idem run`, as commander gives them. */
export interface RunFlags {
  input?: string;
  dryRun?: boolean;
  resume?: boolean;
  strictResume?: boolean;
  concurrency?: string;
  stateDir?: string;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  detailedExitcode?: boolean;
  wait?: string;
  maxDeletes?: string;
  maxCreates?: string;
  maxModifications?: string;
  planFirst?: boolean;
  accept?: string;
  adoptEffects?: boolean;
  breaker?: string;
  grace?: string;
  metricsFile?: string;
  logFile?: string;
}

/** The flags, checked and parsed. */
interface RunSettings {
  concurrency: number | undefined;
  breaker: number | undefined;
  waitMs: number;
  graceMs: number;
  maxDeletes: DeleteLimit | undefined;
  budget: ChangeBudget | undefined;
  verbosity: Verbosity;
}

/** `--max-creates` and `--max-modifications`, as a budget over the task's. */
function budgetFlags(flags: RunFlags): ChangeBudget | undefined {
  const creates = parsed(flags.maxCreates, '--max-creates', parseDeleteLimit);
  const modifications = parsed(flags.maxModifications, '--max-modifications', parseDeleteLimit);
  if (!creates && !modifications) return undefined;
  return { ...(creates ? { creates } : {}), ...(modifications ? { modifications } : {}) };
}

function settingsOf(flags: RunFlags): RunSettings {
  if (flags.verbose && flags.quiet) throw new UsageError('-v and -q cannot be used together');
  return {
    concurrency: positiveInt(flags.concurrency, '--concurrency'),
    breaker: positiveInt(flags.breaker, '--breaker'),
    waitMs: parsed(flags.wait, '--wait', parseDuration) ?? 0,
    graceMs: parsed(flags.grace, '--grace', parseDuration) ?? 10_000,
    maxDeletes: parsed(flags.maxDeletes, '--max-deletes', parseDeleteLimit),
    budget: budgetFlags(flags),
    verbosity: flags.verbose ? 'verbose' : flags.quiet ? 'quiet' : 'normal',
  };
}

/** What a command that runs a task adds to `run()`'s wiring (`idem plan`, `idem apply`). */
export type RunExtras = Pick<RunInternals, 'planOnly' | 'applyPlan' | 'afterRun'>;

/**
 * Loads a task and `run()`s it with the flags, raced against a second signal:
 * the summary, and the signal that stopped it if any. A standard output whose
 * reader goes away stops the run as a first signal does (exit 141). The metrics
 * and log files hear of every ending, also one without a summary (the lock
 * held, a usage error).
 */
export async function executeRun(
  taskFile: string,
  flags: RunFlags,
  overrides: CliOverrides = {},
  extras: RunExtras = {},
): Promise<{ summary: RunSummary; signal: StopSignal | undefined }> {
  const env = process.env;
  const { task, path } = await loadTask(taskFile);
  const s = settingsOf(flags);
  const concurrency = s.concurrency ?? task.concurrency ?? 4;
  const stateDir = stateDirFor(path, flags.stateDir, env);
  const shown = await chooseReporter({
    json: Boolean(flags.json),
    verbosity: s.verbosity,
    stdout,
    stderr,
    terminal: process.stderr,
    env,
    taskDir: dirname(path),
  });
  const warn = (m: string) => shown.human.warn(m);
  const outputs = new RunOutputs({
    task: task.name,
    stateDir,
    dryRun: Boolean(flags.dryRun),
    metricsFile: flags.metricsFile && resolve(flags.metricsFile),
    logFile: flags.logFile && resolve(flags.logFile),
    warn,
  });
  const signals = new RunSignals(s.graceMs, warn);
  const stopOnClose = stdout.onClosed(() => signals.outputClosed());
  const input = flags.input ? resolve(flags.input) : resolve(dirname(path), task.source.path);
  const options: RunOptions = {
    taskDir: dirname(path),
    stateDir,
    input,
    dryRun: Boolean(flags.dryRun),
    resume: Boolean(flags.resume),
    strictResume: Boolean(flags.strictResume),
    concurrency,
    waitForLockMs: s.waitMs,
    reporter: teeReporter(shown.reporter, outputs.reporter),
    env,
    stopSignal: signals.stop.signal,
    killSignal: signals.kill.signal,
    ...(s.maxDeletes ? { maxDeletes: s.maxDeletes } : {}),
    ...(s.breaker ? { breaker: s.breaker } : {}),
    ...(s.budget ? { budget: s.budget } : {}),
    ...(flags.planFirst ? { planFirst: true } : {}),
    ...(flags.accept ? { accept: flags.accept } : {}),
    ...(flags.adoptEffects ? { adoptEffects: true } : {}),
    taskDigest: await fileDigest(path),
  };
  const internals: RunInternals = {
    recorded: {
      dryRun: Boolean(flags.dryRun),
      resume: Boolean(flags.resume),
      concurrency,
      input,
      taskFile: path,
      ...(s.maxDeletes ? { maxDeletes: s.maxDeletes } : {}),
    },
    onLockWait: (h) => warn(`${describeHolder(task.name, h)}; waiting up to ${flags.wait}`),
    onLocked: (ms) => {
      outputs.lockWaitMs = ms;
    },
    onCleanupProblem: (m) => warn(`cleanup: ${m}`),
    ...(overrides.wrapLedger ? { wrapLedger: overrides.wrapLedger } : {}),
    ...extras,
  };
  try {
    const summary = await Promise.race([signals.exitNow, run(task, options, internals)]);
    await outputs.finished(summary);
    return { summary, signal: signals.received };
  } catch (err) {
    await outputs.failed(err, exitCodeForError(err));
    throw err;
  } finally {
    shown.progress?.stop();
    stopOnClose();
    signals.dispose();
    outputs.close();
  }
}

/** `idem run <task-file>`: the run, then its exit code. */
export async function runCommand(
  taskFile: string,
  flags: RunFlags,
  overrides: CliOverrides = {},
): Promise<number> {
  const { summary, signal } = await executeRun(taskFile, flags, overrides);
  return exitCodeFor(summary, { detailedExitcode: Boolean(flags.detailedExitcode), signal });
}

export function registerRun(
  program: Command,
  action: (code: Promise<number>) => void,
  overrides: CliOverrides = {},
): void {
  program
    .command('run')
    .description(
      'reconcile every record of a task: check, apply what differs, verify, record it in the ledger',
    )
    .argument('<task-file>', 'the task module (TypeScript or JavaScript), e.g. tasks/provision-users.ts')
    .option('--input <file>', "read records from this file instead of the task's source path")
    .option('--dry-run', 'run only the checks and print the plan; writes nothing to any target')
    .option(
      '--resume',
      'continue the last unfinished run of the task; a new run if there is none, or if its input changed (it is then superseded)',
    )
    .option(
      '--strict-resume',
      'like --resume, but refuse (exit 2) when the input changed since that run started',
    )
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
    .option(
      '--plan-first',
      'plan every record, gate the plan, then apply it (the default for a task with budgets)',
    )
    .option(
      '--max-creates <limit>',
      'change budget override: creates, as a count (50), a percentage (10%) or both',
    )
    .option(
      '--max-modifications <limit>',
      'change budget override: modifications, as a count, a percentage or both',
    )
    .option(
      '--accept <plan-hash>',
      'let exactly the refused plan with this hash through once (the refusal prints it)',
    )
    .option(
      '--adopt-effects',
      'adopt an existing population: once effects the ledger has no record of, for records the target already holds, are recorded as done, not held',
    )
    .option('--breaker <k>', 'stop after k consecutive records fail with the same error (default 5)')
    .option('--grace <duration>', 'on SIGINT/SIGTERM, how long in-flight records may finish (default 10s)')
    .option(
      '--metrics-file <path>',
      'write Prometheus metrics here at the end of every run (atomically; for node_exporter textfile)',
    )
    .option('--log-file <path>', 'append NDJSON events here (for log shippers)')
    .addHelpText(
      'after',
      `
Examples:
  $ idem run tasks/onboard-accounts.ts                  # reconcile every record
  $ idem run tasks/onboard-accounts.ts --dry-run        # preview: the plan, nothing written
  $ idem run tasks/provision-users.ts --resume -q       # cron: continue a crashed run, else start one
  $ idem run tasks/provision-users.ts --input /srv/hr/export.csv --json > run.ndjson
  $ idem run tasks/provision-users.ts --dry-run --detailed-exitcode; [ $? -eq 5 ] && echo "changes pending"
  $ idem run tasks/provision-users.ts --resume -q --metrics-file /var/lib/node_exporter/textfile/idem-provision.prom

Exit codes: 0 ok, 1 internal error, 2 usage/config/input error, 3 some records failed/invalid/in-doubt,
4 stopped: resume later (circuit breaker, target or ledger unusable), 5 changes (only with --detailed-exitcode),
6 refused by a guard before any change (a budget, the deletion guard): a person must look,
75 lock held, 130/143 interrupted by SIGINT/SIGTERM, 141 standard output closed (e.g. | head): stopped as on SIGINT.`,
    )
    .action((taskFile: string, flags: RunFlags) => action(runCommand(taskFile, flags, overrides)));
}
