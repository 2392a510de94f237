import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from '../core/errors.ts';

/**
 * The state folder is trusted the way ssh trusts `~/.ssh`: it and the files idem
 * keeps in it must belong to the user running idem, be writable by nobody else,
 * and be no symlink; its parent must not let another user swap it (writable by
 * others without the sticky bit). Anything else is refused with a `usage` error
 * (exit 2) naming the path and the fix. Files are created 0600 and folders 0700
 * whatever the umask, and idem never follows a symlink to create or chmod one.
 */

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const DIRECTORY = constants.O_DIRECTORY ?? 0;

function euid(): number | undefined {
  return process.geteuid?.();
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function refuse(path: string, kind: 'folder' | 'file', what: string, fix: string): never {
  throw new UsageError(`refusing the state ${kind} ${path}: ${what}; ${fix}`);
}

/** The owner and the mode a private entry must have; a symlink is refused outright. */
function assertPrivate(path: string, st: Stats, kind: 'folder' | 'file'): void {
  const uid = euid();
  if (st.isSymbolicLink()) {
    refuse(path, kind, 'it is a symlink, which idem never follows', `replace it with a real ${kind}`);
  }
  if (kind === 'folder' ? !st.isDirectory() : !st.isFile()) {
    refuse(path, kind, `it is not a ${kind}`, `move it away`);
  }
  if (uid !== undefined && st.uid !== uid) {
    refuse(
      path,
      kind,
      `it is owned by uid ${st.uid}, not by the user running idem (uid ${uid})`,
      `run idem as its owner, or chown ${uid} ${path}`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    refuse(
      path,
      kind,
      `it is writable by ${st.mode & 0o002 ? 'every user' : 'its group'} (mode ${mode})`,
      // A sticky folder is a shared one by design (/tmp): never advise closing it.
      kind === 'folder' && st.mode & 0o1000
        ? `it is a shared folder (sticky bit): pass a --state-dir of idem's own inside it, or elsewhere (install -d -m 700 /var/lib/idem)`
        : `chmod ${kind === 'folder' ? '700' : '600'} ${path}`,
    );
  }
}

/**
 * Whether group `gid` has no member but user `uid`: nobody else has it as primary
 * group in /etc/passwd, and its member list in /etc/group names nobody else. A
 * group idem cannot find there (NSS, no /etc/group) counts as shared.
 */
export function privateGroup(
  gid: number,
  uid: number | undefined,
  files: { passwd: string; group: string } = { passwd: '/etc/passwd', group: '/etc/group' },
): boolean {
  if (uid === undefined) return false;
  let passwd: string[][];
  let groups: string[][];
  try {
    passwd = readFileSync(files.passwd, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(':'));
    groups = readFileSync(files.group, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(':'));
  } catch {
    return false;
  }
  const me = passwd.find((f) => Number(f[2]) === uid)?.[0];
  const group = groups.find((f) => Number(f[2]) === gid);
  if (me === undefined || group === undefined) return false;
  const others = passwd.some((f) => Number(f[3]) === gid && Number(f[2]) !== uid);
  const members = (group[3] ?? '').split(',').filter((m) => m !== '' && m !== me);
  return !others && members.length === 0;
}

/**
 * Refuses a parent folder that another user could use to swap the state folder:
 * writable by everyone, or by a group other users are in, without the sticky bit,
 * or owned by another user who is not root.
 */
function assertSafeParent(dir: string): void {
  const parent = dirname(dir);
  if (parent === dir) return;
  let st: Stats;
  try {
    st = statSync(parent);
  } catch {
    return; // created below by the caller, as this user
  }
  const uid = euid();
  const sticky = (st.mode & 0o1000) !== 0;
  // Group-writable is safe when the group is this user's own (a user private group, as
  // Debian and Ubuntu give every user, with umask 002): as OpenSSH on Debian allows.
  const groupShared = (st.mode & 0o020) !== 0 && !privateGroup(st.gid, uid);
  const shared = ((st.mode & 0o002) !== 0 || groupShared) && !sticky;
  const foreign = uid !== undefined && st.uid !== uid && st.uid !== 0 && !sticky;
  if (shared || foreign) {
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    refuse(
      dir,
      'folder',
      `its parent ${parent} can be written by another user (owner uid ${st.uid}, mode ${mode}, no sticky bit), who could replace it`,
      `chmod go-w ${parent} (or chmod +t ${parent}), or choose a --state-dir in a private folder`,
    );
  }
}

/** Sets a folder's or file's mode through a descriptor opened without following a symlink. */
function fixMode(path: string, directory: boolean, mode: number): void {
  const fd = openSync(path, constants.O_RDONLY | NOFOLLOW | (directory ? DIRECTORY : 0));
  try {
    const st = fstatSync(fd);
    if ((st.mode & 0o7777) !== mode) fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes sure `dir` is a private folder: created 0700 when missing (with its
 * missing parents), else checked: owned by this user, writable by no one else,
 * not a symlink, in a parent no other user can write. Throws a `usage` error.
 *
 * @example ensurePrivateDir('/var/lib/idem');
 */
export function ensurePrivateDir(dir: string): void {
  assertSafeParent(dir);
  let st = lstatOrUndefined(dir);
  if (!st) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    st = lstatSync(dir);
    assertPrivate(dir, st, 'folder');
    fixMode(dir, true, 0o700);
    return;
  }
  assertPrivate(dir, st, 'folder');
  if ((st.mode & 0o077) !== 0) fixMode(dir, true, 0o700);
}

/**
 * Checks a file idem keeps in the state folder (the ledger, its -wal and -shm,
 * a lock file). Returns false when it does not exist; throws a `usage` error for
 * a symlink, another owner or a mode that lets others write; narrows a
 * readable-by-others mode to 0600 without following a link.
 *
 * @example if (!assertPrivateFile(join(dir, 'ledger.db'))) createPrivateFile(join(dir, 'ledger.db'));
 */
export function assertPrivateFile(path: string): boolean {
  const st = lstatOrUndefined(path);
  if (!st) return false;
  assertPrivate(path, st, 'file');
  if ((st.mode & 0o077) !== 0) fixMode(path, false, 0o600);
  return true;
}

/**
 * Creates an empty file 0600 whatever the umask, never through a symlink
 * (`O_CREAT | O_EXCL | O_NOFOLLOW`); a file that is already there is checked
 * with {@link assertPrivateFile} instead.
 *
 * @example createPrivateFile(join(dir, 'ledger.db'));
 */
export function createPrivateFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      assertPrivateFile(path);
      return;
    }
    throw err;
  }
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

/** The SQLite files of a database at `path` that must be private when present. */
export const SQLITE_COMPANIONS = ['-wal', '-shm'] as const;

/**
 * Checks a SQLite database file and its -wal and -shm before SQLite opens (and
 * would follow) them; creates the database file 0600 when it is missing, setting
 * aside a -wal left without its database (as `<file>.orphaned-wal`).
 * Returns whether the database file existed.
 */
export function preparePrivateDatabase(path: string): boolean {
  ensurePrivateDir(dirname(path));
  const companions = SQLITE_COMPANIONS.filter((suffix) => assertPrivateFile(path + suffix));
  if (assertPrivateFile(path)) return true;
  // A -wal without its database belongs to a file that was moved away (a damaged
  // ledger set aside): kept for a salvage, never mixed into the new ledger.
  for (const suffix of companions) {
    if (suffix === '-wal') renameSync(path + suffix, `${path}.orphaned-wal`);
    else unlinkSync(path + suffix);
  }
  createPrivateFile(path);
  return false;
}
