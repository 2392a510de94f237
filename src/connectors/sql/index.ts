/**
 * The `sql` connector: rows in a SQL database, reconciled with `INSERT ... ON CONFLICT`.
 *
 * @example
 * import { defineTask, csv, sql } from 'idem';
 * export default defineTask({
 *   name: 'app-accounts',
 *   source: csv('accounts.csv'),
 *   key: 'id',
 *   connect: (setup) => ({ sql: sql.sqlite(setup, 'app.db', { init: SCHEMA }) }),
 *   steps: (r) => [sql.upsert('accounts', ['id'], { id: r.id, email: r.email })],
 * });
 */
export type { SqlConnection, SqlContext, SqlStepOptions, SqlValue } from './connection.ts';
export { classifySql } from './deprecated.ts';
export { ensureAbsentRow } from './ensure-absent-row.ts';
export { type EnsureRowOptions, ensureRow } from './ensure-row.ts';
export { classify } from './errors.ts';
export { type SqliteOptions, sqlite } from './sqlite-connection.ts';
export { type UpsertRowOptions, upsert } from './upsert.ts';
