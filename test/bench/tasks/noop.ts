/**
 * The core benchmark's task: one step that finds nothing to do, so the run
 * measures idem itself (reading, keying, the engine, the ledger) and nothing else.
 * Env: NOOP_INPUT, the CSV (columns id,name,team).
 */
import { csv, defineTask } from 'idem';

export default defineTask({
  name: 'noop',
  source: csv(process.env.NOOP_INPUT ?? 'noop.csv', { fields: ['id', 'name', 'team'] }),
  key: 'id',
  concurrency: 16,
  steps: [{ name: 'noop', check: () => undefined, apply: () => {} }],
});
