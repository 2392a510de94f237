import { describe, expect, it } from 'vitest';
import { emptyCounts, type RecordResult } from '../../src/core/outcome.ts';
import { JsonReporter } from '../../src/report/json-reporter.ts';
import { MemoryReporter } from '../../src/report/memory-reporter.ts';

function result(key: string, line: number): RecordResult {
  return {
    key,
    slot: key,
    line,
    outcome: 'ok',
    absorbed: false,
    diff: [],
    attempts: 1,
    inputHash: 'h',
    startedAt: 0,
    endedAt: 0,
  };
}

const summary = {
  runId: 'r-1',
  task: 't',
  status: 'succeeded' as const,
  dryRun: false,
  resumed: false,
  counts: { ...emptyCounts(), ok: 3 },
  notProcessed: 0,
  alreadyDone: 0,
  elapsedMs: 5,
  ledger: 'ledger.db',
};

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('the NDJSON reporter', () => {
  it('writes the records that finish together in one write, in order, one line each', async () => {
    const writes: string[] = [];
    const reporter = new JsonReporter({ write: (t: string) => writes.push(t) }, new MemoryReporter());
    reporter.recordFinished(result('a', 2));
    reporter.recordFinished(result('b', 3));
    expect(writes).toEqual([]); // held until the records finishing now have all finished
    await tick();
    expect(writes).toHaveLength(1);
    reporter.recordFinished(result('c', 4));
    await tick();
    expect(writes).toHaveLength(2);
    const lines = writes.join('').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l).key)).toEqual(['a', 'b', 'c']);
  });

  it('writes pending records and the summary at once when the run finishes', () => {
    const writes: string[] = [];
    const reporter = new JsonReporter({ write: (t: string) => writes.push(t) }, new MemoryReporter());
    reporter.recordFinished(result('a', 2));
    reporter.runFinished(summary);
    const lines = writes
      .join('')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(['record', 'summary']);
    expect(lines[1].counts.ok).toBe(3);
  });

  it("writes what is pending when the process exits before the turn ends (it leaves no 'exit' listener behind)", async () => {
    const writes: string[] = [];
    const before = process.listenerCount('exit');
    const reporter = new JsonReporter({ write: (t: string) => writes.push(t) }, new MemoryReporter());
    reporter.recordFinished(result('a', 2));
    const added = process.listeners('exit').slice(before);
    expect(added).toHaveLength(1);
    for (const listener of added) listener(0); // what the process does as it exits (not emitted: the runner's own listeners stay out of it)
    expect(writes.join('')).toContain('"key":"a"');
    expect(process.listenerCount('exit')).toBe(before);
    await tick();
    expect(writes).toHaveLength(1);
  });
});
