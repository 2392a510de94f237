/** Test helper process: takes a task's lock and holds it until killed. Usage: hold-lock.ts <dir> <task> */
import { SqliteLock } from '../../src/lock/sqlite-lock.ts';

const [dir, task = 'accounts'] = process.argv.slice(2);
const got = await new SqliteLock(dir as string).acquire(
  { pid: process.pid, host: 'child-host', runId: 'r-child', task, since: Date.now() },
  { waitMs: 0 },
);
console.log(got.acquired ? 'held' : 'refused');
setInterval(() => {}, 1000);
