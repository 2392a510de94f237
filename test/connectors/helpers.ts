import { rmSync } from 'node:fs';
import type { Step } from '../../src/core/step.ts';
import { defineTask } from '../../src/core/task.ts';
import { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import type { InMemoryOptions } from '../../src/testing.ts';
import { runInMemory } from '../support/engine-harness.ts';
import { tempDir as makeTempDir } from '../support/temp.ts';

/** A fresh temp folder under the repository's .test-tmp/, removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = makeTempDir(`idem-${prefix}-`);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

type Row = Record<string, string>;

/**
 * Runs steps over rows through the real engine (in-memory ledger), the way a
 * task would: `run(rows)`, `run(rows, { dryRun: true })`. The ledger is kept
 * across runs, so `once` effects and idempotency keys persist as in real use.
 */
export function engineFor<C>(ctx: C, steps: (r: Row, ctx: C) => Step<Row, C>[], extra: object = {}) {
  const ledger = new MemoryLedger();
  const task = defineTask<Row, C>({
    name: 'connector-test',
    source: { kind: 'memory', path: '-', open: () => ({}) as never },
    key: 'id',
    connect: () => ctx,
    steps,
    ...extra,
  });
  return {
    ledger,
    run: (rows: Row[], opts: InMemoryOptions<C> = {}) => runInMemory(task, rows, { ledger, ...opts }),
  };
}
