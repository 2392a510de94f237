import Database from 'better-sqlite3';

/**
 * The "target" of the kv test task (test/e2e/tasks/kv.ts): one row per record
 * in `kv`, and every apply logged in `applies`, so writes can be counted.
 */
export const KV_SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (id TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS applies (n INTEGER PRIMARY KEY, id TEXT NOT NULL, value TEXT NOT NULL);
`;

/** Creates an empty kv target (WAL) at `path`, as the e2e tests and the bench start from. */
export function createKvTarget(path: string): string {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(KV_SCHEMA);
  db.close();
  return path;
}
