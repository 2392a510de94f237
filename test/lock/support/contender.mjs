/**
 * A lean lock contender for the chaos suite: plain Node importing the BUILT lock
 * (dist/, `npm run build` first). Usage: node contender.mjs <lock dir> <task> [--go | --rounds <n> [--file-only]]
 *
 * Prints `ready`, waits for `go` on stdin (the barrier that starts a pair together;
 * `--go` starts at once), tries the lock once (no --wait) and prints one JSON line:
 * `{"acquired":true}` or `{"acquired":false,"ms":<time to the refusal>,"holder":{...}}`.
 * A holder keeps the lock until `release` arrives on stdin (so its rival really meets
 * it held), then releases it and prints `released`. `node contender.mjs <dir> <task> --rounds <n>`
 * does that n times (a pair of processes meeting night after night, each round with a new
 * socket and a new SQLite connection), then exits.
 */
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import { SqliteLock } from '../../../dist/lock/sqlite-lock.js';

const [dir, task, go, count, fileOnly] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async (want) => {
  for (;;) {
    const { value, done } = await lines.next();
    if (done) process.exit(3);
    if (value.trim() === want) return;
  }
};
process.stdout.write('ready\n');
const rounds = go === '--go' ? 1 : Number(count ?? 1);
// --file-only: the SQLite file lock alone, as on macOS or between containers sharing a volume.
const lock = () => new SqliteLock(dir, { socket: fileOnly !== '--file-only' });
for (let round = 0; round < rounds; round++) {
  if (go !== '--go') await next('go');
  const started = performance.now();
  const got = await lock().acquire(
    { pid: process.pid, host: hostname(), runId: `r-${process.pid}-${round}`, task, since: Date.now() },
    { waitMs: 0, onNote: (m) => process.stdout.write(`${JSON.stringify({ note: m })}\n`) },
  );
  const ms = performance.now() - started;
  process.stdout.write(
    `${JSON.stringify(got.acquired ? { acquired: true, ms } : { acquired: false, ms, holder: got.holder ?? null })}\n`,
  );
  await next('release');
  if (got.acquired) await got.handle.release();
  process.stdout.write('released\n');
}
process.exit(0);
