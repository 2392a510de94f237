/**
 * The core benchmark's task: one step that finds nothing to do, so the run
 * measures idem itself (reading, keying, the engine, the ledger) and nothing else.
 * Env: NOOP_INPUT, the CSV (columns id,name,team); NOOP_KILL_AT=N makes the process
 * SIGKILL itself when its step checks its N-th record (the `--resume` figure).
 */
import { csv, defineTask } from 'idem';

const killAt = Number(process.env.NOOP_KILL_AT ?? 0);
let checked = 0;

export default defineTask({
  name: 'noop',
  source: csv(process.env.NOOP_INPUT ?? 'noop.csv', { fields: ['id', 'name', 'team'] }),
  key: 'id',
  concurrency: 16,
  steps: [
    {
      name: 'noop',
      check: () => {
        if (killAt > 0 && ++checked === killAt) process.kill(process.pid, 'SIGKILL');
        return undefined;
      },
      apply: () => {},
    },
  ],
});
