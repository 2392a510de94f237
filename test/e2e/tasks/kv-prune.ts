/**
 * The kv test task with a prune phase: keys in the target that the input no
 * longer lists are deleted, at most one per run (maxDeletes), so a truncated
 * input makes the run `refused`.
 */
import type Database from 'better-sqlite3';
import { defineTask, removed } from 'idem';
import kv from './kv.ts';

type Ctx = { db: Database.Database };

export default defineTask({
  ...kv,
  name: 'kv-prune',
  connect: kv.connect!,
  maxDeletes: { count: 1 },
  prune: {
    existing: ({ db }: Ctx) => (db.prepare('SELECT id FROM kv').all() as { id: string }[]).map((r) => r.id),
    steps: () => [
      {
        name: 'kv.delete',
        destructive: true,
        check: (r: { key: string }, { db }: Ctx) =>
          db.prepare('SELECT 1 FROM kv WHERE id = ?').get(r.key)
            ? { changes: [removed('row')], deletes: 1 }
            : undefined,
        apply: (r: { key: string }, { db }: Ctx) => db.prepare('DELETE FROM kv WHERE id = ?').run(r.key),
      },
    ],
  },
});
