/**
 * Test helper process: takes a task's lock under a given host name and holds
 * it until killed, printing `held`. Usage: hold-lock.ts <lock dir> <task> <host>
 * (the host of another machine stands for a holder this host cannot check).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { lockFileName, SqliteLock } from '../../../src/lock/sqlite-lock.ts';

const [dir, task, host] = process.argv.slice(2) as [string, string, string];
const holder = { pid: process.pid, host, runId: 'r-20261124-020000-abcd', task, since: Date.now() };
if (host === hostname()) {
  const got = await new SqliteLock(dir).acquire(holder, { waitMs: 0 });
  console.log(got.acquired ? 'held' : 'refused');
} else {
  // A dead client's lock that a network filesystem's lock server still keeps: the
  // file lock and its record only (no socket on this host, no live idem behind it).
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const db = new Database(join(dir, lockFileName(task)));
  db.exec('BEGIN EXCLUSIVE');
  writeFileSync(join(dir, `${lockFileName(task)}.json`), `${JSON.stringify(holder)}\n`, { mode: 0o600 });
  console.log('held');
}
setInterval(() => {}, 1000);
