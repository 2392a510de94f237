import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { PermanentError, UsageError } from '../../core/errors.ts';
import type { SetupContext } from '../../core/task.ts';
import type { SqlConnection, SqlRow, SqlValue } from './connection.ts';
import { bindable } from './identifiers.ts';

/**
 * The subset of better-sqlite3 that we need.
 * @example const db: SqliteDatabase = new Database('app.db');
 */
export interface SqliteDatabase {
  prepare(sql: string): {
    readonly reader: boolean;
    all(...params: unknown[]): unknown[];
    run(...params: unknown[]): { changes: number };
  };
  exec(sql: string): unknown;
  close(): unknown;
}

/**
 * Options for {@link sqlite}.
 * @example sql.sqlite('app.db', { init: SCHEMA, busyTimeoutMs: 10_000, wal: true })
 */
export interface SqliteOptions {
  /**
   * Schema statements (`CREATE TABLE IF NOT EXISTS ...`) run once, before the
   * first write of the run. Until then the tables they create may not exist
   * yet, and reads treat them as empty: a dry run on a fresh machine shows every
   * row as to be created, and creates nothing (not even the database file).
   * @example init: 'CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, email TEXT)'
   */
  init?: string | string[];
  /** How long a statement waits for another writer's lock, in ms. @default 5000 */
  busyTimeoutMs?: number;
  /** Switch the database to WAL when it is first written to. @default false */
  wal?: boolean;
}

/**
 * A SQLite database file as the task's `ctx.sql`. A relative `file` is
 * relative to the task file's folder (`setup.taskDir`); `:memory:` is a private
 * in-memory database. It opens lazily: a read of a file that does not exist
 * yet returns no rows and creates nothing; the first write creates the folder
 * and the file and runs `init`. It closes itself when the run ends (with
 * `setup.onClose`).
 *
 * @example
 * connect: (setup) => ({ sql: sql.sqlite(setup, 'app.db', { init: SCHEMA }) })
 */
export function sqlite(
  setup: Pick<SetupContext, 'taskDir' | 'onClose'>,
  file: string,
  options?: SqliteOptions,
): SqlConnection;
/**
 * @deprecated Pass the task's setup first, `sql.sqlite(setup, file, options)`:
 * then a relative `file` is relative to the task file, and the database closes
 * itself when the run ends. This form resolves `file` against the current
 * folder and leaves closing it to the task.
 * @example sql.sqlite(join(setup.taskDir, 'app.db'), { init: SCHEMA })
 */
export function sqlite(file: string, options?: SqliteOptions): SqlConnection;
export function sqlite(
  setupOrFile: Pick<SetupContext, 'taskDir' | 'onClose'> | string,
  fileOrOptions?: string | SqliteOptions,
  options: SqliteOptions = {},
): SqlConnection {
  if (typeof setupOrFile === 'string') {
    return new SqliteConnection(setupOrFile, typeof fileOrOptions === 'object' ? fileOrOptions : {});
  }
  const file = fileOrOptions;
  if (typeof file !== 'string') throw new UsageError('sql.sqlite(setup, file, options): file must be a path');
  const conn = new SqliteConnection(file === ':memory:' ? file : resolve(setupOrFile.taskDir, file), options);
  setupOrFile.onClose(() => conn.close());
  return conn;
}

/**
 * A {@link SqlConnection} over one better-sqlite3 database; made by {@link sqlite}.
 * @example
 * const conn = new SqliteConnection('/srv/app/app.db', { init: SCHEMA });
 * await conn.execute('UPDATE accounts SET active = ? WHERE id = ?', [false, 'u1']);
 */
export class SqliteConnection implements SqlConnection {
  readonly dialect = 'sqlite' as const;
  readonly description: string;
  private db: SqliteDatabase | undefined;
  private initialized = false;
  private closed = false;
  private readonly file: string;

  /**
   * @param file a path, relative to the current folder, or `:memory:` for a
   *   private in-memory database
   * @param openDatabase opens the database (tests may inject their own)
   */
  constructor(
    file: string,
    private readonly options: SqliteOptions = {},
    private readonly openDatabase: (file: string, timeoutMs: number) => SqliteDatabase = (f, timeout) =>
      new Database(f, { timeout }),
  ) {
    this.file = file === ':memory:' ? file : resolve(file);
    this.description = this.file;
  }

  private get exists(): boolean {
    return this.file === ':memory:' || existsSync(this.file);
  }

  private open(): SqliteDatabase {
    if (this.closed) throw new PermanentError(`the database ${this.file} was closed`);
    this.db ??= this.openDatabase(this.file, this.options.busyTimeoutMs ?? 5000);
    return this.db;
  }

  private initStatements(): string[] {
    const { init } = this.options;
    return init === undefined ? [] : Array.isArray(init) ? init : [init];
  }

  async query(sql: string, params: readonly SqlValue[] = []): Promise<SqlRow[]> {
    if (!this.db && !this.exists) return [];
    const db = this.open();
    try {
      const stmt = db.prepare(sql);
      if (!stmt.reader) throw new PermanentError(`query() only reads; use execute() for: ${sql}`);
      return stmt.all(...params.map(bindable)) as SqlRow[];
    } catch (err) {
      // Tables that `init` creates do not exist before the first write: they are empty.
      const missingTable = /^no such table: /.test((err as Error).message ?? '');
      if (missingTable && !this.initialized && this.initStatements().length > 0) return [];
      throw err;
    }
  }

  async execute(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    const db = this.openForWrite();
    const { changes } = db.prepare(sql).run(...params.map(bindable));
    return { changes };
  }

  private openForWrite(): SqliteDatabase {
    if (!this.db && this.file !== ':memory:') mkdirSync(dirname(this.file), { recursive: true });
    const db = this.open();
    if (!this.initialized) {
      if (this.options.wal) db.exec('PRAGMA journal_mode = WAL');
      const init = this.initStatements();
      if (init.length > 0) {
        db.exec('BEGIN IMMEDIATE');
        try {
          for (const statement of init) db.exec(statement);
          db.exec('COMMIT');
        } catch (err) {
          try {
            db.exec('ROLLBACK');
          } catch {
            // SQLite already rolled back (a failed COMMIT, say).
          }
          throw err;
        }
      }
      this.initialized = true;
    }
    return db;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.db?.close();
    this.db = undefined;
  }
}
