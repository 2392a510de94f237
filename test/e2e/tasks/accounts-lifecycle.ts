/**
 * A test task for the leavers' lifecycle over a real SQLite target: one account row
 * per record (`status` active or disabled) and a welcome mail sent once, a new file in
 * an outbox folder per mail. Leavers are disabled, deleted after two runs; one who
 * comes back within them is enabled again without a second mail.
 *
 * Env: LC_DIR (the target's folder: accounts.db and outbox/), LC_INPUT (csv: id,name).
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { added, csv, defineTask, modified, once, removed, type Step } from 'idem';

type Row = { id: string; name: string };
type Ctx = { db: Database.Database; outbox: string };
const dir = process.env.LC_DIR ?? '.';

/** A leaver's step: disable (`status`) or delete the row; both destructive. */
function leaver(kind: 'disable' | 'delete', key: string): Step<{ key: string }, Ctx> {
  return {
    name: `account.${kind}`,
    destructive: true,
    check: (_r, { db }) => {
      const row = db.prepare('SELECT status FROM accounts WHERE id = ?').get(key) as
        | { status: string }
        | undefined;
      if (!row) return undefined;
      if (kind === 'delete') return { changes: [removed('account', key)], deletes: 1 };
      return row.status === 'disabled'
        ? undefined
        : { changes: [modified('status', row.status, 'disabled')] };
    },
    apply: (_r, { db }) => {
      if (kind === 'delete') db.prepare('DELETE FROM accounts WHERE id = ?').run(key);
      else db.prepare("UPDATE accounts SET status = 'disabled' WHERE id = ?").run(key);
    },
  };
}

export default defineTask<Row, Ctx>({
  name: 'accounts-lifecycle',
  source: csv(process.env.LC_INPUT ?? 'accounts.csv', { fields: ['id', 'name'] }),
  key: 'id',
  maxDeletes: { count: 3 },
  connect(setup) {
    mkdirSync(dir, { recursive: true });
    const db = new Database(join(dir, 'accounts.db'));
    db.exec(
      'CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL)',
    );
    setup.onClose(() => db.close());
    return { db, outbox: join(dir, 'outbox') };
  },
  steps: [
    {
      name: 'account',
      check: (r, { db }) => {
        const row = db.prepare('SELECT name, status FROM accounts WHERE id = ?').get(r.id) as
          | { name: string; status: string }
          | undefined;
        if (!row) return { changes: [added('account', r.name)], creates: 1 };
        const changes = [
          ...(row.name === r.name ? [] : [modified('name', row.name, r.name)]),
          ...(row.status === 'active' ? [] : [modified('status', row.status, 'active')]),
        ];
        return changes.length > 0 ? { changes } : undefined;
      },
      apply: (r, { db }) => {
        db.prepare(
          "INSERT INTO accounts (id, name, status) VALUES (?, ?, 'active') ON CONFLICT (id) DO UPDATE SET name = excluded.name, status = 'active'",
        ).run(r.id, r.name);
      },
    },
    once('welcome-mail', (r: Row, { outbox }: Ctx) => {
      mkdirSync(outbox, { recursive: true });
      const n = readdirSync(outbox).length;
      writeFileSync(
        join(outbox, `${String(n).padStart(4, '0')}-${r.id}.eml`),
        `To: ${r.name}\r\n\r\nWelcome!\r\n`,
      );
    }),
  ],
  prune: {
    existing: ({ db }) => (db.prepare('SELECT id FROM accounts').all() as { id: string }[]).map((r) => r.id),
    steps: (key) => [leaver('disable', key)],
    lifecycle: { graceRuns: 2, delete: (key) => [leaver('delete', key)] },
  },
});
