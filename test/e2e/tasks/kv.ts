/**
 * A test task over a real SQLite "target" file: one row per record in `kv`, and
 * every apply logged in `applies`, so tests can count writes at the target.
 *
 * Env: KV_TARGET (target db path), KV_INPUT (csv path), KV_FAULT (fault injection:
 * transient:, permanent:, absorbed:, kill:<key>, the last a SIGKILL right after the write),
 * KV_SLOW_MS (sleep in each apply, to kill mid-run), KV_CLOSED_MARKER (a file the
 * task's cleanup writes, to see that cleanups ran).
 */
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { AmbiguousError, added, csv, defineTask, modified, PermanentError, TransientError } from 'idem';
import { KV_SCHEMA } from '../../support/kv-target.ts';

type Row = { id: string; value: string };
const faults = (process.env.KV_FAULT ?? '').split(',').filter(Boolean);
const fired = new Set<string>();
const fault = (kind: string, key: string) => {
  const hit = faults.includes(`${kind}:${key}`) || faults.includes(`${kind}:*`);
  if (!hit || (kind !== 'permanent' && fired.has(`${kind}:${key}`))) return false;
  fired.add(`${kind}:${key}`);
  return true;
};

export default defineTask<Row, { db: Database.Database }>({
  name: 'kv',
  source: csv(process.env.KV_INPUT ?? 'kv.csv'),
  key: 'id',
  validate: (r) => (r.value === 'bad' ? 'value must not be "bad"' : undefined),
  retry: { minDelayMs: 20, maxDelayMs: 50 },
  connect(setup) {
    const db = new Database(process.env.KV_TARGET ?? `${setup.stateDir}/target.db`);
    db.pragma('journal_mode = WAL');
    db.exec(KV_SCHEMA);
    if (process.env.KV_SECRET) setup.secret(process.env.KV_SECRET);
    setup.onClose(() => db.close());
    const marker = process.env.KV_CLOSED_MARKER;
    if (marker) setup.onClose(() => writeFileSync(marker, 'closed\n'));
    return { db };
  },
  steps: [
    {
      name: 'kv.put',
      check(r, { db }) {
        if (fault('transient', r.id)) throw new TransientError(`target busy for ${r.id}`);
        if (fault('permanent', r.id)) throw new PermanentError(`no write access to kv (key ${r.id})`);
        const cur = db.prepare('SELECT value FROM kv WHERE id = ?').get(r.id) as
          | { value: string }
          | undefined;
        if (cur?.value === r.value) return undefined;
        const secret = process.env.KV_SECRET !== undefined;
        return {
          changes: [
            cur ? modified('value', cur.value, r.value, { secret }) : added('value', r.value, { secret }),
          ],
          ...(cur ? {} : { creates: 1 }),
        };
      },
      async apply(r, { db }) {
        const slow = Number(process.env.KV_SLOW_MS ?? 0);
        if (slow > 0) await new Promise((res) => setTimeout(res, slow));
        db.transaction(() => {
          db.prepare(
            'INSERT INTO kv (id, value) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET value = excluded.value',
          ).run(r.id, r.value);
          db.prepare('INSERT INTO applies (id, value) VALUES (?, ?)').run(r.id, r.value);
        })();
        if (fault('absorbed', r.id))
          throw new AmbiguousError(`connection closed before the reply for ${r.id}`);
        // The process dies the moment the write landed, before idem could record it.
        if (fault('kill', r.id)) process.kill(process.pid, 'SIGKILL');
      },
    },
  ],
});
