/**
 * Test helper process for the lock tests. Usage: holder.ts <mode> <dir> [task]
 *
 * - `lock`: takes the task's lock (socket and file) as host `child-host`, prints `held`, holds it until killed.
 * - `file-only`: the same with the file lock alone (a holder on another host or network namespace).
 * - `sqlite`: a bare `BEGIN EXCLUSIVE` on the lock file with no record and no socket (what a
 *   racing contender is for an instant), printing `held`; released when a `release` line comes on
 *   stdin, printing `released`.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { lockFileName, SqliteLock } from '../../../src/lock/sqlite-lock.ts';

const [mode, dir, task = 'accounts'] = process.argv.slice(2) as [string, string, string | undefined];
if (mode === 'sqlite') {
  const db = new Database(join(dir, lockFileName(task)));
  db.pragma('busy_timeout = 0');
  db.exec('BEGIN EXCLUSIVE');
  console.log('held');
  process.stdin.on('data', (d) => {
    if (!String(d).includes('release') || !db.open) return;
    db.exec('ROLLBACK');
    db.close();
    console.log('released');
    process.stdin.destroy();
  });
} else {
  const got = await new SqliteLock(dir, { socket: mode !== 'file-only' }).acquire(
    { pid: process.pid, host: 'child-host', runId: 'r-child', task, since: Date.now() },
    { waitMs: 0, onNote: (m) => console.log(`note: ${m}`) },
  );
  console.log(got.acquired ? 'held' : 'refused');
  setInterval(() => {}, 1000);
}
