import { accessSync, constants, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage, type IdemError, kindOf, LedgerError, UsageError } from '../core/errors.ts';

/**
 * What to do with a ledger that SQLite finds damaged, in one sentence (the
 * README's "Reliability" section has the salvage with `sqlite3 .dump`).
 */
export function damagedAdvice(path: string): string {
  return (
    `move it aside (mv ${path} ${path}.damaged) and run again: a new ledger starts, every record is ` +
    `checked against the targets again, and once effects are held in doubt (idem doubts)`
  );
}

/** Bytes free for this user on the file system holding `dir`, or undefined where it cannot be read. */
function freeBytes(dir: string): number | undefined {
  try {
    const fs = statfsSync(dir);
    return Number(fs.bavail) * Number(fs.bsize);
  } catch {
    return undefined;
  }
}

/** `N MiB free` (or KiB) for the file system holding `dir`, or undefined where it cannot be read. */
export function freeSpace(dir: string): string | undefined {
  const bytes = freeBytes(dir);
  if (bytes === undefined) return undefined;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB free`;
  return `${Math.round(bytes / 1024)} KiB free`;
}

/** SQLite may report a full disk as an I/O error (a write to the -shm or -wal that found no room). */
const NEARLY_FULL = 64 * 1024;

/** The errno or SQLite code of an error or of one of its causes. */
function codeOf(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return '';
}

/** Why the folder cannot be written, when the system says so (EROFS, EACCES), else undefined. */
function writeDenied(dir: string): string | undefined {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EROFS' || code === 'EACCES' || code === 'EPERM' ? code : undefined;
  }
}

/**
 * Turns an error from SQLite or the file system about the ledger (or another
 * SQLite file in the state folder, named by `file`) at `path` into one line
 * with a documented exit code:
 * - `usage` (exit 2), only when opening (`atOpen`): a read-only file system,
 *   permission denied; a fault there is the setup's, and nothing ran yet;
 * - `ledger` (exit 4): disk full (with the space left), an I/O error, a damaged
 *   or truncated ledger, and any of the above in the middle of a run, which stops
 *   it at once; the next run after the fix checks every record again.
 * An error that already has a kind passes through unchanged.
 */
export function sqliteFault(
  err: unknown,
  path: string,
  opts: { what?: string; atOpen?: boolean; file?: string } = {},
): IdemError {
  if (kindOf(err) !== undefined) return err as IdemError;
  const code = codeOf(err);
  const dir = dirname(path);
  const why = `(${[code || 'no code', opts.what && `when trying to ${opts.what}`].filter(Boolean).join(', ')})`;
  const file = opts.file ?? 'the ledger';
  // The code is in the message: the line says it all, without SQLite's wording after it.
  const stop = (message: string) => new LedgerError(message);
  const setup = (message: string) =>
    opts.atOpen ? new UsageError(message) : stop(`${message}; the run stopped`);
  const ioError = code.startsWith('SQLITE_IOERR') || code === 'EIO';
  const full = ioError && (freeBytes(dir) ?? Number.POSITIVE_INFINITY) < NEARLY_FULL;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT' || full) {
    const free = freeSpace(dir);
    return stop(
      `the disk holding ${file} ${path} is full${free ? `, ${free}` : ''} ${why}: free some space and run again; records are checked again, nothing is applied twice`,
    );
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    const advice = opts.file
      ? `move it aside (mv ${path} ${path}.damaged) and run again`
      : damagedAdvice(path);
    return stop(`${file} ${path} is damaged: ${errorMessage(err)} ${why}: ${advice}`);
  }
  const denied =
    code === 'EROFS' || code === 'EACCES' || code === 'EPERM'
      ? code
      : code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM'
        ? writeDenied(dir)
        : undefined;
  if (denied === 'EROFS') {
    return setup(
      `the state folder ${dir} is on a read-only file system ${why}: remount it read-write, or pass --state-dir <a writable folder>`,
    );
  }
  if (denied === 'EACCES' || denied === 'EPERM') {
    const where = (err as { path?: unknown }).path;
    return setup(
      `permission denied on ${typeof where === 'string' ? where : path} ${why}: run idem as the owner of ${dir}, or give that user write access (chmod u+rwx ${dir})`,
    );
  }
  if (ioError) return stop(`I/O error on ${file} ${path} ${why}: check the disk, then run again`);
  return new LedgerError(
    `${opts.file ?? 'ledger'} ${path}: cannot ${opts.what ?? 'use it'}: ${errorMessage(err)}`,
    {
      cause: err,
    },
  );
}
