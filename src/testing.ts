/**
 * `idem/testing`: run a task against in-memory twins of the ledger, the source
 * and the reporter, so a task's author can unit-test it the way idem tests its
 * own engine: no state folder, no lock, no CSV file.
 *
 * @example
 * import { runInMemory } from 'idem/testing';
 * import task from './greet.ts';
 * const { summary, reporter } = await runInMemory(task, [{ login: 'ada', name: 'Ada', team: 'eng' }]);
 * expect(summary.counts.changed).toBe(1);
 */
import { systemClock } from './core/clock.ts';
import { runTask } from './core/engine.ts';
import { Redactor } from './core/redact.ts';
import type { RunSummary } from './core/reporter.ts';
import type { EngineOptions } from './core/run-options.ts';
import type { RecordSource } from './core/source.ts';
import type { SetupContext, TaskDefinition } from './core/task.ts';
import { MemoryLedger } from './ledger/memory-ledger.ts';
import { MemoryReporter } from './report/memory-reporter.ts';
import { MemorySource } from './sources/memory-source.ts';

export { Redactor } from './core/redact.ts';
export { MemoryLedger } from './ledger/memory-ledger.ts';
export { MemoryReporter } from './report/memory-reporter.ts';
export { MemorySource } from './sources/memory-source.ts';

/**
 * Options of {@link runInMemory}.
 * @example await runInMemory(task, rows, { ledger, dryRun: true, env: { IDEM_PRUNE: 'disable' } })
 */
export interface InMemoryOptions<C> extends Partial<Omit<EngineOptions, 'host' | 'pid'>> {
  /** Reuse a ledger across runs (a rerun, a resume). @default a new one */
  ledger?: MemoryLedger;
  /** What `setup.env` holds. @default {} */
  env?: Record<string, string | undefined>;
  /** `setup.taskDir`: where relative paths of the task point. @default process.cwd() */
  taskDir?: string;
  /** Replaces the task's `connect` (a fake client, say). */
  connect?: (setup: SetupContext) => Promise<C> | C;
  /** Holds the declared secrets; pass your own to declare one up front. */
  redactor?: Redactor;
  /** Reads the records from this source instead of a `MemorySource` of `rows` (a source that counts what it hands out, say). */
  source?: RecordSource;
}

/** A SetupContext for tests: the given env, secrets kept in the redactor, cleanups run by `close`. */
export function testSetup(
  opts: { env?: Record<string, string | undefined>; taskDir?: string; redactor?: Redactor } = {},
): SetupContext & { close(): Promise<void> } {
  const redactor = opts.redactor ?? new Redactor();
  // A copy: a secret read leaves this run's env, not the caller's object (reused for the next run).
  const env = { ...(opts.env ?? {}) };
  const cleanups: (() => unknown)[] = [];
  const read = new Map<string, string>();
  const taskDir = opts.taskDir ?? process.cwd();
  return {
    taskDir,
    stateDir: `${taskDir}/.idem`,
    env,
    concurrency: 4,
    secret: (v) => redactor.add(v),
    // As the real setup does: the secret leaves the env once read; reading it again still returns it.
    readSecret: ({ env: name }) => {
      const value = env[name] ?? read.get(name);
      if (value === undefined) throw new Error(`testSetup: no ${name} in the test's env`);
      read.set(name, value);
      delete env[name];
      return redactor.add(value);
    },
    onClose: (fn) => {
      cleanups.push(fn);
    },
    warn: () => {},
    close: async () => {
      while (cleanups.length > 0) await cleanups.pop()?.();
    },
  };
}

/**
 * Runs a task over rows given as objects (each row gets the line it would have
 * under a header: 2, 3, ...), against an in-memory ledger and reporter. Retries
 * wait 1-2 ms instead of seconds. Returns the summary, the ledger (pass it to
 * the next run to test a rerun or a resume) and everything reported.
 */
export async function runInMemory<R, C>(
  task: TaskDefinition<R, C, any>,
  rows: Record<string, string>[],
  options: InMemoryOptions<C> = {},
): Promise<{ summary: RunSummary; ledger: MemoryLedger; reporter: MemoryReporter }> {
  const {
    ledger = new MemoryLedger(),
    env,
    taskDir,
    connect,
    redactor = new Redactor(),
    source = new MemorySource(rows),
    ...engine
  } = options;
  const reporter = new MemoryReporter();
  const setup = testSetup({ redactor, ...(env ? { env } : {}), ...(taskDir ? { taskDir } : {}) });
  try {
    const summary = await runTask(
      {
        task: connect ? { ...task, connect } : task,
        source,
        ledger,
        reporter,
        clock: systemClock,
        setup,
        redactor,
      },
      {
        host: 'test',
        pid: process.pid,
        ...engine,
        retry: { minDelayMs: 1, maxDelayMs: 2, jitter: false, ...engine.retry },
      },
    );
    return { summary, ledger, reporter };
  } finally {
    await setup.close();
  }
}
