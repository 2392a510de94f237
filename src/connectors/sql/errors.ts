import type { Classifier } from '../../core/errors.ts';

/**
 * Classifies SQLite errors: a busy or locked database is transient (another
 * writer holds it; the retry re-checks first), a full disk or an I/O error too;
 * constraints, missing tables, read-only files and syntax errors are permanent.
 *
 * @example
 * defineTask({ ..., classify: sql.classify })
 */
export const classify: Classifier = (err) => {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined;
  if (/^SQLITE_(BUSY|LOCKED|IOERR|FULL|PROTOCOL)/.test(code)) return 'transient';
  return 'permanent';
};
