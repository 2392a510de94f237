import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import { parseDeleteLimit } from '../core/guard.ts';
import type { DeleteLimit } from '../core/task.ts';
import { describeHolder } from '../lock/lock.ts';
import { chooseReporter } from '../report/choose-reporter.ts';
import type { Verbosity } from '../report/human-reporter.ts';
import { teeReporter } from '../report/tee-reporter.ts';
import { run } from '../runner/run.ts';
import { stateDirFor } from '../runner/state.ts';
import { parseDuration } from './duration.ts';
import { exitCodeFor, exitCodeForError } from './exit-codes.ts';
import { parsed, positiveInt } from './flags.ts';
import { loadTask } from './load-task.ts';
import type { CliOverrides } from './main.ts';
import { stderr, stdout } from './output.ts';
import { RunOutputs } from './run-outputs.ts';
import { RunSignals } from './signals.ts';

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
  verbosity: Verbosity;
}

function settingsOf(flags: RunFlags): RunSettings {
  if (flags.verbose && flags.quiet) throw new UsageError('-v and -q cannot be used together');
  return {
    concurrency: positiveInt(flags.concurrency, '--concurrency'),
    breaker: positiveInt(flags.breaker, '--breaker'),
    waitMs: parsed(flags.wait, '--wait', parseDuration) ?? 0,
    graceMs: parsed(flags.grace, '--grace', parseDuration) ?? 10_000,
    maxDeletes: parsed(flags.maxDeletes, '--max-deletes', parseDeleteLimit),
    verbosity: flags.verbose ? 'verbose' : flags.quiet ? 'quiet' : 'normal',
  };
}

/**
 * `idem run <task-file>`: load the task, then `run()` it with the flags, raced
 * against a second signal. A standard output whose reader goes away stops the
 * run as a first signal does (exit 141). The metrics and log files hear of
 * every ending, also one without a summary (the lock held, a usage error).
 */
export async function runCommand(
  taskFile: string,
  flags: RunFlags,
  overrides: CliOverrides = {},
): Promise<number> {
  const env = process.env;
  const { task, path } = await loadTask(taskFile);
  const s = settingsOf(flags);
  const concurrency = s.concurrency ?? task.concurrency ?? 4;
  const stateDir = stateDirFor(path, flags.stateDir, env);
  const shown = chooseReporter({
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
  try {
    const summary = await Promise.race([
      signals.exitNow,
      run(
        task,
        {
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
        },
        {
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
        },
      ),
    ]);
    await outputs.finished(summary);
    return exitCodeFor(summary, {
      detailedExitcode: Boolean(flags.detailedExitcode),
      signal: signals.received,
    });
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
4 aborted (guard, circuit breaker, target or ledger unusable), 5 changes (only with --detailed-exitcode),
75 lock held, 130/143 interrupted by SIGINT/SIGTERM, 141 standard output closed (e.g. | head): stopped as on SIGINT.`,
    )
    .action((taskFile: string, flags: RunFlags) => action(runCommand(taskFile, flags, overrides)));
}
