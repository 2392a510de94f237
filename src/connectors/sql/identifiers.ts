/**
 * Table and column names are never bound as parameters, so they are validated
 * against a strict pattern and double-quoted. Values are always bound.
 */
import { InvalidRecordError, PermanentError } from '../../core/errors.ts';
import type { SqlDialect, SqlValue } from './connection.ts';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Validates and quotes an identifier; `schema.table` is allowed for tables.
 *
 * @example
 * quoteIdentifier('accounts') // '"accounts"'
 * quoteIdentifier('app.accounts', { qualified: true }) // '"app"."accounts"'
 */
export function quoteIdentifier(name: string, opts: { qualified?: boolean } = {}): string {
  const parts = opts.qualified ? name.split('.') : [name];
  if (parts.length > 2 || parts.some((p) => !IDENTIFIER.test(p))) {
    throw new PermanentError(
      `invalid SQL identifier ${JSON.stringify(name)}: use letters, digits and _ (not starting with a digit)` +
        (opts.qualified ? ', optionally schema.table' : ''),
    );
  }
  return parts.map((p) => `"${p}"`).join('.');
}

/** The parameter marker for the n-th (0-based) bound value. */
export function marker(dialect: SqlDialect, index: number): string {
  return dialect === 'postgres' ? `$${index + 1}` : '?';
}

/** Turns a value into one the drivers bind (booleans → 1/0). */
export function bindable(value: SqlValue | undefined): Exclude<SqlValue, boolean> {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

/**
 * Whether a stored value equals a desired one, the way a column stores it:
 * `5` equals `'5'` (column affinity), `true` equals `1`, bytes compare by content.
 */
export function sameValue(stored: unknown, desired: unknown): boolean {
  const a = normalize(stored);
  const b = normalize(desired);
  if (a === null || b === null) return a === b;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return (
      a instanceof Uint8Array &&
      b instanceof Uint8Array &&
      a.length === b.length &&
      a.every((x, i) => x === b[i])
    );
  }
  return String(a) === String(b);
}

function normalize(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v;
}

/** Validates the table, the columns and the key columns (which must have values). */
export function checkColumns(
  table: string,
  keyColumns: readonly string[],
  row: Readonly<Record<string, SqlValue | undefined>>,
): void {
  quoteIdentifier(table, { qualified: true });
  if (keyColumns.length === 0) throw new PermanentError(`table ${table}: at least one key column is needed`);
  for (const col of Object.keys(row)) quoteIdentifier(col);
  for (const key of keyColumns) {
    quoteIdentifier(key);
    const v = row[key];
    if (v === undefined || v === null || v === '') {
      throw new InvalidRecordError(`table ${table}: key column ${key} has no value`);
    }
  }
}
