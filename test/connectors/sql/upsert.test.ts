import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SqlConnection } from '../../../src/connectors/sql/connection.ts';
import { quoteIdentifier } from '../../../src/connectors/sql/identifiers.ts';
import { ensureAbsentRow, ensureRow, sqlite, upsert } from '../../../src/connectors/sql/index.ts';
import { formatChange } from '../../../src/core/diff.ts';
import { makeEnv } from '../../support/step-env.ts';
import { engineFor, tempDir } from '../helpers.ts';

const SCHEMA =
  'CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, login TEXT NOT NULL, email TEXT, active INTEGER)';

let dir: string;
let cleanup: () => void;
let file: string;
let conn: SqlConnection;
/** The cleanups `sql.sqlite` registered, as the engine runs them when the run ends. */
let closers: (() => unknown)[];
beforeEach(() => {
  ({ dir, cleanup } = tempDir('sql'));
  file = join(dir, 'app.db');
  closers = [];
  conn = sqlite({ taskDir: dir, onClose: (fn) => closers.push(fn) }, 'app.db', { init: SCHEMA });
});
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  cleanup();
});

/** Rows changed by this connection so far: SQLite's own write counter. */
const writes = async (c: SqlConnection) => Number((await c.query('SELECT total_changes() AS n'))[0]?.n);
const rows = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `u${i + 1}`,
    login: `user${i + 1}`,
    email: `user${i + 1}@x.test`,
  }));
const step = (r: Record<string, string>) =>
  upsert('accounts', ['id'], { id: r.id, login: r.login, email: r.email, active: true });

describe('sql.sqlite', () => {
  it('opens a relative file in the task folder, and registers its own close', async () => {
    expect(conn.description).toBe(file);
    expect(closers).toHaveLength(1);
    await conn.execute('INSERT INTO accounts (id, login) VALUES (?, ?)', ['u1', 'ada']);
    expect(existsSync(file)).toBe(true);
    for (const close of closers.splice(0)) await close();
    await expect(conn.query('SELECT 1')).rejects.toThrow(/was closed/);
  });

  it('the deprecated sqlite(file, options) still opens the file it names; the task closes it', async () => {
    const old = sqlite(join(dir, 'old.db'), { init: SCHEMA });
    expect(old.description).toBe(join(dir, 'old.db'));
    await old.execute('INSERT INTO accounts (id, login) VALUES (?, ?)', ['u1', 'ada']);
    await old.close();
    expect(existsSync(join(dir, 'old.db'))).toBe(true);
  });
});

describe('sql.upsert against a real SQLite file', () => {
  it('creates rows, then a rerun is ok with zero writes (total_changes unchanged)', async () => {
    const engine = engineFor({ sql: conn }, (r) => [step(r)]);
    const first = await engine.run(rows(10));
    expect(first.summary.counts).toMatchObject({ changed: 10, ok: 0, failed: 0 });
    expect(first.reporter.records[0]?.diff[0]?.changes.map(formatChange)).toEqual([
      '+id: u1',
      '+login: user1',
      '+email: user1@x.test',
      '+active: true',
    ]);
    expect(await writes(conn)).toBe(10);

    const second = await engine.run(rows(10));
    expect(second.summary.counts).toMatchObject({ changed: 0, ok: 10 });
    expect(await writes(conn)).toBe(10);
    expect(await conn.query('SELECT count(*) AS n FROM accounts')).toEqual([{ n: 10 }]);
  });

  it('reports exactly the changed columns as ~col: old -> new and updates only that row', async () => {
    const engine = engineFor({ sql: conn }, (r) => [step(r)]);
    await engine.run(rows(3));
    const before = await writes(conn);
    const changed = rows(3).map((r) => (r.id === 'u2' ? { ...r, email: 'new@x.test' } : r));
    const run = await engine.run(changed);
    expect(run.summary.counts).toMatchObject({ changed: 1, ok: 2 });
    const u2 = run.reporter.records.find((r) => r.key === 'u2');
    expect(u2?.diff[0]?.changes.map(formatChange)).toEqual(['~email: user2@x.test -> new@x.test']);
    expect(await writes(conn)).toBe(before + 1);
    expect(await conn.query("SELECT email FROM accounts WHERE id = 'u2'")).toEqual([{ email: 'new@x.test' }]);
  });

  it('a dry run on a fresh machine plans every row and creates nothing, not even the file', async () => {
    const engine = engineFor({ sql: conn }, (r) => [step(r)]);
    const dry = await engine.run(rows(5), { dryRun: true });
    expect(dry.summary.counts).toMatchObject({ changed: 5 });
    expect(existsSync(file)).toBe(false);
    expect(existsSync(dir) && existsSync(join(dir, 'app.db-journal'))).toBe(false);
  });

  it('a dry run against an existing database writes nothing', async () => {
    const engine = engineFor({ sql: conn }, (r) => [step(r)]);
    await engine.run(rows(3));
    const before = await writes(conn);
    const dry = await engine.run(
      rows(4).map((r) => ({ ...r, email: `changed-${r.email}` })),
      { dryRun: true },
    );
    expect(dry.summary.counts).toMatchObject({ changed: 4 });
    expect(await writes(conn)).toBe(before);
    expect(await conn.query('SELECT count(*) AS n FROM accounts')).toEqual([{ n: 3 }]);
  });

  it('apply is safe with a stale check: a row inserted meanwhile is updated, not duplicated', async () => {
    const s = step({ id: 'u1', login: 'ada', email: 'ada@x.test' });
    const env = makeEnv();
    const diff = await s.check({}, { sql: conn }, env);
    expect(diff?.create).toBe(true);
    const other = new Database(file);
    other.exec(SCHEMA);
    other.prepare("INSERT INTO accounts (id, login, email) VALUES ('u1', 'someone', 'old@x.test')").run();
    other.close();
    await s.apply({}, { sql: conn }, diff!, env);
    expect(await conn.query('SELECT id, login, email, active FROM accounts')).toEqual([
      { id: 'u1', login: 'ada', email: 'ada@x.test', active: 1 },
    ]);
    expect(await s.check({}, { sql: conn }, env)).toBeUndefined();
  });

  it('binds values: quotes and SQL in record values are stored verbatim', async () => {
    const evil = `x'); DROP TABLE accounts; --`;
    const engine = engineFor({ sql: conn }, (r) => [step(r)]);
    const run = await engine.run([{ id: 'u1', login: evil, email: "O'Brien@x.test" }]);
    expect(run.summary.counts.changed).toBe(1);
    expect(await conn.query('SELECT login, email FROM accounts')).toEqual([
      { login: evil, email: "O'Brien@x.test" },
    ]);
  });

  it('validates and quotes identifiers', () => {
    expect(quoteIdentifier('accounts')).toBe('"accounts"');
    expect(quoteIdentifier('main.accounts', { qualified: true })).toBe('"main"."accounts"');
    for (const bad of ['accounts; DROP TABLE x', 'a"b', '1abc', '', 'a b', 'main.accounts']) {
      expect(() => quoteIdentifier(bad)).toThrow(/invalid SQL identifier/);
    }
    expect(() => upsert('accounts', ['id'], { id: 'u1', 'email = 1; --': 'x' })).toThrow(
      /invalid SQL identifier/,
    );
    expect(() => upsert('accounts x', ['id'], { id: 'u1' })).toThrow(/invalid SQL identifier/);
  });

  it('a row without a key value makes the record invalid', async () => {
    const engine = engineFor({ sql: conn }, (r) => [
      upsert('accounts', ['login'], { id: r.id, login: r.login }),
    ]);
    const run = await engine.run([{ id: 'u1', login: '' }]);
    expect(run.reporter.records[0]?.outcome).toBe('invalid');
    expect(run.reporter.records[0]?.error?.message).toMatch(/key column login has no value/);
  });

  it('a key without a UNIQUE constraint is a clear permanent failure', async () => {
    const engine = engineFor({ sql: conn }, (r) => [
      upsert('accounts', ['login'], { id: r.id, login: r.login }),
    ]);
    const run = await engine.run([{ id: 'u1', login: 'ada' }]);
    expect(run.reporter.records[0]?.outcome).toBe('failed');
    expect(run.reporter.records[0]?.error?.message).toMatch(/ON CONFLICT clause does not match/);
    expect(run.reporter.records[0]?.attempts).toBe(1);
  });

  it('hides secret columns in the diff', async () => {
    const s = upsert(
      'accounts',
      ['id'],
      { id: 'u1', login: 'ada', email: 'hidden@x.test' },
      { secret: ['email'] },
    );
    const diff = await s.check({}, { sql: conn }, makeEnv());
    expect(diff?.changes.map(formatChange)).toContain('+email: <secret>');
  });

  it('a secret column is written on create only: the target may store it otherwise, and a rerun changes nothing', async () => {
    const withSecret = (r: Record<string, string>, opts = {}) =>
      upsert(
        'accounts',
        ['id'],
        { id: r.id, login: r.login, email: 'initial-pw' },
        { secret: ['email'], ...opts },
      );
    const engine = engineFor({ sql: conn }, (r) => [withSecret(r)]);
    const first = await engine.run(rows(2));
    expect(first.summary.counts.changed).toBe(2);
    expect(first.reporter.records[0]?.diff[0]?.changes).toContainEqual({
      op: '+',
      field: 'email',
      to: '<secret>',
      secret: true,
    });
    // The application stores it its own way (as a hash would be): a comparison would differ on every run.
    await conn.execute(`UPDATE accounts SET email = 'stored-as-hash'`, []);
    const second = await engine.run(rows(2));
    expect(second.summary.counts).toMatchObject({ changed: 0, ok: 2 });
    // Another column changes: the row is updated, the secret is left as the target keeps it.
    const renamed = await engine.run(rows(2).map((r) => ({ ...r, login: `${r.login}-x` })));
    expect(renamed.summary.counts.changed).toBe(2);
    expect(renamed.reporter.records[0]?.diff[0]?.changes.map(formatChange)).toEqual([
      '~login: user1 -> user1-x',
    ]);
    expect(await conn.query(`SELECT DISTINCT email FROM accounts`)).toEqual([{ email: 'stored-as-hash' }]);
    // A rotation is asked for explicitly, and still never shows the values.
    const rotate = engineFor({ sql: conn }, (r) => [withSecret(r, { rotateSecrets: true })]);
    const rotated = await rotate.run(rows(1));
    expect(rotated.reporter.records[0]?.diff[0]?.changes.map(formatChange)).toEqual([
      '~login: user1-x -> user1',
      '~email: <secret> -> <secret>',
    ]);
  });
});

describe('sql.ensureRow and sql.ensureAbsentRow', () => {
  it('ensureRow creates a missing row and leaves an existing one as it is', async () => {
    const engine = engineFor({ sql: conn }, (r) => [
      ensureRow('accounts', ['id'], { id: r.id, login: r.login, email: r.email }),
    ]);
    expect((await engine.run(rows(2))).summary.counts.changed).toBe(2);
    const before = await writes(conn);
    const again = await engine.run(rows(2).map((r) => ({ ...r, email: 'other@x.test' })));
    expect(again.summary.counts).toMatchObject({ changed: 0, ok: 2 });
    expect(await writes(conn)).toBe(before);
    expect(await conn.query("SELECT email FROM accounts WHERE id = 'u1'")).toEqual([
      { email: 'user1@x.test' },
    ]);
  });

  it('ensureAbsentRow deletes, counts toward the deletion guard, and is ok once gone', async () => {
    const seed = engineFor({ sql: conn }, (r) => [step(r)]);
    await seed.run(rows(3));
    const remove = engineFor({ sql: conn }, (r) => [ensureAbsentRow('accounts', { id: r.id ?? '' })]);
    const s = ensureAbsentRow('accounts', { id: 'u1' });
    expect(s.destructive).toBe(true);
    const diff = await s.check({}, { sql: conn }, makeEnv());
    expect(diff).toMatchObject({ deletes: 1 });
    expect(diff?.changes.map(formatChange)).toEqual(['-row: id=u1']);

    const refused = await remove.run(rows(3), { maxDeletes: { count: 1 }, concurrency: 1 });
    expect(refused.summary.status).toBe('refused');
    expect(await conn.query('SELECT count(*) AS n FROM accounts')).toEqual([{ n: 2 }]);

    const run = await remove.run(rows(3));
    expect(run.summary.counts).toMatchObject({ changed: 2, ok: 1 });
    expect(await conn.query('SELECT count(*) AS n FROM accounts')).toEqual([{ n: 0 }]);
    const before = await writes(conn);
    expect((await remove.run(rows(3))).summary.counts).toMatchObject({ ok: 3, changed: 0 });
    expect(await writes(conn)).toBe(before);
  });
});
