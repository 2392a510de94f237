import { statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.ts';
import { Effects } from '../../src/core/effects.ts';
import { Journal } from '../../src/core/journal.ts';
import type { Ledger, RunInfo } from '../../src/core/ledger.ts';
import { emptyCounts, type RecordResult } from '../../src/core/outcome.ts';
import { findUnfinishedRun, finishRun, reopenRun } from '../../src/core/runs.ts';
import { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import { SqliteLedger } from '../../src/ledger/sqlite-ledger.ts';
import { tempDir } from '../support/temp.ts';

const run = (id: string, over: Partial<RunInfo> = {}): RunInfo => ({
  id,
  task: 'accounts',
  startedAt: 1000,
  status: 'running',
  dryRun: false,
  inputDigest: 'd1',
  inputPath: '/in.csv',
  host: 'h',
  pid: 42,
  options: {},
  ...over,
});

const result = (slot: string, over: Partial<RecordResult> = {}): RecordResult => ({
  key: slot,
  slot,
  line: 2,
  outcome: 'changed',
  absorbed: false,
  diff: [{ step: 's', changes: [{ op: '+', field: 'mail', to: 'a@x' }] }],
  attempts: 1,
  inputHash: 'h',
  startedAt: 1,
  endedAt: 2,
  ...over,
});

/** A clock that ticks one ms per reading, so that pinned histories have exact times. */
function tickingClock(): Clock {
  let t = 10_000;
  return { now: () => t++, sleep: async () => {}, schedule: () => () => {} };
}

function session(l: Ledger) {
  const clock = tickingClock();
  const journal = new Journal(l, clock, l.location);
  return { clock, journal, effects: new Effects(l, journal, clock, 'accounts') };
}

const implementations: [string, () => Ledger][] = [
  ['MemoryLedger', () => new MemoryLedger()],
  ['SqliteLedger', () => new SqliteLedger(join(tempDir('idem-ledger-'), 'ledger.db'))],
];

describe.each(implementations)('Ledger contract: %s', (_name, make) => {
  it('keeps runs; the unfinished one ignores dry runs and finished runs', async () => {
    const l = make();
    const { clock, journal } = session(l);
    await l.insertRun(run('r1'));
    await finishRun(l, journal, clock, { runId: 'r1', status: 'succeeded', counts: emptyCounts() });
    expect(await findUnfinishedRun(l, 'accounts')).toBeUndefined();
    await l.insertRun(run('r2', { startedAt: 2000 }));
    await finishRun(l, journal, clock, {
      runId: 'r2',
      status: 'aborted',
      counts: emptyCounts(),
      message: 'x',
    });
    await l.insertRun(run('r3', { startedAt: 3000, dryRun: true }));
    expect((await findUnfinishedRun(l, 'accounts'))?.id).toBe('r2');
    expect(await l.getRun('r2')).toMatchObject({ status: 'aborted', endedAt: 10_001, message: 'x' });
    await reopenRun(l, journal, clock, { id: 'r2', pid: 99, host: 'h2' });
    const reopened = await l.getRun('r2');
    expect(reopened).toMatchObject({ status: 'running', pid: 99, host: 'h2', message: 'x' });
    expect(reopened?.endedAt).toBeUndefined();
    expect(await findUnfinishedRun(l, 'other')).toBeUndefined();
    await journal.flush();
    expect(await l.events({ runId: 'r2' })).toEqual([
      { runId: 'r2', key: '', kind: 'resumed', detail: 'pid 99 on h2', at: 10_002 },
    ]);
    await l.close();
  });

  it('stores results per run and counts them, absorbed included', async () => {
    const l = make();
    const { journal } = session(l);
    await l.insertRun(run('r1'));
    await journal.result('r1', result('a'));
    await journal.result('r1', result('b', { outcome: 'ok', absorbed: true, diff: [] }));
    await journal.result(
      'r1',
      result('#7', { key: 'line 7', outcome: 'invalid', error: { message: 'bad', class: 'invalid' } }),
    );
    expect(await l.getResult('r1', 'a')).toBeUndefined(); // queued, not committed yet
    await journal.flush();
    expect(await l.getResult('r1', 'a')).toEqual(result('a'));
    expect(await l.getResult('r1', '#7')).toEqual(
      result('#7', { key: 'line 7', outcome: 'invalid', error: { message: 'bad', class: 'invalid' } }),
    );
    expect(await l.getResult('r1', 'zz')).toBeUndefined();
    expect(await l.countResults('r1')).toEqual({
      ...emptyCounts(),
      changed: 1,
      ok: 1,
      invalid: 1,
      absorbed: 1,
    });
    await l.close();
  });

  it('once effects: the same history, state for state, in every implementation', async () => {
    const l = make();
    const { journal, effects } = session(l);
    await l.insertRun(run('r1'));
    expect(await effects.get('a', 'mail')).toBeUndefined();
    await journal.event({ runId: 'r1', key: 'a', kind: 'retry', at: 1 });
    await effects.intent('r1', 'a', 'mail', 'to a@x');
    expect(await effects.get('a', 'mail')).toEqual({
      task: 'accounts',
      key: 'a',
      effect: 'mail',
      state: 'intent',
      runId: 'r1',
      intentAt: 10_000,
      detail: 'to a@x',
    });
    expect((await effects.listInDoubt()).map((e) => e.key)).toEqual(['a']);
    await effects.done('r1', 'a', 'mail');
    // A second intent after done changes nothing and writes no history.
    await effects.intent('r2', 'a', 'mail');
    expect(await effects.get('a', 'mail')).toEqual({
      task: 'accounts',
      key: 'a',
      effect: 'mail',
      state: 'done',
      runId: 'r1',
      intentAt: 10_000,
      doneAt: 10_001,
      detail: 'to a@x',
    });
    expect(await effects.listInDoubt()).toEqual([]);
    await effects.intent('r1', 'b', 'mail');
    await effects.abandon('r1', 'b', 'mail', 'connect ECONNREFUSED');
    expect(await effects.get('b', 'mail')).toBeUndefined();
    await effects.intent('r1', 'c', 'mail');
    await effects.settle((await effects.get('c', 'mail'))!, 'done', 'ops@host');
    await effects.intent('r1', 'd', 'mail');
    await effects.settle((await effects.get('d', 'mail'))!, 'retry', 'ops@host');
    expect(await effects.get('d', 'mail')).toBeUndefined();
    expect((await effects.get('c', 'mail'))?.state).toBe('done');
    await journal.flush();
    expect(await l.events({})).toEqual([
      { runId: 'r1', key: 'a', kind: 'retry', at: 1 },
      { runId: 'r1', key: 'a', step: 'mail', kind: 'effect-intent', detail: 'to a@x', at: 10_000 },
      { runId: 'r1', key: 'a', step: 'mail', kind: 'effect-done', at: 10_001 },
      { runId: 'r1', key: 'b', step: 'mail', kind: 'effect-intent', at: 10_002 },
      {
        runId: 'r1',
        key: 'b',
        step: 'mail',
        kind: 'effect-abandoned',
        detail: 'connect ECONNREFUSED',
        at: 10_003,
      },
      { runId: 'r1', key: 'c', step: 'mail', kind: 'effect-intent', at: 10_004 },
      { runId: 'r1', key: 'c', step: 'mail', kind: 'resolved', detail: 'done by ops@host', at: 10_005 },
      { runId: 'r1', key: 'd', step: 'mail', kind: 'effect-intent', at: 10_006 },
      { runId: 'r1', key: 'd', step: 'mail', kind: 'resolved', detail: 'retry by ops@host', at: 10_007 },
    ]);
    expect(await l.events({ key: 'b' })).toHaveLength(2);
    await l.close();
  });

  it('idempotency keys remember the first payload hash', async () => {
    const l = make();
    const claim = (hash: string) =>
      l.claimIdempotencyKey({ task: 'accounts', key: 'a', idempotencyKey: 'k1', payloadHash: hash, at: 1 });
    expect(await claim('p1')).toBe('p1');
    expect(await claim('p1')).toBe('p1');
    expect(await claim('p2')).toBe('p1');
    await l.close();
  });

  it("keeps a run's keys and hands them back in order, in chunks, whatever their number", async () => {
    const l = make();
    const keys = new Uint32Array(2 * 20_000).map((_, i) => (i * 2654435761) >>> 0);
    for (const [runId, list] of [
      ['r1', keys],
      ['r2', new Uint32Array(0)],
      ['r3', keys.subarray(0, 6)],
    ] as const) {
      await l.putRunKeys(runId, list);
      const chunks: Uint32Array[] = [];
      expect(await l.runKeys(runId, (c) => chunks.push(c.slice()))).toBe(true);
      expect(Uint32Array.from(chunks.flatMap((c) => [...c]))).toEqual(list);
      if (list.length > 0) expect(chunks.every((c) => c.length > 0 && c.length % 2 === 0)).toBe(true);
    }
    await l.putRunKeys('r1', keys.subarray(0, 4));
    const again: number[] = [];
    await l.runKeys('r1', (c) => again.push(...c));
    expect(again).toEqual([...keys.subarray(0, 4)]);
    expect(await l.runKeys('nope', () => expect.unreachable())).toBe(false);
    // What the visitor throws is its own error, not a ledger fault, and the ledger reads on.
    const own = new RangeError('Array buffer allocation failed');
    await expect(
      l.runKeys('r1', () => {
        throw own;
      }),
    ).rejects.toBe(own);
    expect(await l.runKeys('r3', () => {})).toBe(true);
    await l.close();
  });

  it('a commit that fails in the background is kept and thrown by the next write and flush', async () => {
    const l = make();
    const clock = tickingClock();
    let fire: (() => void) | undefined;
    clock.schedule = (_ms, fn) => {
      fire = fn;
      return () => {};
    };
    const failing: Ledger = Object.create(l, {
      commit: {
        value: async () =>
          Promise.reject(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })),
      },
    });
    const journal = new Journal(failing, clock, 'the-ledger');
    const heard: string[] = [];
    journal.onFailure = (err) => heard.push(err.message);
    await journal.result('r1', result('a'));
    fire?.();
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual(['the ledger the-ledger could not record outcomes: database or disk is full']);
    await expect(journal.result('r1', result('b'))).rejects.toMatchObject({ kind: 'ledger' });
    await expect(journal.flush()).rejects.toThrow(/database or disk is full/);
    await l.close();
  });
});

describe('SqliteLedger on disk', () => {
  it('creates 0600 files in WAL mode, batches with synchronous=NORMAL and the rest FULL, and survives reopening', async () => {
    const dir = tempDir('idem-ledger-');
    const path = join(dir, 'state', 'ledger.db');
    const l = new SqliteLedger(path);
    const { journal } = session(l);
    await l.insertRun(run('r1'));
    await journal.result('r1', result('a'));
    await journal.flush();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
    expect(l.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(l.db.pragma('synchronous', { simple: true })).toBe(1); // the last write was a batch
    await session(l).effects.intent('r1', 'a', 'mail');
    expect(l.db.pragma('synchronous', { simple: true })).toBe(2); // a once intent is durable at once
    await l.close();
    const again = new SqliteLedger(path);
    expect(await again.getResult('r1', 'a')).toEqual(result('a'));
    expect(again.db.pragma('integrity_check', { simple: true })).toBe('ok');
    await again.close();
  });

  it('keeps the events history append-only', async () => {
    const path = join(tempDir('idem-ledger-'), 'ledger.db');
    const l = new SqliteLedger(path);
    await l.commit({
      results: [],
      events: [
        { runId: 'r1', key: 'a', kind: 'apply', attempt: 1, at: 1 },
        { runId: 'r1', key: 'a', kind: 'retry', attempt: 1, at: 2 },
      ],
    });
    await l.close();
    const db = new Database(path);
    expect(db.prepare('SELECT kind FROM events ORDER BY id').all()).toEqual([
      { kind: 'apply' },
      { kind: 'retry' },
    ]);
    expect(() => db.prepare("UPDATE events SET kind = 'x'").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM events').run()).toThrow(/append-only/);
    db.close();
  });

  it('commits a once intent durably at once, without waiting for a batch', async () => {
    const path = join(tempDir('idem-ledger-'), 'ledger.db');
    const l = new SqliteLedger(path);
    await session(l).effects.intent('r1', 'a', 'mail');
    const other = new Database(path, { readonly: true });
    expect(other.prepare('SELECT state FROM effects').get()).toEqual({ state: 'intent' });
    other.close();
    await l.close();
  });

  it('upgrades a version 2 ledger: a run kept in one blob of keys is read back the same', async () => {
    const path = join(tempDir('idem-ledger-'), 'ledger.db');
    const keys = new Uint32Array(2 * 10_000).map((_, i) => (i * 2246822519) >>> 0);
    // Past 1 MiB a chunk is read as a BLOB, not as hex: 150,000 keys are 1.2 MB.
    const many = new Uint32Array(2 * 150_000).map((_, i) => (i * 2654435761) >>> 0);
    await new SqliteLedger(path).close();
    // The version 2 table, as that version wrote it: one row a run.
    const db = new Database(path);
    db.exec(
      'DROP TABLE run_key_chunks; CREATE TABLE run_keys (run_id TEXT PRIMARY KEY, hashes BLOB NOT NULL)',
    );
    db.prepare('INSERT INTO run_keys VALUES (?, ?)').run('r1', Buffer.from(keys.buffer));
    db.prepare('INSERT INTO run_keys VALUES (?, ?)').run('r2', Buffer.from(many.buffer));
    db.pragma('user_version = 2');
    db.close();
    const l = new SqliteLedger(path);
    expect(l.db.pragma('user_version', { simple: true })).toBe(3);
    for (const [runId, list] of [
      ['r1', keys],
      ['r2', many],
    ] as const) {
      const back: Uint32Array[] = [];
      expect(await l.runKeys(runId, (c) => back.push(c.slice()))).toBe(true);
      expect(Uint32Array.from(back.flatMap((c) => [...c]))).toEqual(list);
    }
    expect(l.db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'run_keys'`).get()).toEqual({
      n: 0,
    });
    await l.close();
  });

  it('upgrades a version 2 ledger made before its keys table existed', async () => {
    const path = join(tempDir('idem-ledger-'), 'ledger.db');
    await new SqliteLedger(path).close();
    const db = new Database(path);
    db.exec('DROP TABLE run_key_chunks; DROP TABLE finished');
    db.pragma('user_version = 2');
    db.close();
    const l = new SqliteLedger(path);
    expect(l.db.pragma('user_version', { simple: true })).toBe(3);
    await l.putRunKeys('r1', new Uint32Array([1, 2]));
    expect(await l.runKeys('r1', () => {})).toBe(true);
    expect(await l.finishedLines('r1')).toEqual([]);
    await l.close();
  });

  it('a write that fails is a LedgerError naming the file', async () => {
    const path = join(tempDir('idem-ledger-'), 'ledger.db');
    const l = new SqliteLedger(path);
    l.db.exec(
      `CREATE TRIGGER fail_results BEFORE INSERT ON results BEGIN SELECT RAISE(ABORT, 'disk I/O error (injected)'); END`,
    );
    await l.insertRun(run('r1'));
    await expect(
      l.commit({ results: [{ runId: 'r1', result: result('a') }], events: [] }),
    ).rejects.toMatchObject({
      kind: 'ledger',
      message: `ledger ${path}: cannot record outcomes: disk I/O error (injected)`,
    });
    await l.close();
  });
});
