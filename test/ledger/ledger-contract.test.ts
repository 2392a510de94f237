import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { Ledger, RunInfo } from '../../src/core/ledger.ts';
import { emptyCounts, type RecordResult } from '../../src/core/outcome.ts';
import { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import { SqliteLedger } from '../../src/ledger/sqlite-ledger.ts';

const run = (id: string, over: Partial<RunInfo> = {}): RunInfo => ({
  id,
  task: 'accounts',
  startedAt: Date.now(),
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

const implementations: [string, () => Ledger][] = [
  ['MemoryLedger', () => new MemoryLedger()],
  ['SqliteLedger', () => new SqliteLedger(join(mkdtempSync(join(tmpdir(), 'idem-ledger-')), 'ledger.db'))],
];

describe.each(implementations)('Ledger contract: %s', (_name, make) => {
  it('keeps runs and finds the unfinished one, ignoring dry runs and finished runs', async () => {
    const l = make();
    await l.startRun(run('r1'));
    await l.finishRun('r1', 'succeeded', emptyCounts());
    expect(await l.findUnfinishedRun('accounts')).toBeUndefined();
    await l.startRun(run('r2'));
    await l.finishRun('r2', 'aborted', emptyCounts(), 'aborted: x');
    await l.startRun(run('r3', { dryRun: true }));
    expect((await l.findUnfinishedRun('accounts'))?.id).toBe('r2');
    await l.reopenRun('r2', 99, 'h2');
    expect(await l.getRun('r2')).toMatchObject({ status: 'running', pid: 99, host: 'h2' });
    expect(await l.findUnfinishedRun('other')).toBeUndefined();
    await l.close();
  });

  it('stores results per run and counts them, absorbed included', async () => {
    const l = make();
    await l.startRun(run('r1'));
    await l.writeResult('r1', result('a'));
    await l.writeResult('r1', result('b', { outcome: 'ok', absorbed: true, diff: [] }));
    await l.writeResult(
      'r1',
      result('#7', { key: 'line 7', outcome: 'invalid', error: { message: 'bad', class: 'invalid' } }),
    );
    await l.flush();
    expect(await l.getResult('r1', 'a')).toEqual(result('a'));
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

  it('once effects: intent, then done; done is never turned back into intent', async () => {
    const l = make();
    await l.startRun(run('r1'));
    expect(await l.getEffect('accounts', 'a', 'mail')).toBeUndefined();
    await l.effectIntent('accounts', 'a', 'mail', 'r1');
    expect((await l.getEffect('accounts', 'a', 'mail'))?.state).toBe('intent');
    expect((await l.listInDoubt('accounts')).map((e) => e.key)).toEqual(['a']);
    await l.effectDone('accounts', 'a', 'mail', 'r1');
    await l.effectIntent('accounts', 'a', 'mail', 'r1');
    expect((await l.getEffect('accounts', 'a', 'mail'))?.state).toBe('done');
    expect(await l.listInDoubt('accounts')).toEqual([]);
    await l.effectIntent('accounts', 'b', 'mail', 'r1');
    await l.effectClear('accounts', 'b', 'mail');
    expect(await l.getEffect('accounts', 'b', 'mail')).toBeUndefined();
    await l.close();
  });

  it('idempotency keys remember the first payload hash', async () => {
    const l = make();
    expect(await l.claimIdempotencyKey('accounts', 'a', 'k1', 'p1')).toBe('p1');
    expect(await l.claimIdempotencyKey('accounts', 'a', 'k1', 'p1')).toBe('p1');
    expect(await l.claimIdempotencyKey('accounts', 'a', 'k1', 'p2')).toBe('p1');
    await l.close();
  });
});

describe('SqliteLedger on disk', () => {
  it('creates 0600 files in WAL mode with synchronous=FULL, and survives reopening', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idem-ledger-'));
    const path = join(dir, 'state', 'ledger.db');
    const l = new SqliteLedger(path);
    await l.startRun(run('r1'));
    await l.writeResult('r1', result('a'));
    await l.flush();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
    expect(l.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(l.db.pragma('synchronous', { simple: true })).toBe(2);
    await l.close();
    const again = new SqliteLedger(path);
    expect(await again.getResult('r1', 'a')).toEqual(result('a'));
    expect(again.db.pragma('integrity_check', { simple: true })).toBe('ok');
    await again.close();
  });

  it('keeps the events history append-only', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'idem-ledger-')), 'ledger.db');
    const l = new SqliteLedger(path);
    await l.appendEvent({ runId: 'r1', key: 'a', kind: 'apply', attempt: 1, at: 1 });
    await l.appendEvent({ runId: 'r1', key: 'a', kind: 'retry', attempt: 1, at: 2 });
    await l.flush();
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
    const path = join(mkdtempSync(join(tmpdir(), 'idem-ledger-')), 'ledger.db');
    const l = new SqliteLedger(path);
    await l.effectIntent('accounts', 'a', 'mail', 'r1');
    const other = new Database(path, { readonly: true });
    expect(other.prepare('SELECT state FROM effects').get()).toEqual({ state: 'intent' });
    other.close();
    await l.close();
  });
});
