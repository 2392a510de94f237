import {
  closeSync,
  constants,
  existsSync,
  lstatSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { assertPrivateFile } from './state-trust.ts';

/**
 * The clean-close stamp: `ledger.db.clean` (0600) says that the last process to
 * close the ledger closed it properly, and what the file looked like then (size,
 * mtime, inode). At open, a missing or stale stamp (a crash, a kill, a file
 * changed since) means the ledger is checked with `PRAGMA quick_check` before
 * use; the open removes the stamp, so a run that dies leaves none behind.
 */
const stampOf = (path: string) => `${path}.clean`;

function fingerprint(path: string): string {
  const st = lstatSync(path);
  return JSON.stringify({ size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
}

/** Whether the ledger at `path` was closed cleanly and not changed since; removes the stamp either way. */
export function takeCleanStamp(path: string): boolean {
  const stamp = stampOf(path);
  if (!assertPrivateFile(stamp)) return false;
  let clean = false;
  try {
    clean = readFileSync(stamp, 'utf8').trim() === fingerprint(path) && !existsSync(`${path}-wal`);
  } catch {
    clean = false;
  }
  unlinkSync(stamp);
  return clean;
}

/**
 * Writes the stamp after the ledger's connection closed, when it was the last
 * one (SQLite removed the -wal on its final checkpoint). Best effort: a stamp
 * that cannot be written only costs a check at the next open.
 */
export function writeCleanStamp(path: string): void {
  if (existsSync(`${path}-wal`) || !existsSync(path)) return;
  const stamp = stampOf(path);
  try {
    if (assertPrivateFile(stamp)) unlinkSync(stamp);
    const fd = openSync(
      stamp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      writeSync(fd, `${fingerprint(path)}\n`);
    } finally {
      closeSync(fd);
    }
  } catch {
    try {
      unlinkSync(stamp);
    } catch {
      // nothing was written
    }
  }
}
