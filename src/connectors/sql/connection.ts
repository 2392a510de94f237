/**
 * The narrow shape the SQL steps talk to. `SqliteConnection` implements it over
 * better-sqlite3; a PostgreSQL implementation (over `pg`) can follow with the
 * same steps, because they only build standard `INSERT ... ON CONFLICT` SQL.
 */
import { PermanentError } from '../../core/errors.ts';

/**
 * A value a statement can bind. Booleans are stored as 1/0; `undefined` in a
 * step's row means "leave this column alone".
 * @example const row: Record<string, SqlValue> = { id: 'u1', active: true, quota: 10, note: null };
 */
export type SqlValue = string | number | bigint | boolean | null | Uint8Array;

/**
 * A row as a statement returns it.
 * @example const [row]: SqlRow[] = await conn.query('SELECT email FROM accounts WHERE id = ?', ['u1']);
 */
export type SqlRow = Record<string, unknown>;

/**
 * The SQL flavour, for the few places where the syntax differs (parameter markers).
 * @example const marker = conn.dialect === 'postgres' ? '$1' : '?';
 */
export type SqlDialect = 'sqlite' | 'postgres';

/**
 * A database connection as the SQL steps need it: read rows, run a write, close.
 *
 * @example
 * const rows = await conn.query('SELECT email FROM accounts WHERE id = ?', ['u1']);
 * const { changes } = await conn.execute('DELETE FROM accounts WHERE id = ?', ['u1']);
 */
export interface SqlConnection {
  readonly dialect: SqlDialect;
  /** What to show the operator: a file path or a host/database. */
  readonly description: string;
  /** Runs a read-only statement and returns its rows. It never writes. */
  query(sql: string, params?: readonly SqlValue[]): Promise<SqlRow[]>;
  /** Runs one write statement, atomically, and returns how many rows it changed. */
  execute(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  close(): Promise<void>;
}

/**
 * What a task's `connect` returns so that the SQL steps find their connection.
 * @example
 * interface Ctx extends sql.SqlContext {}
 * connect: (setup): Ctx => ({ sql: sql.sqlite(setup, 'app.db') })
 */
export interface SqlContext {
  sql: SqlConnection;
}

/**
 * Options every SQL step takes.
 * @example sql.upsert('accounts', ['id'], row, { name: 'account' })
 */
export interface SqlStepOptions {
  /** The step's name in the output and the ledger. @default e.g. `upsert accounts` */
  name?: string;
  /**
   * The connection to use instead of `ctx.sql` (for a task with several databases).
   * @example sql.upsert('staff', ['id'], row, { connection: ctx.hr })
   */
  connection?: SqlConnection;
}

/** Finds the step's connection: the explicit one, else `ctx.sql`. */
export function connectionOf(ctx: unknown, opts: SqlStepOptions, step: string): SqlConnection {
  if (opts.connection) return opts.connection;
  const conn = (ctx as Partial<SqlContext> | undefined)?.sql;
  if (!conn || typeof conn.query !== 'function') {
    throw new PermanentError(
      `step ${step} needs a SQL connection: return { sql: sql.sqlite(setup, 'app.db') } from the task's connect, ` +
        'or pass { connection } to the step',
    );
  }
  return conn;
}
