/**
 * A worker process for the concurrency test: checks every key first (all stale
 * "create" diffs), says `ready`, waits for `go` on stdin, then applies them all.
 * Usage: node --import tsx upsert-worker.ts <db-file> <worker-name> <count>
 */
import { createInterface } from 'node:readline';
import { upsert } from '../../../src/connectors/sql/index.ts';
import { SqliteConnection } from '../../../src/connectors/sql/sqlite-connection.ts';
import { makeEnv } from '../../support/step-env.ts';

const [file, worker, count] = process.argv.slice(2) as [string, string, string];
const conn = new SqliteConnection(file, {
  init: 'CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, login TEXT NOT NULL, email TEXT)',
  busyTimeoutMs: 20_000,
});
const ctx = { sql: conn };
const env = makeEnv();
const planned = [];
for (let i = 0; i < Number(count); i++) {
  const step = upsert('accounts', ['id'], { id: `u${i}`, login: `user${i}`, email: `${worker}@x.test` });
  planned.push({ step, diff: await step.check({}, ctx, env) });
}
const creates = planned.filter((p) => p.diff?.create).length;
process.stdout.write(`ready ${creates}\n`);
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line === 'go') break;
let failures = 0;
for (const { step, diff } of planned) {
  try {
    if (diff) await step.apply({}, ctx, diff, env);
  } catch (err) {
    failures++;
    process.stderr.write(`${(err as Error).message}\n`);
  }
}
await conn.close();
process.stdout.write(`done ${failures}\n`);
process.exit(0);
