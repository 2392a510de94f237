import { systemClock } from '../../src/core/clock.ts';
import { type EngineOptions, runTask } from '../../src/core/engine.ts';
import { Redactor } from '../../src/core/redact.ts';
import type { SetupContext, TaskDefinition } from '../../src/core/task.ts';
import { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import { MemoryReporter } from '../../src/report/memory-reporter.ts';
import { MemorySource } from '../../src/sources/memory-source.ts';

/** A SetupContext for unit tests: no env, secrets kept in the given redactor. */
export function testSetup(redactor = new Redactor()): SetupContext {
  return {
    taskDir: '/nonexistent',
    stateDir: '/nonexistent',
    env: {},
    concurrency: 4,
    secret: (v) => redactor.add(v),
    readSecret: () => {
      throw new Error('no secrets in unit tests');
    },
    onClose: () => {},
    warn: () => {},
  };
}

/** Runs a task against the in-memory twins; returns the summary and what was reported. */
export async function runInMemory<R, C>(
  task: TaskDefinition<R, C>,
  rows: Record<string, string>[],
  opts: Partial<EngineOptions> & { ledger?: MemoryLedger; redactor?: Redactor } = {},
) {
  const ledger = opts.ledger ?? new MemoryLedger();
  const reporter = new MemoryReporter();
  const redactor = opts.redactor ?? new Redactor();
  const summary = await runTask(
    {
      task,
      source: new MemorySource(rows),
      ledger,
      reporter,
      clock: systemClock,
      setup: testSetup(redactor),
      redactor,
    },
    { host: 'test', pid: 1, retry: { minDelayMs: 1, maxDelayMs: 2, jitter: false }, ...opts },
  );
  return { summary, ledger, reporter };
}
