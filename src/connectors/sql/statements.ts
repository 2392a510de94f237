/**
 * The statements the SQL steps run, built from validated, quoted identifiers and
 * bound values. `INSERT ... ON CONFLICT` is the same in SQLite and PostgreSQL.
 */
import type { SqlDialect, SqlValue } from './connection.ts';
import { marker, quoteIdentifier } from './identifiers.ts';

export interface Statement {
  sql: string;
  params: SqlValue[];
}

function where(dialect: SqlDialect, key: Record<string, SqlValue>, offset = 0): Statement {
  const cols = Object.keys(key);
  return {
    sql: cols.map((c, i) => `${quoteIdentifier(c)} = ${marker(dialect, offset + i)}`).join(' AND '),
    params: cols.map((c) => key[c] as SqlValue),
  };
}

/** `SELECT <columns> FROM <table> WHERE <key> LIMIT 2` (two, to see a non-unique key). */
export function selectByKey(
  dialect: SqlDialect,
  table: string,
  columns: readonly string[],
  key: Record<string, SqlValue>,
): Statement {
  const w = where(dialect, key);
  const list = columns.length > 0 ? columns.map((c) => quoteIdentifier(c)).join(', ') : '1 AS "present"';
  return {
    sql: `SELECT ${list} FROM ${quoteIdentifier(table, { qualified: true })} WHERE ${w.sql} LIMIT 2`,
    params: w.params,
  };
}

/**
 * `INSERT ... ON CONFLICT (<key>) DO UPDATE SET c = excluded.c ... WHERE <something differs>`.
 * A stale check cannot duplicate the row, and a row that is already right is not rewritten.
 * With `update: false` it is `DO NOTHING` (create-only).
 */
export function upsertRow(
  dialect: SqlDialect,
  table: string,
  keyColumns: readonly string[],
  row: Record<string, SqlValue>,
  opts: { update: boolean; keep?: readonly string[] },
): Statement {
  const cols = Object.keys(row);
  const quoted = cols.map((c) => quoteIdentifier(c));
  const values = cols.map((_, i) => marker(dialect, i));
  const target = keyColumns.map((c) => quoteIdentifier(c)).join(', ');
  const keep = new Set(opts.keep ?? []);
  const rest = cols.filter((c) => !keyColumns.includes(c) && !keep.has(c)).map((c) => quoteIdentifier(c));
  let action = 'DO NOTHING';
  if (opts.update && rest.length > 0) {
    const set = rest.map((c) => `${c} = excluded.${c}`).join(', ');
    const differs = rest.map((c) => `${c} IS DISTINCT FROM excluded.${c}`).join(' OR ');
    action = `DO UPDATE SET ${set} WHERE ${differs}`;
  }
  return {
    sql:
      `INSERT INTO ${quoteIdentifier(table, { qualified: true })} (${quoted.join(', ')}) ` +
      `VALUES (${values.join(', ')}) ON CONFLICT (${target}) ${action}`,
    params: cols.map((c) => row[c] as SqlValue),
  };
}

/** `SELECT count(*) AS n FROM <table> WHERE <key>`. */
export function countByKey(dialect: SqlDialect, table: string, key: Record<string, SqlValue>): Statement {
  const w = where(dialect, key);
  return {
    sql: `SELECT count(*) AS n FROM ${quoteIdentifier(table, { qualified: true })} WHERE ${w.sql}`,
    params: w.params,
  };
}

/** `DELETE FROM <table> WHERE <key>`. */
export function deleteByKey(dialect: SqlDialect, table: string, key: Record<string, SqlValue>): Statement {
  const w = where(dialect, key);
  return {
    sql: `DELETE FROM ${quoteIdentifier(table, { qualified: true })} WHERE ${w.sql}`,
    params: w.params,
  };
}

/** Drops `undefined` values (not managed) from a row. */
export function definedValues(row: Readonly<Record<string, SqlValue | undefined>>): Record<string, SqlValue> {
  const out: Record<string, SqlValue> = {};
  for (const [k, v] of Object.entries(row)) if (v !== undefined) out[k] = v;
  return out;
}

/** The key columns' values of a row. */
export function keyOf(
  keyColumns: readonly string[],
  row: Record<string, SqlValue>,
): Record<string, SqlValue> {
  const key: Record<string, SqlValue> = {};
  for (const c of keyColumns) key[c] = row[c] as SqlValue;
  return key;
}

/** `id=u1, tenant=3`, for messages and diffs. */
export function describeKey(key: Record<string, SqlValue>): string {
  return Object.entries(key)
    .map(([k, v]) => `${k}=${v instanceof Uint8Array ? '<bytes>' : String(v)}`)
    .join(', ');
}
