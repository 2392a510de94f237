import { PermanentError } from '../../core/errors.ts';
import { type Step, type UpsertDiff, upsertStep } from '../../core/step.ts';
import {
  connectionOf,
  type SqlConnection,
  type SqlContext,
  type SqlStepOptions,
  type SqlValue,
} from './connection.ts';
import { classify } from './errors.ts';
import { checkColumns, sameValue } from './identifiers.ts';
import { definedValues, describeKey, keyOf, selectByKey, upsertRow } from './statements.ts';

/**
 * Options for {@link upsert}.
 * @example sql.upsert('accounts', ['id'], row, { name: 'account', secret: ['password_hash'] })
 */
export interface UpsertRowOptions extends SqlStepOptions {
  /**
   * Columns whose values are never printed (`+password_hash: <secret>`), and written only when the row is created.
   * @example secret: ['password_hash']
   */
  secret?: string[];
  /**
   * The `secret` columns are written when the row is created and left alone
   * after (never compared: a stored hash would differ on every run); `true`
   * compares and rewrites them on every run (a rotation). @default false
   */
  rotateSecrets?: boolean;
}

/**
 * Reads the one row with this key, or `undefined`; refuses a key that matches several rows.
 * @example const row = await readRow(ctx.sql, 'accounts', ['email'], { id: 'u1' });
 */
export async function readRow(
  conn: SqlConnection,
  table: string,
  columns: readonly string[],
  key: Record<string, SqlValue>,
): Promise<Record<string, unknown> | undefined> {
  const { sql, params } = selectByKey(conn.dialect, table, columns, key);
  const rows = await conn.query(sql, params);
  if (rows.length > 1) {
    throw new PermanentError(
      `table ${table}: ${describeKey(key)} matches several rows; the key columns need a UNIQUE constraint`,
    );
  }
  return rows[0];
}

/**
 * {@link upsert} on its own connection, `opts.connection`, instead of `ctx.sql`:
 * the step needs nothing from the task's context.
 * @example sql.upsert('staff', ['id'], { id: r.id, name: r.name }, { connection: hr })
 */
export function upsert(
  table: string,
  keyColumns: string[],
  row: Record<string, SqlValue | undefined>,
  opts: UpsertRowOptions & { connection: SqlConnection },
): Step<unknown, unknown, UpsertDiff<Record<string, SqlValue>>>;
/**
 * Ensures a row holds these values: `check` reads the current row and reports
 * the columns that differ (`+email: a@x` for a new row, `~email: a@x -> b@x`);
 * `apply` runs `INSERT ... ON CONFLICT (<keyColumns>) DO UPDATE`, so a stale
 * check (another worker inserted the row meanwhile) cannot create a duplicate.
 * Columns set to `undefined` are left alone; `null` means NULL. The key
 * columns need a PRIMARY KEY or UNIQUE constraint.
 *
 * The connection is `ctx.sql`: the task's `connect` returns `{ sql: sql.sqlite(setup, file) }`.
 *
 * @example
 * steps: (r) => [
 *   sql.upsert('accounts', ['id'], { id: r.id, login: r.login, email: r.email }),
 * ]
 */
export function upsert(
  table: string,
  keyColumns: string[],
  row: Record<string, SqlValue | undefined>,
  opts?: UpsertRowOptions,
): Step<unknown, SqlContext, UpsertDiff<Record<string, SqlValue>>>;
export function upsert(
  table: string,
  keyColumns: string[],
  row: Record<string, SqlValue | undefined>,
  opts: UpsertRowOptions = {},
): Step<unknown, unknown, UpsertDiff<Record<string, SqlValue>>> {
  checkColumns(table, keyColumns, row);
  const values = definedValues(row);
  const key = keyOf(keyColumns, values);
  const name = opts.name ?? `upsert ${table}`;
  return upsertStep<unknown, unknown, Record<string, SqlValue>>({
    name,
    classify,
    equals: sameValue,
    ...(opts.secret ? { secret: opts.secret } : {}),
    ...(opts.rotateSecrets ? { rotateSecrets: true } : {}),
    desired: () => values,
    read: async (_record, ctx) =>
      (await readRow(connectionOf(ctx, opts, name), table, Object.keys(values), key)) as
        | Record<string, SqlValue>
        | undefined,
    async write(_record, ctx) {
      const conn = connectionOf(ctx, opts, name);
      const keep = opts.rotateSecrets ? [] : (opts.secret ?? []);
      const { sql, params } = upsertRow(conn.dialect, table, keyColumns, values, { update: true, keep });
      await conn.execute(sql, params);
    },
  });
}
