import { added, type Diff, diffOf } from '../../core/diff.ts';
import type { Step } from '../../core/step.ts';
import {
  connectionOf,
  type SqlConnection,
  type SqlContext,
  type SqlStepOptions,
  type SqlValue,
} from './connection.ts';
import { classify } from './errors.ts';
import { checkColumns } from './identifiers.ts';
import { definedValues, keyOf, upsertRow } from './statements.ts';
import { readRow } from './upsert.ts';

/**
 * Options for {@link ensureRow}.
 * @example sql.ensureRow('credentials', ['account_id'], row, { secret: ['initial_password'] })
 */
export interface EnsureRowOptions extends SqlStepOptions {
  /** Columns whose values are never printed. */
  secret?: string[];
}

/**
 * {@link ensureRow} on its own connection, `opts.connection`, instead of `ctx.sql`:
 * the step needs nothing from the task's context.
 * @example sql.ensureRow('quotas', ['account_id'], { account_id: r.id, gigabytes: 10 }, { connection: quotas })
 */
export function ensureRow(
  table: string,
  keyColumns: string[],
  row: Record<string, SqlValue | undefined>,
  opts: EnsureRowOptions & { connection: SqlConnection },
): Step<unknown, unknown, Diff>;
/**
 * Ensures a row with this key exists in `ctx.sql`, and creates it with these
 * values if not; an existing row is left as it is (create-only, for values set
 * once, such as an initial password). `apply` runs `INSERT ... ON CONFLICT DO
 * NOTHING`. Use {@link upsert} to keep the values in line as well.
 *
 * @example
 * sql.ensureRow('quotas', ['account_id'], { account_id: r.id, gigabytes: 10 })
 */
export function ensureRow(
  table: string,
  keyColumns: string[],
  row: Record<string, SqlValue | undefined>,
  opts?: EnsureRowOptions,
): Step<unknown, SqlContext, Diff>;
export function ensureRow(
  table: string,
  keyColumns: string[],
  row: Record<string, SqlValue | undefined>,
  opts: EnsureRowOptions = {},
): Step<unknown, unknown, Diff> {
  checkColumns(table, keyColumns, row);
  const values = definedValues(row);
  const key = keyOf(keyColumns, values);
  const secret = new Set(opts.secret ?? []);
  const name = opts.name ?? `ensure row ${table}`;
  return {
    name,
    classify,
    async check(_record, ctx) {
      const current = await readRow(connectionOf(ctx, opts, name), table, keyColumns, key);
      if (current) return undefined;
      return diffOf({
        creates: 1,
        changes: Object.entries(values)
          .filter(([, v]) => v !== null)
          .map(([col, v]) => added(col, v, { secret: secret.has(col) })),
      });
    },
    async apply(_record, ctx) {
      const conn = connectionOf(ctx, opts, name);
      const { sql, params } = upsertRow(conn.dialect, table, keyColumns, values, { update: false });
      await conn.execute(sql, params);
    },
  };
}
