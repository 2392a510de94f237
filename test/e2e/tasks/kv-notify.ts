/**
 * The kv test task plus a `once` effect: a line appended to KV_OUTBOX per
 * record, exactly once across runs. For the history of an effect in doubt and
 * its resolution (crash it with IDEM_CRASH_AT=effect-done:notify).
 */
import { appendFileSync } from 'node:fs';
import { defineTask, once } from 'idem';
import kv from './kv.ts';

type Row = { id: string; value: string };

export default defineTask({
  ...kv,
  name: 'kv-notify',
  connect: kv.connect!,
  steps: [
    ...(kv.steps as []),
    once('notify', (r: Row) => {
      appendFileSync(process.env.KV_OUTBOX as string, `${r.id}\n`);
    }),
  ],
});
