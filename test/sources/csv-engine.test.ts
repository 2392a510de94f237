/**
 * The CSV source under the engine: a structural fault stops the run before any
 * step; an input that changes once records have started stops the run (refused,
 * recorded in the ledger, not left running); each result keeps its line's hash.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.ts';
import { added } from '../../src/core/diff.ts';
import { runTask } from '../../src/core/engine.ts';
import { kindOf } from '../../src/core/errors.ts';
import { Redactor } from '../../src/core/redact.ts';
import type { Step } from '../../src/core/step.ts';
import { defineTask } from '../../src/core/task.ts';
import { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import { MemoryReporter } from '../../src/report/memory-reporter.ts';
import { CsvSource, csv } from '../../src/sources/csv.ts';
import { Fnv1a64 } from '../../src/sources/record-hash.ts';
import { testSetup } from '../../src/testing.ts';
import { tempDir } from '../support/temp.ts';

type Row = { id: string; v: string };
const dir = tempDir('csv-engine-');

function run(path: string, step: Step<Row, unknown>, concurrency = 1) {
  const ledger = new MemoryLedger();
  const reporter = new MemoryReporter();
  const task = defineTask<Row>({ name: 't', source: csv(path), key: 'id', steps: [step] });
  const summary = runTask(
    {
      task,
      source: new CsvSource(path),
      ledger,
      reporter,
      clock: systemClock,
      setup: testSetup(),
      redactor: new Redactor(),
    },
    { host: 'test', pid: process.pid, concurrency },
  );
  return { summary, ledger, reporter };
}

function counting(onApply: (r: Row, n: number) => void = () => {}) {
  const seen: string[] = [];
  const done = new Set<string>();
  const step: Step<Row, unknown> = {
    name: 'put',
    check: (r) => (done.has(r.id) ? undefined : { changes: [added('v', r.v)] }),
    apply: (r) => {
      done.add(r.id);
      seen.push(r.id);
      onApply(r, seen.length);
    },
  };
  return { step, seen };
}

describe('CsvSource under the engine', () => {
  it('an unclosed quote refuses the run (exit 2) before any step runs', async () => {
    const path = join(dir, 'unclosed.csv');
    writeFileSync(path, 'id,v\n1,a\n2,"b\n3,c\n');
    const t = counting();
    const { summary, ledger } = run(path, t.step);
    const err = await summary.catch((e: unknown) => e);
    expect(kindOf(err)).toBe('usage');
    expect(t.seen).toEqual([]);
    expect(await ledger.listRuns({ task: 't' })).toEqual([]);
  });

  it('a header lacking the key column that looks like another delimiter is refused with one message', async () => {
    const path = join(dir, 'semicolons.csv');
    writeFileSync(path, 'id;v\n1;a\n2;b\n');
    const t = counting();
    const err = await run(path, t.step).summary.catch((e: Error) => e);
    expect(kindOf(err)).toBe('usage');
    expect((err as Error).message).toMatch(/looks like it uses ";" as its delimiter/);
    expect(t.seen).toEqual([]);
  });

  it('an input that grows once records have started stops the run: refused, recorded, the rest not applied', async () => {
    const path = join(dir, 'growing.csv');
    const n = 20_000; // about 1 MB: many reads after the first record
    writeFileSync(path, `id,v\n${Array.from({ length: n }, (_, i) => `k${i},${'v'.repeat(40)}\n`).join('')}`);
    const t = counting((_, count) => {
      if (count === 1) appendFileSync(path, 'k-late,x\n');
    });
    const { summary: pending, ledger } = run(path, t.step);
    const summary = await pending;
    expect(summary.status).toBe('refused');
    expect(summary.message).toMatch(/refused: input .* changed after it was checked \(its size went from/);
    expect(t.seen.length).toBeGreaterThan(0);
    expect(t.seen.length).toBeLessThan(n);
    expect(summary.notProcessed).toBe(n - t.seen.length);
    const [recorded] = await ledger.listRuns({ task: 't' });
    expect(recorded?.status).toBe('refused');
  });

  it("keeps each record's line hash (FNV-1a 64 of its bytes) as the ledger's input hash", async () => {
    const path = join(dir, 'hash.csv');
    writeFileSync(path, 'id,v\r\nk1, a \r\nk2,"b\r\nc"\r\n');
    const { summary, ledger } = run(path, counting().step);
    const { runId } = await summary;
    const hashOf = (s: string) => {
      const h = new Fnv1a64();
      h.update(Buffer.from(s), 0, Buffer.byteLength(s));
      return h.hex();
    };
    expect((await ledger.getResult(runId, 'k1'))?.inputHash).toBe(hashOf('k1, a '));
    expect((await ledger.getResult(runId, 'k2'))?.inputHash).toBe(hashOf('k2,"b\r\nc"'));
  });
});
