/**
 * Test helper process: takes a task's lock under a given host name and holds
 * it until killed, printing `held`. Usage: hold-lock.ts <lock dir> <task> <host>
 * (the host of another machine stands for a holder this host cannot check).
 */
import { hostname } from 'node:os';
import { SqliteLock } from '../../../src/lock/sqlite-lock.ts';

const [dir, task, host] = process.argv.slice(2) as [string, string, string];
// A holder on another host shares only the lock file with this one, not the socket.
const got = await new SqliteLock(dir, { socket: host === hostname() }).acquire(
  { pid: process.pid, host, runId: 'r-20261124-020000-abcd', task, since: Date.now() },
  { waitMs: 0 },
);
console.log(got.acquired ? 'held' : 'refused');
setInterval(() => {}, 1000);
