import { type Diff, removed } from '../../core/diff.ts';
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
import { countByKey, deleteByKey, describeKey } from './statements.ts';

/**
 * {@link ensureAbsentRow} on its own connection, `opts.connection`, instead of
 * `ctx.sql`: the step needs nothing from the task's context.
 * @example sql.ensureAbsentRow('staff', { id: key }, { connection: hr })
 */
export function ensureAbsentRow(
  table: string,
  key: Record<string, SqlValue>,
  opts: SqlStepOptions & { connection: SqlConnection },
): Step<unknown, unknown, Diff>;
/**
 * Ensures no row of `ctx.sql` has this key. Destructive: `check` reports `-row: id=u1` and
 * one deletion per matching row, which the deletion guard (`maxDeletes`)
 * counts before anything is deleted.
 *
 * @example
 * prune: { existing: ..., steps: (key) => [sql.ensureAbsentRow('accounts', { id: key })] }
 */
export function ensureAbsentRow(
  table: string,
  key: Record<string, SqlValue>,
  opts?: SqlStepOptions,
): Step<unknown, SqlContext, Diff>;
export function ensureAbsentRow(
  table: string,
  key: Record<string, SqlValue>,
  opts: SqlStepOptions = {},
): Step<unknown, unknown, Diff> {
  const keyColumns = Object.keys(key);
  checkColumns(table, keyColumns, key);
  const name = opts.name ?? `absent row ${table}`;
  return {
    name,
    classify,
    destructive: true,
    async check(_record, ctx) {
      const conn = connectionOf(ctx, opts, name);
      const { sql, params } = countByKey(conn.dialect, table, key);
      const rows = await conn.query(sql, params);
      const n = Number(rows[0]?.n ?? 0);
      if (n === 0) return undefined;
      return { changes: [removed('row', describeKey(key))], deletes: n };
    },
    async apply(_record, ctx) {
      const conn = connectionOf(ctx, opts, name);
      const { sql, params } = deleteByKey(conn.dialect, table, key);
      await conn.execute(sql, params);
    },
  };
}
