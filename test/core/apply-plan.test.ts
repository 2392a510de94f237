import { describe, expect, it } from 'vitest';
import { added } from '../../src/core/diff.ts';
import type { LineFilter, SourceRecord } from '../../src/core/source.ts';
import type { Step } from '../../src/core/step.ts';
import { defineTask } from '../../src/core/task.ts';
import { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import { MemorySource } from '../../src/sources/memory-source.ts';
import { runInMemory } from '../support/engine-harness.ts';

type Row = { id: string; v: string };

/**
 * The apply phase reads the plan alongside the input, a page (256) at a time: a
 * plan of several pages with gaps (records already right), invalid rows and
 * duplicates between its entries, stopped half way and resumed.
 */
describe('engine: the apply phase follows the plan across its pages', () => {
  const n = 1000;
  const rows: Row[] = [];
  for (let i = 1; i <= n; i++) {
    rows.push({ id: `k${i}`, v: `v${i}` });
    if (i === 300) rows.push({ id: 'k7', v: 'dup' }); // a duplicate inside the second page
    if (i === 513) rows.push({ id: '', v: 'no key' }); // an invalid row at the third page's edge
  }
  /** Every third record is already as it should be before the first run. */
  const initial = () => new Map(rows.filter((_, i) => i % 3 === 0).map((r) => [r.id, r.v]));

  function world() {
    const data = initial();
    const writes = new Map<string, number>();
    const stop = new AbortController();
    let stopAfter = Number.POSITIVE_INFINITY;
    const step: Step<Row> = {
      name: 'put',
      check: (r) => (data.get(r.id) === r.v ? undefined : { changes: [added('v', r.v)] }),
      apply: (r) => {
        data.set(r.id, r.v);
        writes.set(r.id, (writes.get(r.id) ?? 0) + 1);
        if (writes.size >= stopAfter) stop.abort();
      },
    };
    const task = defineTask<Row>({
      name: 't',
      source: { kind: 'memory', path: '-', open: () => ({}) as never },
      key: 'id',
      steps: [step],
    });
    return {
      data,
      writes,
      task,
      stop,
      stopAt: (k: number) => {
        stopAfter = k;
      },
    };
  }

  const unique = rows.filter((r, i) => r.id && rows.findIndex((x) => x.id === r.id) === i);
  const toChange = unique.filter((r) => initial().get(r.id) !== r.v);

  it('applies every planned record once, and nothing the plan left out', async () => {
    const w = world();
    const { summary } = await runInMemory(w.task, rows, { concurrency: 8 });
    expect(summary.status).toBe('completed-with-failures'); // the two invalid rows
    expect(summary.counts).toMatchObject({
      changed: toChange.length,
      ok: unique.length - toChange.length,
      invalid: 2,
    });
    expect([...w.writes.keys()].sort()).toEqual(toChange.map((r) => r.id).sort());
    expect([...w.writes.values()].every((c) => c === 1)).toBe(true);
    expect(w.data.get('k7')).toBe('v7');
  });

  it('a run stopped in its apply phase resumes there: the rest applied once, none twice', async () => {
    const w = world();
    const ledger = new MemoryLedger();
    w.stopAt(400);
    const first = await runInMemory(w.task, rows, { ledger, concurrency: 4, stopSignal: w.stop.signal });
    expect(first.summary.status).toBe('interrupted');
    expect(w.writes.size).toBeGreaterThanOrEqual(400);
    expect(w.writes.size).toBeLessThan(toChange.length);
    const again = await runInMemory(w.task, rows, { ledger, resume: true, concurrency: 4 });
    expect(again.summary).toMatchObject({ status: 'completed-with-failures', resumed: true });
    expect([...w.writes.keys()].sort()).toEqual(toChange.map((r) => r.id).sort());
    expect([...w.writes.values()].every((c) => c === 1)).toBe(true);
    for (const r of unique) expect(w.data.get(r.id)).toBe(r.v);
  });

  it('the apply phase asks the source for the planned lines only, page after page of the plan', async () => {
    /** Counts the records it hands out in each pass. */
    class Counting extends MemorySource {
      passes: number[] = [];
      override async *records(signal?: AbortSignal, wanted?: LineFilter): AsyncIterable<SourceRecord> {
        const pass = this.passes.push(0) - 1;
        for await (const r of super.records(signal, wanted)) {
          this.passes[pass] = (this.passes[pass] ?? 0) + 1;
          yield r;
        }
      }
    }
    const w = world();
    const source = new Counting(rows);
    const { summary } = await runInMemory(w.task, rows, { source, concurrency: 8 });
    expect(summary.counts.changed).toBe(toChange.length);
    const [plan, apply] = source.passes;
    expect(plan).toBe(rows.length);
    // The planned records (3 pages of the plan), and at most one more where each page ends.
    expect(apply).toBeGreaterThanOrEqual(toChange.length);
    expect(apply).toBeLessThanOrEqual(toChange.length + Math.ceil(toChange.length / 256));
  });

  it('a source whose lines do not increase is refused at the first that does not, nothing of it applied', async () => {
    for (const budget of [undefined, false as const]) {
      const w = world();
      const rows = ['a', 'b', 'c', 'd'].map((id, i) => ({
        line: [2, 3, 2, 3][i] as number,
        raw: { id, v: id },
      }));
      const extra = budget === false ? { budget } : {};
      const { summary } = await runInMemory({ ...w.task, ...extra }, rows as never, { concurrency: 1 });
      expect(summary.status).toBe('refused');
      expect(summary.message).toMatch(
        /the source memory gave a record on line 2 after one on line 3: a source's lines must increase/,
      );
      // Plan first (the default): the refusal comes in the plan phase, before any write.
      // One pass (budget: false): the records before it were applied.
      expect([...w.writes.keys()].sort()).toEqual(budget === false ? ['a', 'b'] : []);
    }
  });

  it('a line past 2^32 - 2 is refused: the key set and the ledger keep lines in 32 bits', async () => {
    const w = world();
    const rows = [
      { line: 2, raw: { id: 'a', v: 'a' } },
      { line: 0xfffffffe, raw: { id: 'b', v: 'b' } },
      { line: 0xffffffff, raw: { id: 'c', v: 'c' } },
    ];
    const { summary } = await runInMemory(w.task, rows as never, { concurrency: 1 });
    expect(summary.status).toBe('refused');
    expect(summary.message).toMatch(
      /the source memory gave a record on line 4294967295: idem tells records apart by line up to line 4294967294; nothing after it was read/,
    );
    expect(w.writes.size).toBe(0);
  });
});
