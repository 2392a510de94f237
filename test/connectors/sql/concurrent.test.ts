import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { upsert } from '../../../src/connectors/sql/index.ts';
import { SqliteConnection } from '../../../src/connectors/sql/sqlite-connection.ts';
import { makeEnv } from '../../support/step-env.ts';
import { tempDir } from '../helpers.ts';

const WORKER = fileURLToPath(new URL('./upsert-worker.ts', import.meta.url));
const SCHEMA = 'CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, login TEXT NOT NULL, email TEXT)';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('sql-concurrent'));
});
afterEach(() => cleanup());

describe('two workers upserting the same keys', () => {
  it('two connections with stale checks on one file: one row per key, no errors', async () => {
    const file = join(dir, 'app.db');
    const a = new SqliteConnection(file, { init: SCHEMA });
    const b = new SqliteConnection(file, { init: SCHEMA });
    const env = makeEnv();
    const stepA = upsert('accounts', ['id'], { id: 'u1', login: 'ada', email: 'a@x.test' });
    const stepB = upsert('accounts', ['id'], { id: 'u1', login: 'ada', email: 'b@x.test' });
    const diffA = await stepA.check({}, { sql: a }, env);
    const diffB = await stepB.check({}, { sql: b }, env);
    expect(diffA?.create && diffB?.create).toBe(true);
    await stepA.apply({}, { sql: a }, diffA!, env);
    await stepB.apply({}, { sql: b }, diffB!, env);
    expect(await a.query('SELECT id, email FROM accounts')).toEqual([{ id: 'u1', email: 'b@x.test' }]);
    await a.close();
    await b.close();
  });

  it('two processes, every check stale, applying at the same time: one row per key, no errors', async () => {
    const file = join(dir, 'app.db');
    const n = 300;
    const start = (name: string) =>
      execa(process.execPath, ['--import', 'tsx', WORKER, file, name, String(n)], {
        stdin: 'pipe',
        buffer: false,
      });
    const workers = [start('w1'), start('w2')];
    const ready = workers.map(
      (w) =>
        new Promise<string>((resolve) => {
          let out = '';
          w.stdout?.on('data', (chunk: Buffer) => {
            out += chunk.toString();
            if (out.includes('\n')) resolve(out.trim());
          });
        }),
    );
    const done = workers.map(
      (w) =>
        new Promise<string>((resolve) => {
          let out = '';
          w.stdout?.on('data', (chunk: Buffer) => {
            out += chunk.toString();
          });
          w.on('exit', () => resolve(out));
        }),
    );
    // Both checked every key before any write: all their diffs say "create".
    expect(await Promise.all(ready)).toEqual([`ready ${n}`, `ready ${n}`]);
    for (const w of workers) w.stdin?.write('go\n');
    const outputs = await Promise.all(done);
    await Promise.all(workers);
    for (const out of outputs) expect(out).toContain('done 0');
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT count(*) AS n, count(DISTINCT id) AS d FROM accounts').get()).toEqual({
      n,
      d: n,
    });
    db.close();
  });
});
