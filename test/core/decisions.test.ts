import { describe, expect, it } from 'vitest';
import { deletionRefusal, keylessRefusal, pruneCandidates } from '../../src/core/deletion-plan.ts';
import { emptyCounts } from '../../src/core/outcome.ts';
import { resolvePolicy } from '../../src/core/policy.ts';
import { finalStatus } from '../../src/core/run-status.ts';
import { defineTask } from '../../src/core/task.ts';
import { WorkPool } from '../../src/core/work-pool.ts';

const counts = (over = {}) => ({ ...emptyCounts(), ...over });

describe('the run’s final status (pure)', () => {
  it('succeeded, or completed with failures when any record failed, was invalid or is in doubt', () => {
    const all = { total: 3, finished: 3, alreadyDone: 0 };
    expect(finalStatus(counts({ changed: 3 }), undefined, all)).toEqual({
      status: 'succeeded',
      notProcessed: 0,
    });
    for (const bad of ['failed', 'invalid', 'in-doubt']) {
      expect(finalStatus(counts({ ok: 2, [bad]: 1 }), undefined, all).status).toBe('completed-with-failures');
    }
  });

  it('a stop names what is left for --resume', () => {
    const r = finalStatus(
      counts({ failed: 5 }),
      { status: 'aborted', message: 'aborted: 5 failed' },
      { total: 40, finished: 5, alreadyDone: 0 },
    );
    expect(r).toEqual({
      status: 'aborted',
      message: 'aborted: 5 failed; 35 records not processed; resume with --resume',
      notProcessed: 35,
    });
  });

  it('a loop that ended before every record is interrupted, never succeeded', () => {
    const r = finalStatus(counts({ changed: 2 }), undefined, { total: 10, finished: 2, alreadyDone: 3 });
    expect(r.status).toBe('interrupted');
    expect(r.notProcessed).toBe(5);
  });
});

describe('the deletion plan (pure)', () => {
  it('prunes what the target holds and the input lacks; the population is what the target holds', () => {
    expect(pruneCandidates(new Set(['a', 'b']), ['a', 'b', 'c', 'd'])).toEqual({
      keys: ['c', 'd'],
      population: 4,
    });
  });

  it('refuses past the limit with the numbers, and is silent within it', () => {
    const plan = { population: 100, limit: { percent: 10 }, inputKeys: 3, input: '/srv/hr.csv' };
    expect(deletionRefusal({ ...plan, deletions: 10 })).toBeUndefined();
    expect(deletionRefusal({ ...plan, deletions: 97 })).toBe(
      'refused by the deletion guard: the prune would delete 97 of 100 entries (97.0%), over maxDeletes 10% (10 allowed); ' +
        'nothing was changed. Check the input (3 keys read from /srv/hr.csv); if the deletions are intended, raise the limit with --max-deletes.',
    );
  });

  it('refuses to prune when a row has no readable key', () => {
    expect(keylessRefusal([])).toBeUndefined();
    expect(keylessRefusal([4, 9])).toMatch(/^refused: 2 input row\(s\) have no readable key \(line 4, 9\)/);
  });
});

describe('the run policy (pure)', () => {
  const task = defineTask({
    name: 't',
    source: { kind: 'x', path: '-', open: () => ({}) as never },
    key: 'id',
    steps: [],
    concurrency: 8,
    breaker: 3,
  });
  it('options win over the task, the task over the defaults; a dry run never resumes', () => {
    const p = resolvePolicy(task, { host: 'h', pid: 1, dryRun: true, resume: true, breaker: 9 }, undefined);
    expect(p).toMatchObject({
      dryRun: true,
      resume: false,
      concurrency: 8,
      breaker: 9,
      deleteLimit: undefined,
    });
    expect(p.retry.attempts).toBe(5);
  });
  it('a prune phase gets the 10% deletion guard unless a limit is set', () => {
    const prune = { existing: () => [], steps: () => [] };
    expect(resolvePolicy(task, { host: 'h', pid: 1 }, prune).deleteLimit).toEqual({ percent: 10 });
    expect(resolvePolicy(task, { host: 'h', pid: 1, maxDeletes: { count: 2 } }, prune).deleteLimit).toEqual({
      count: 2,
    });
  });
});

describe('the work pool', () => {
  it('keeps at most `size` pieces in flight and waits for all of them', async () => {
    const pool = new WorkPool(2);
    let inflight = 0;
    let most = 0;
    let started = 0;
    const gates: (() => void)[] = [];
    const work = () =>
      new Promise<void>((resolve) => {
        inflight++;
        started++;
        most = Math.max(most, inflight);
        gates.push(() => {
          inflight--;
          resolve();
        });
      });
    const adding = (async () => {
      for (let i = 0; i < 5; i++) {
        if (!pool.free) await pool.ready();
        pool.start(work);
      }
    })();
    while (started < 5) {
      await new Promise((r) => setImmediate(r));
      gates.shift()?.();
    }
    for (const open of gates.splice(0)) open();
    await adding;
    await pool.drain();
    expect(most).toBe(2);
    expect(inflight).toBe(0);
  });

  it('a piece that throws is a bug: drain throws it', async () => {
    const pool = new WorkPool(1);
    pool.start(async () => {
      throw new Error('boom');
    });
    await expect(pool.drain()).rejects.toThrow('boom');
  });

  it('starting work with every slot taken is refused, not run past the size', async () => {
    const pool = new WorkPool(1);
    let release = () => {};
    pool.start(() => new Promise<void>((r) => (release = r)));
    expect(pool.free).toBe(false);
    expect(() => pool.start(async () => {})).toThrow('WorkPool.start with all 1 slots taken');
    release();
    await pool.drain();
    expect(pool.free).toBe(true);
  });
});
