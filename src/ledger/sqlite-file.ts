import Database from 'better-sqlite3';
import { sqliteFault } from './sqlite-fault.ts';
import { assertPrivateFile, preparePrivateDatabase, SQLITE_COMPANIONS } from './state-trust.ts';

/**
 * Opens a SQLite file for the ledger: the folder and the files checked as
 * private first (see state-trust.ts: no symlink, owned by this user, writable by
 * no one else) and created 0700/0600 without following a link; WAL mode and
 * `synchronous=FULL` set explicitly on every open. `existed` says whether the
 * file was there before. Faults are one line with their exit code (sqlite-fault.ts).
 */
export function openSqliteFile(
  path: string,
  opts: { wal: boolean; busyTimeoutMs?: number },
): { db: Database.Database; existed: boolean } {
  const existed = preparePrivateDatabase(path);
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
    if (opts.wal) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // SQLite gives the -wal and -shm the database file's mode; checked, never followed.
    for (const suffix of SQLITE_COMPANIONS) assertPrivateFile(path + suffix);
    return { db, existed };
  } catch (err) {
    db?.close();
    throw sqliteFault(err, path, { what: 'open it', atOpen: true });
  }
}
