import { describe, expect, it } from 'vitest';
import { added, modified, removed } from '../../src/core/diff.ts';
import { AmbiguousError, PermanentError, TransientError, UsageError } from '../../src/core/errors.ts';
import { once } from '../../src/core/once.ts';
import { findUnfinishedRun } from '../../src/core/runs.ts';
import type { Step } from '../../src/core/step.ts';
import { defineTask } from '../../src/core/task.ts';
import { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import { effectsOf, runInMemory } from '../support/engine-harness.ts';

type Row = { id: string; v: string };

/** A target that counts its writes. */
function target() {
  const data = new Map<string, string>();
  let writes = 0;
  const faults = new Map<string, (phase: 'check' | 'apply', attempt: number) => void>();
  const step: Step<Row, unknown> = {
    name: 'put',
    check: (r, _c, env) => {
      faults.get(r.id)?.('check', env.attempt);
      const cur = data.get(r.id);
      if (cur === r.v) return undefined;
      return { changes: [cur === undefined ? added('v', r.v) : modified('v', cur, r.v)] };
    },
    apply: (r, _c, _d, env) => {
      data.set(r.id, r.v);
      writes++;
      faults.get(r.id)?.('apply', env.attempt);
    },
  };
  return {
    data,
    faults,
    step,
    get writes() {
      return writes;
    },
  };
}

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `k${i + 1}`, v: `v${i + 1}` }));

function taskOver(t: ReturnType<typeof target>, extra: Partial<Parameters<typeof defineTask<Row>>[0]> = {}) {
  return defineTask<Row>({
    name: 't',
    source: { kind: 'memory', path: '-', open: () => ({}) as never },
    key: 'id',
    steps: [t.step],
    ...extra,
  });
}

describe('engine: first run, rerun, dry run', () => {
  it('changes N records, then a rerun is all ok with zero writes', async () => {
    const t = target();
    const first = await runInMemory(taskOver(t), rows(20));
    expect(first.summary.counts).toMatchObject({ changed: 20, ok: 0, failed: 0 });
    expect(first.summary.status).toBe('succeeded');
    expect(t.writes).toBe(20);
    const second = await runInMemory(taskOver(t), rows(20));
    expect(second.summary.counts).toMatchObject({ changed: 0, ok: 20 });
    expect(t.writes).toBe(20);
  });

  it('a dry run reports pending changes as changed, with diffs, and writes nothing', async () => {
    const t = target();
    t.data.set('k1', 'old');
    const { summary, reporter, ledger } = await runInMemory(taskOver(t), rows(3), { dryRun: true });
    expect(summary.dryRun).toBe(true);
    expect(summary.counts.changed).toBe(3);
    expect(t.writes).toBe(0);
    expect(t.data.get('k1')).toBe('old');
    expect(reporter.byKey('k1')?.diff).toEqual([
      { step: 'put', changes: [{ op: '~', field: 'v', from: 'old', to: 'v1' }] },
    ]);
    expect(await findUnfinishedRun(ledger, 't')).toBeUndefined();
  });
});

describe('engine: retries, absorbed, permanent, breaker', () => {
  it('retries a transient fault in check and then succeeds', async () => {
    const t = target();
    t.faults.set('k2', (phase, attempt) => {
      if (phase === 'check' && attempt < 3) throw new TransientError('busy');
    });
    const { summary, reporter, ledger } = await runInMemory(taskOver(t), rows(3));
    expect(summary.counts).toMatchObject({ changed: 3, failed: 0 });
    expect(reporter.byKey('k2')?.attempts).toBe(3);
    // Its check is retried twice in the plan phase, and twice again before its apply.
    expect(ledger.history.filter((e) => e.key === 'k2' && e.kind === 'retry')).toHaveLength(4);
  });

  it('announces each retry with the wait it then takes: the backoff grows by the factor, from attempt 1 on', async () => {
    const tried: number[] = [];
    let written = false;
    const step: Step<Row, unknown> = {
      name: 'put',
      check: () => (written ? undefined : { changes: [added('v', 'v1')] }),
      apply: (_r, _c, _d, env) => {
        tried.push(performance.now());
        if (env.attempt < 4) throw new TransientError('busy');
        written = true;
      },
    };
    const retry = { attempts: 5, minDelayMs: 20, factor: 3, maxDelayMs: 150, jitter: false };
    const task = defineTask<Row>({ ...taskOver(target()), steps: [step] });
    const { summary, reporter } = await runInMemory(task, rows(1), { retry });
    expect(summary.counts).toMatchObject({ changed: 1, failed: 0 });
    expect(reporter.retries.map((r) => [r.attempt, r.delayMs])).toEqual([
      [1, 20],
      [2, 60],
      [3, 150],
    ]);
    // Each announced wait was taken (at least: a busy machine only makes it longer).
    for (let i = 1; i < tried.length; i++)
      expect(tried[i]! - tried[i - 1]!).toBeGreaterThanOrEqual((reporter.retries[i - 1]?.delayMs ?? 0) - 1);
  });

  it('a fault after the apply landed is absorbed by the re-check, not counted as a change', async () => {
    const t = target();
    t.faults.set('k1', (phase, attempt) => {
      if (phase === 'apply' && attempt === 1) throw new AmbiguousError('connection closed before the reply');
    });
    const { summary, reporter } = await runInMemory(taskOver(t), rows(2));
    const r = reporter.byKey('k1');
    expect(r?.outcome).toBe('ok');
    expect(r?.absorbed).toBe(true);
    expect(r?.diff[0]?.absorbed).toBe(true);
    expect(summary.counts).toMatchObject({ changed: 1, ok: 1, absorbed: 1 });
    expect(t.writes).toBe(2);
  });

  it('a permanent fault is attempted once and fails the record only', async () => {
    const t = target();
    let calls = 0;
    t.faults.set('k2', (phase) => {
      if (phase === 'check') {
        calls++;
        throw new PermanentError('insufficient access');
      }
    });
    const { summary, reporter } = await runInMemory(taskOver(t), rows(3));
    expect(calls).toBe(1);
    expect(reporter.byKey('k2')).toMatchObject({ outcome: 'failed', attempts: 1 });
    expect(reporter.byKey('k2')?.error).toMatchObject({ class: 'permanent', step: 'put' });
    expect(reporter.byKey('k2')?.error?.message).toContain('insufficient access');
    expect(summary.status).toBe('completed-with-failures');
  });

  it('an unknown error is permanent; a socket error code is transient', async () => {
    const t = target();
    t.faults.set('k1', (phase, attempt) => {
      if (phase === 'check' && attempt === 1)
        throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    });
    t.faults.set('k2', (phase) => {
      if (phase === 'check') throw new Error('boom');
    });
    const { reporter } = await runInMemory(taskOver(t), rows(2));
    expect(reporter.byKey('k1')).toMatchObject({ outcome: 'changed', attempts: 2 });
    expect(reporter.byKey('k2')).toMatchObject({ outcome: 'failed', attempts: 1 });
  });

  it('stops after K consecutive identical failures; --resume re-checks the failed and does the rest', async () => {
    const t = target();
    const fail = (phase: string) => {
      if (phase === 'check') throw new PermanentError('no write access to the target');
    };
    for (const r of rows(40)) t.faults.set(r.id, fail);
    const ledger = new MemoryLedger();
    const { summary } = await runInMemory(taskOver(t), rows(40), { concurrency: 1, breaker: 5, ledger });
    expect(summary.status).toBe('aborted');
    expect(summary.counts.failed).toBe(5);
    expect(summary.notProcessed).toBe(35);
    expect(summary.message).toMatch(
      /^aborted: 5 consecutive records failed with the same error: step put: no write access/,
    );
    t.faults.clear();
    const resumed = await runInMemory(taskOver(t), rows(40), { resume: true, ledger });
    expect(resumed.summary.resumed).toBe(true);
    expect(resumed.summary.runId).toBe(summary.runId);
    expect(resumed.summary.alreadyDone).toBe(0);
    expect(resumed.summary.counts).toMatchObject({ changed: 40, failed: 0 });
    expect(resumed.summary.status).toBe('succeeded');
  });

  it('different errors do not trip the breaker', async () => {
    const t = target();
    for (const [i, r] of rows(12).entries()) {
      t.faults.set(r.id, (phase) => {
        if (phase === 'check') throw new PermanentError(i % 2 ? 'bad mail' : 'bad name');
      });
    }
    const { summary } = await runInMemory(taskOver(t), rows(12), { concurrency: 1, breaker: 5 });
    expect(summary.status).toBe('completed-with-failures');
    expect(summary.counts.failed).toBe(12);
  });

  it('a step that does not converge fails instead of claiming success', async () => {
    const step: Step<Row> = { name: 'stuck', check: () => ({ changes: [added('x')] }), apply: () => {} };
    const { reporter } = await runInMemory(
      defineTask<Row>({ ...taskOver(target()), steps: [step] }),
      rows(1),
    );
    expect(reporter.records[0]).toMatchObject({ outcome: 'failed' });
    expect(reporter.records[0]?.error?.message).toContain('did not converge');
  });
});

describe('engine: input problems', () => {
  it('an empty input is a usage error unless allowEmpty', async () => {
    await expect(runInMemory(taskOver(target()), [])).rejects.toBeInstanceOf(UsageError);
    const { summary } = await runInMemory(taskOver(target(), { allowEmpty: true }), []);
    expect(summary.status).toBe('succeeded');
  });

  it('invalid rows and duplicate keys are invalid with their lines; good rows still run', async () => {
    const t = target();
    const input = [
      { id: 'a', v: '1' },
      { id: 'b', v: 'bad' },
      { id: 'a', v: '2' },
      { id: '', v: '3' },
      { id: 'c', v: '4' },
    ];
    const task = taskOver(t, { validate: (r) => (r.v === 'bad' ? 'v must not be bad' : undefined) });
    const { reporter, summary } = await runInMemory(task, input);
    expect(summary.counts).toMatchObject({ changed: 2, invalid: 3 });
    const invalid = reporter.records.filter((r) => r.outcome === 'invalid').sort((x, y) => x.line - y.line);
    expect(invalid.map((r) => [r.line, r.error?.message])).toEqual([
      [3, 'v must not be bad'],
      [4, 'duplicate key "a": first seen on line 2'],
      [5, 'no key: column "id" is empty'],
    ]);
    expect(t.data.get('a')).toBe('1');
  });

  it('resume with a changed input supersedes the unfinished run and makes progress; strict resume refuses', async () => {
    const t = target();
    t.faults.set('k1', () => {
      throw new PermanentError('down');
    });
    const ledger = new MemoryLedger();
    const first = await runInMemory(taskOver(t), rows(10), { ledger, breaker: 1, concurrency: 1 });
    expect(first.summary.status).toBe('aborted');
    await expect(
      runInMemory(taskOver(t), rows(11), { ledger, resume: true, strictResume: true }),
    ).rejects.toThrow(
      /cannot resume run .*: the input memory changed \(sha256 \S+ then, \S+ now\) since run/,
    );
    t.faults.clear();
    const next = await runInMemory(taskOver(t), rows(11), { ledger, resume: true });
    expect(next.summary).toMatchObject({
      status: 'succeeded',
      resumed: false,
      supersedes: first.summary.runId,
    });
    expect(next.summary.counts.changed).toBe(11);
    expect(next.reporter.warnings.join('\n')).toMatch(
      /did not finish and the input memory changed .* superseded by a new run/,
    );
    expect(ledger.runs.get(first.summary.runId)).toMatchObject({ status: 'superseded' });
    expect(ledger.history.filter((e) => e.kind === 'superseded').map((e) => e.runId)).toEqual([
      first.summary.runId,
    ]);
  });

  it('a run left running by a dead process is recorded as crashed by the next run, which resumes it', async () => {
    const t = target();
    const ledger = new MemoryLedger();
    const first = await runInMemory(taskOver(t), rows(3), { ledger });
    await ledger.updateRun(first.summary.runId, { status: 'running', endedAt: null });
    const next = await runInMemory(taskOver(t), rows(3), { ledger, resume: true });
    expect(next.summary).toMatchObject({ resumed: true, runId: first.summary.runId, alreadyDone: 3 });
    expect(ledger.history.some((e) => e.kind === 'crashed' && e.runId === first.summary.runId)).toBe(true);
  });

  it('resume with no unfinished run says so and starts a new run', async () => {
    const { reporter, summary } = await runInMemory(taskOver(target()), rows(2), { resume: true });
    expect(summary.resumed).toBe(false);
    expect(reporter.started).toMatchObject({ resumed: false, nothingToResume: true });
    expect(reporter.warnings).toEqual([]);
  });
});

describe('engine: once effects, secrets, deletion guard', () => {
  it('once runs an effect once; an intent without completion is in-doubt, never repeated', async () => {
    const sent: string[] = [];
    const ledger = new MemoryLedger();
    const mail = once<Row>('mail', (r) => {
      sent.push(r.id);
    });
    const task = taskOver(target(), { steps: [mail] });
    await runInMemory(task, rows(2), { ledger });
    await runInMemory(task, rows(2), { ledger });
    expect(sent).toEqual(['k1', 'k2']);
    await effectsOf(ledger).intent('r-x', 'k3', 'mail');
    const { reporter, summary } = await runInMemory(task, rows(3), { ledger });
    expect(reporter.byKey('k3')?.outcome).toBe('in-doubt');
    expect(summary.counts['in-doubt']).toBe(1);
    expect(sent).toEqual(['k1', 'k2']);
  });

  it('declared secrets never reach the ledger or the reporter', async () => {
    const { Redactor } = await import('../../src/core/redact.ts');
    const redactor = new Redactor();
    redactor.add('s3cr3t-canary');
    const step: Step<Row> = {
      name: 'leak',
      check: () => {
        throw new PermanentError('bind failed for password s3cr3t-canary');
      },
      apply: () => {},
    };
    const { ledger, reporter } = await runInMemory(taskOver(target(), { steps: [step] }), rows(1), {
      redactor,
    });
    const all =
      JSON.stringify([...ledger.results.values()].map((m) => [...m.values()])) +
      JSON.stringify(ledger.history) +
      JSON.stringify(reporter.records);
    expect(all).not.toContain('s3cr3t-canary');
    expect(all).toContain('<secret>');
  });

  it('the prune guard refuses before deleting anything, and names the numbers', async () => {
    const existing = new Set(rows(100).map((r) => r.id));
    const deleted: string[] = [];
    const task = taskOver(target(), {
      steps: [],
      maxDeletes: { percent: 10 },
      prune: {
        existing: () => [...existing],
        steps: (key) => [
          {
            name: 'delete',
            destructive: true,
            check: () =>
              existing.has(key)
                ? { changes: [{ op: '-', field: 'entry', from: key }], deletes: 1 }
                : undefined,
            apply: () => {
              existing.delete(key);
              deleted.push(key);
            },
          },
        ],
      },
    });
    const truncated = await runInMemory(task, rows(3));
    expect(truncated.summary.status).toBe('refused');
    expect(truncated.summary.message).toContain('would delete 97 of 100');
    expect(deleted).toEqual([]);
    const fine = await runInMemory(task, rows(95));
    expect(fine.summary.status).toBe('succeeded');
    expect(deleted.sort()).toEqual(['k100', 'k96', 'k97', 'k98', 'k99']);
    const override = await runInMemory(task, rows(3), { maxDeletes: { count: 100 } });
    expect(override.summary.counts.changed).toBe(92);
  });
});

describe('engine: interruption', () => {
  it('stops taking records on stop; a record cut short by the kill has no outcome and is redone on resume', async () => {
    const done: string[] = [];
    const stop = new AbortController();
    const kill = new AbortController();
    const slow: Step<Row> = {
      name: 'slow',
      check: (r) => (done.includes(r.id) ? undefined : { changes: [added('x')] }),
      apply: async (r, _c, _d, env) => {
        if (r.id === 'k3') {
          stop.abort();
          kill.abort();
          if (env.signal.aborted) throw new TransientError('aborted by the interrupt');
        }
        done.push(r.id);
      },
    };
    const ledger = new MemoryLedger();
    const task = defineTask<Row>({ ...taskOver(target()), steps: [slow] });
    const first = await runInMemory(task, rows(10), {
      ledger,
      concurrency: 1,
      stopSignal: stop.signal,
      killSignal: kill.signal,
    });
    expect(first.summary.status).toBe('interrupted');
    expect(first.reporter.records.map((r) => r.key)).toEqual(['k1', 'k2']);
    expect(first.summary.notProcessed).toBe(8);
    const again = await runInMemory(task, rows(10), { ledger, resume: true });
    expect(again.summary.counts.changed).toBe(10);
    expect(again.reporter.records.map((r) => r.key)).toContain('k3');
  });
});

describe('engine: review findings', () => {
  it('a stop before the loop fills up still ends interrupted, never succeeded', async () => {
    const stop = new AbortController();
    const t = target();
    const task = taskOver(t, {
      connect: () => {
        stop.abort();
        return undefined;
      },
    });
    const { summary } = await runInMemory(task, rows(50), { concurrency: 64, stopSignal: stop.signal });
    expect(summary.status).toBe('interrupted');
    expect(summary.notProcessed).toBe(50);
    expect(t.writes).toBe(0);
  });

  it('prune refuses when an input row has no readable key: it may be someone still there', async () => {
    const existing = ['a', 'b', 'c'];
    const deleted: string[] = [];
    const task = taskOver(target(), {
      steps: [],
      maxDeletes: { count: 100 },
      prune: {
        existing: () => existing,
        steps: (key) => [
          {
            name: 'delete',
            destructive: true,
            check: () => ({ changes: [{ op: '-', field: 'entry' }], deletes: 1 }),
            apply: () => {
              deleted.push(key);
            },
          },
        ],
      },
    });
    const input = [
      { id: 'a', v: '1' },
      { line: 3, raw: {}, error: 'Invalid Record Length' } as never,
      { id: 'c', v: '1' },
    ];
    const { summary } = await runInMemory(task, input);
    expect(summary.status).toBe('refused');
    expect(summary.message).toContain('1 input row(s) have no readable key (line 3)');
    expect(deleted).toEqual([]);
  });

  it('an error while listing what to prune aborts the run (finished in the ledger), it is not a usage error', async () => {
    const ledger = new MemoryLedger();
    const task = taskOver(target(), {
      prune: {
        existing: () => {
          throw new TransientError('search timed out under ou=people');
        },
        steps: () => [],
      },
    });
    const { summary } = await runInMemory(task, rows(2), { ledger });
    expect(summary.status).toBe('aborted');
    expect(summary.message).toContain(
      'planning the prune phase failed, nothing was changed: search timed out',
    );
    expect([...ledger.runs.values()][0]?.status).toBe('aborted');
  });

  it('a once effect that could not even connect is retried, not left in doubt', async () => {
    const sent: string[] = [];
    let refusals = 1;
    const mail = once<Row>('mail', (r) => {
      if (refusals-- > 0)
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ECONNREFUSED' });
      sent.push(r.id);
    });
    const { reporter, ledger } = await runInMemory(taskOver(target(), { steps: [mail] }), rows(1));
    expect(reporter.records[0]).toMatchObject({ outcome: 'changed', attempts: 2 });
    expect(sent).toEqual(['k1']);
    expect(ledger.history.some((e) => e.kind === 'effect-abandoned')).toBe(true);
  });

  it('a once effect that may have happened (a timeout) is in doubt; --resume after resolve --retry sends it', async () => {
    const sent: string[] = [];
    let timeouts = 1;
    const mail = once<Row>('mail', (r) => {
      if (timeouts-- > 0) throw new AmbiguousError('timed out waiting for 250 OK');
      sent.push(r.id);
    });
    const ledger = new MemoryLedger();
    const task = taskOver(target(), { steps: [mail], breaker: 1 });
    const first = await runInMemory(task, rows(2), { ledger, concurrency: 1 });
    expect(first.reporter.byKey('k1')?.outcome).toBe('in-doubt');
    expect(sent).toEqual(['k2']);
    // make the run resumable, as a crash would have left it
    await ledger.updateRun(first.summary.runId, { status: 'interrupted' });
    const effects = effectsOf(ledger);
    await effects.settle((await effects.get('k1', 'mail'))!, 'retry', 'a test'); // idem resolve --retry
    const resumed = await runInMemory(task, rows(2), { ledger, resume: true });
    expect(resumed.reporter.byKey('k1')?.outcome).toBe('changed');
    expect(resumed.summary.counts).toMatchObject({ changed: 2, 'in-doubt': 0 });
    expect(sent).toEqual(['k2', 'k1']);
  });

  it('resolve --retry sends the mail on the next run even when the target already holds the record', async () => {
    // The crash between a once intent and its effect: the record's other steps are done,
    // so the next run finds the target holding it; the operator said the mail never went.
    const sent: string[] = [];
    let timeouts = 1;
    const mail = once<Row>('mail', (r) => {
      if (timeouts-- > 0) throw new AmbiguousError('timed out waiting for 250 OK');
      sent.push(r.id);
    });
    const t = target();
    const ledger = new MemoryLedger();
    const task = taskOver(t, { steps: [t.step, mail], breaker: 1 });
    const first = await runInMemory(task, rows(2), { ledger, concurrency: 1 });
    expect(first.reporter.byKey('k1')?.outcome).toBe('in-doubt');
    const effects = effectsOf(ledger);
    await effects.settle((await effects.get('k1', 'mail'))!, 'retry', 'a test'); // idem resolve --retry
    const next = await runInMemory(task, rows(2), { ledger });
    expect(next.reporter.byKey('k1')?.outcome).toBe('changed');
    expect(next.summary.counts).toMatchObject({ changed: 1, ok: 1, 'in-doubt': 0 });
    expect(sent).toEqual(['k2', 'k1']);
  });
});

describe('engine: convergence', () => {
  it('a record whose value another writer reverts every night is flagged non-converging on the third run, with the values', async () => {
    const t = target();
    const ledger = new MemoryLedger();
    const night = async () => {
      const r = await runInMemory(taskOver(t), rows(25), { ledger });
      t.data.set('k7', 'theirs'); // the other system puts its value back
      return r;
    };
    const first = await night();
    expect(first.reporter.byKey('k7')?.warnings).toBeUndefined();
    const second = await night();
    expect(second.reporter.byKey('k7')).toMatchObject({ outcome: 'changed' });
    expect(second.reporter.byKey('k7')?.warnings).toBeUndefined();
    const third = await night();
    const k7 = third.reporter.byKey('k7');
    expect(k7?.warnings).toEqual([
      'non-converging: step put changed v on each of the last 3 runs (∅ -> v7; theirs -> v7; theirs -> v7): a value written every run, normalised by the target, or fought over by another writer',
    ]);
    expect(third.summary.counts).toMatchObject({ changed: 1, ok: 24, 'non-converging': 1 });
    expect((await ledger.getResult(third.summary.runId, 'k7'))?.warnings).toEqual(k7?.warnings);
    // A record that changed once and then stayed put is never flagged.
    expect(third.reporter.records.filter((r) => r.warnings)).toHaveLength(1);
  });

  it('can be switched off', async () => {
    const t = target();
    const ledger = new MemoryLedger();
    for (let i = 0; i < 3; i++) {
      const r = await runInMemory(taskOver(t, { convergence: false }), rows(3), { ledger });
      expect(r.summary.counts['non-converging']).toBe(0);
      t.data.set('k1', 'theirs');
    }
  });
});

describe('engine: the soft-delete lifecycle of leavers', () => {
  it('disables a leaver, re-enables one who comes back within the grace period without a second welcome mail, deletes after it', async () => {
    const accounts = new Map<string, 'active' | 'disabled'>();
    const mails: string[] = [];
    const ensureActive: Step<Row> = {
      name: 'account',
      check: (r) =>
        accounts.get(r.id) === 'active'
          ? undefined
          : { changes: [modified('status', accounts.get(r.id), 'active')] },
      apply: (r) => {
        accounts.set(r.id, 'active');
      },
    };
    const welcome = once<Row>('welcome', (r) => {
      mails.push(r.id);
    });
    const disable = (key: string): Step<{ key: string }> => ({
      name: 'disable',
      destructive: true,
      check: () =>
        accounts.get(key) === 'disabled'
          ? undefined
          : { changes: [modified('status', 'active', 'disabled')] },
      apply: () => {
        accounts.set(key, 'disabled');
      },
    });
    const remove = (key: string): Step<{ key: string }> => ({
      name: 'delete',
      destructive: true,
      check: () => (accounts.has(key) ? { changes: [removed('account', key)] } : undefined),
      apply: () => {
        accounts.delete(key);
      },
    });
    const task = defineTask<Row>({
      name: 't',
      source: { kind: 'memory', path: '-', open: () => ({}) as never },
      key: 'id',
      steps: [ensureActive, welcome],
      maxDeletes: { count: 5 },
      prune: {
        existing: () => [...accounts.keys()],
        steps: (key) => [disable(key)],
        lifecycle: { graceRuns: 2, delete: (key) => [remove(key)] },
      },
    });
    const ledger = new MemoryLedger();
    const night = (ids: string[]) =>
      runInMemory(
        task,
        ids.map((id) => ({ id, v: id })),
        { ledger },
      );

    await night(['a', 'b', 'c']);
    expect(mails).toEqual(['a', 'b', 'c']);
    const left = await night(['a', 'b']);
    expect(left.reporter.byKey('c')).toMatchObject({ outcome: 'changed', diff: [{ step: 'disable' }] });
    expect(accounts.get('c')).toBe('disabled');
    expect((await ledger.listDepartures('t')).map((d) => d.key)).toEqual(['c']);

    const back = await night(['a', 'b', 'c']);
    expect(back.reporter.byKey('c')).toMatchObject({
      outcome: 'changed',
      diff: [{ step: 'account', changes: [{ op: '~', field: 'status', from: 'disabled', to: 'active' }] }],
    });
    expect(accounts.get('c')).toBe('active');
    expect(mails).toEqual(['a', 'b', 'c']);
    expect(await ledger.listDepartures('t')).toEqual([]);

    await night(['a', 'b']); // disabled again: the grace period (two runs) starts over
    expect(accounts.get('c')).toBe('disabled');
    await night(['a', 'b']); // still disabled: its second run
    expect(accounts.get('c')).toBe('disabled');
    await night(['a', 'b']); // the grace period is over: deleted
    expect(accounts.has('c')).toBe(false);
    expect(await ledger.listDepartures('t')).toEqual([]);
  });
});
