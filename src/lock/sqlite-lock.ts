import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  type Stats,
  writeFileSync,
} from 'node:fs';
import type { Server } from 'node:net';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { UsageError } from '../core/errors.ts';
import { sqliteFault } from '../ledger/sqlite-fault.ts';
import { type AcquireOptions, type AcquireResult, type Lock, type LockHolder, processAlive } from './lock.ts';
import { askHolder, bindSocket, parseHolder, socketName } from './socket-lock.ts';

const POLL_MS = 200;
/** How long a busy lock file whose holder is not proven is retried before refusing. */
const UNPROVEN_MS = 2_000;
/** How long a socket's holder has to say who it is. */
const ANSWER_MS = 500;
/** How often a holder looks that its lock file is still the one it locked. */
const WATCH_MS = 1_000;

/** Makes a task name safe as a file name. */
export function lockFileName(task: string): string {
  return `${task.replace(/[^A-Za-z0-9._-]/g, '_')}.lock`;
}

export interface SqliteLockOptions {
  /**
   * Also take the abstract socket (Linux). `false`: the file lock alone, which is
   * what a holder on another host or in another network namespace amounts to.
   * @default true
   */
  socket?: boolean;
}

/** What one try found when it did not get the lock. */
interface Busy {
  holder: LockHolder | undefined;
  /** A live holder is known (it answered, or its record names a live process). */
  proven: boolean;
}

interface FileHold {
  db: Database.Database;
  dev: number;
  ino: number;
}

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;

/** `idem run tasks/x.ts --resume`: the holder's command line, for the refusal. */
function commandLine(): string {
  const [, script = 'node', ...args] = process.argv;
  const line = [basename(script).replace(/\.[cm]?[jt]s$/, ''), ...args].join(' ');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** How a fault of the lock file reads: the state folder's faults in one line (sqliteFault). */
const LOCK_FAULT = { what: 'take the lock', atOpen: true, file: 'the lock file' } as const;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One run per task: two locks held together, both dropped by the operating
 * system the moment the holder dies (kill -9 included), so there is no stale
 * timeout and no PID reuse trap.
 *
 * 1. On Linux, an abstract Unix socket (socket-lock.ts): bound atomically, no
 *    path a person can delete, and its holder answers with its details.
 * 2. Everywhere, an open `BEGIN EXCLUSIVE` transaction on a small SQLite file per
 *    task (fcntl locks on POSIX, LockFileEx on Windows). It also keeps apart
 *    processes that do not share the socket namespace (two containers on one
 *    volume, two hosts on a network filesystem).
 *
 * The holder's details also sit beside the file in a JSON record. A busy file
 * whose holder is not proven (no socket answer, no record of a live process:
 * SQLite can turn both of two racing processes away) is retried for up to
 * {@link UNPROVEN_MS} instead of refused. A damaged file is emptied in place.
 */
export class SqliteLock implements Lock {
  private socket: boolean;

  constructor(
    private readonly dir: string,
    opts: SqliteLockOptions = {},
  ) {
    this.socket = (opts.socket ?? true) && process.platform === 'linux';
  }

  private paths(task: string) {
    const db = join(this.dir, lockFileName(task));
    return { db, info: `${db}.json` };
  }

  /** The holder's record file, if it is there and readable. */
  readHolder(task: string): LockHolder | undefined {
    let fd: number;
    try {
      fd = openSync(this.paths(task).info, constants.O_RDONLY | NOFOLLOW);
    } catch {
      return undefined;
    }
    try {
      return parseHolder(readFileSync(fd, 'utf8'));
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  /** The record as proof: it names a live process (or one on another host, which cannot be checked). */
  private busy(task: string): Busy {
    const rec = this.readHolder(task);
    const plausible = rec !== undefined && (rec.host !== hostname() || processAlive(rec.pid));
    return { holder: plausible ? rec : undefined, proven: plausible };
  }

  /** Writes the record 0600 through a new temporary file (never through a planted link), then renames it. */
  private writeHolder(holder: LockHolder): void {
    const { info } = this.paths(holder.task);
    const tmp = `${info}.${process.pid}.tmp`;
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW;
    let fd: number;
    try {
      fd = openSync(tmp, flags, 0o600);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      rmSync(tmp, { force: true }); // a leftover of a killed run with our pid, or a planted link
      fd = openSync(tmp, flags, 0o600);
    }
    try {
      writeFileSync(fd, `${JSON.stringify(holder)}\n`);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, info);
  }

  /**
   * Opens (creating it 0600) the lock file without following a link and returns
   * its identity. The descriptor is closed before SQLite locks the file: closing
   * any descriptor of a file drops the process's fcntl locks on it.
   */
  private openFile(path: string, repair: boolean): Stats {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | NOFOLLOW, 0o600);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ELOOP' || code === 'EMLINK')
        throw new UsageError(
          `the lock file ${path} is a symbolic link; idem does not follow links in its state folder: remove it (rm ${path}) and run again`,
        );
      throw err;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile())
        throw new UsageError(`the lock file ${path} is not a regular file: remove it and run again`);
      if ((st.mode & 0o777) !== 0o600) {
        try {
          fchmodSync(fd, 0o600);
        } catch {
          throw new UsageError(
            `the lock file ${path} belongs to another user (uid ${st.uid}) and is not 0600: remove it and run again as its owner`,
          );
        }
      }
      // Emptied in place, not replaced: every contender keeps meeting on this same file.
      if (repair) ftruncateSync(fd, 0);
      return st;
    } finally {
      closeSync(fd);
    }
  }

  /** One try at the file lock: the held file, or `undefined` when it is busy. */
  private tryFile(task: string, onNote: (m: string) => void): FileHold | undefined {
    const { db: path } = this.paths(task);
    for (let repaired = false; ; repaired = true) {
      const st = this.openFile(path, false);
      // No pragma that reads the file before BEGIN EXCLUSIVE: those would need
      // the shared lock the holder denies.
      const db = new Database(path);
      try {
        db.pragma('busy_timeout = 0');
        db.exec('BEGIN EXCLUSIVE');
      } catch (err) {
        db.close();
        const code = (err as { code?: string }).code ?? '';
        if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return undefined;
        // Garbage in the file: SQLite read it under its shared lock, so no run holds it.
        if (!repaired && (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT'))) {
          const again = this.openFile(path, true);
          if (again.ino === st.ino)
            onNote(
              `the lock file ${path} was damaged (${st.size} bytes that are not an SQLite database); emptied it in place and took the lock`,
            );
          continue;
        }
        throw err;
      }
      // SQLite opened the path itself: make sure it is still the file we checked.
      const now = identity(path);
      if (!now || now.ino !== st.ino || now.dev !== st.dev) {
        db.exec('ROLLBACK');
        db.close();
        if (now?.isSymbolicLink()) this.openFile(path, false); // refuses, naming the link
        return undefined;
      }
      return { db, dev: st.dev, ino: st.ino };
    }
  }

  /** One try at both locks. */
  private async tryOnce(
    current: { holder: LockHolder },
    onNote: (m: string) => void,
  ): Promise<{ file: FileHold; server: Server | undefined } | Busy> {
    const task = current.holder.task;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw sqliteFault(err, this.paths(task).db, LOCK_FAULT);
    }
    let server: Server | undefined;
    if (this.socket) {
      const name = socketName(this.dir, task);
      for (let tries = 0; !server; tries++) {
        const bound = await bindSocket(name, () => `${JSON.stringify(current.holder)}\n`);
        if (bound.state === 'held') server = bound.server;
        else if (bound.state === 'unavailable') {
          this.socket = false;
          break;
        } else {
          const asked = await askHolder(name, ANSWER_MS);
          if (asked.state === 'answered') return { holder: asked.holder, proven: true };
          if (asked.state === 'gone' && tries < 3) continue;
          // Bound, so someone holds it; a stopped holder still has its record.
          return this.busy(task);
        }
      }
    }
    try {
      const file = this.tryFile(task, onNote);
      if (file) return { file, server };
    } catch (err) {
      server?.close();
      throw sqliteFault(err, this.paths(task).db, LOCK_FAULT);
    }
    server?.close();
    return this.busy(task);
  }

  async acquire(holder: LockHolder, opts: AcquireOptions): Promise<AcquireResult> {
    const deadline = Date.now() + Math.max(0, opts.waitMs);
    const current = { holder: holder.command ? holder : { ...holder, command: commandLine() } };
    const onNote = opts.onNote ?? (() => {});
    let unprovenUntil: number | undefined;
    let told = false;
    for (;;) {
      const got = await this.tryOnce(current, onNote);
      if ('file' in got) return { acquired: true, handle: this.hold(current, got.file, got.server, onNote) };
      const now = Date.now();
      if (!got.proven) {
        unprovenUntil ??= now + UNPROVEN_MS;
        if (now < unprovenUntil && !opts.signal?.aborted) {
          // Jittered, so two processes SQLite turned away do not meet again in step.
          await pause(5 + Math.floor(Math.random() * 25));
          continue;
        }
      } else unprovenUntil = undefined;
      if (now >= deadline || opts.signal?.aborted) return { acquired: false, holder: got.holder };
      if (!told) {
        opts.onWait?.(got.holder);
        told = true;
      }
      await pause(Math.min(POLL_MS, Math.max(1, deadline - now)));
    }
  }

  /** The held lock: writes the record, watches the file, releases both halves. */
  private hold(
    current: { holder: LockHolder },
    first: FileHold,
    server: Server | undefined,
    onNote: (m: string) => void,
  ) {
    const task = current.holder.task;
    const { db: path, info } = this.paths(task);
    let file = first;
    try {
      this.writeHolder(current.holder);
    } catch (err) {
      file.db.close();
      server?.close();
      throw sqliteFault(err, info, LOCK_FAULT);
    }
    // Someone may remove the lock file (rm -r locks/) while this run holds it.
    // The socket still keeps runs on this host out; the file is made again and
    // taken, so that runs which share only the file are kept out from here on.
    const watch = setInterval(() => {
      try {
        const now = identity(path);
        if (now && now.ino === file.ino && now.dev === file.dev) {
          if (!identity(info)) this.writeHolder(current.holder);
          return;
        }
        const again = this.tryFile(task, onNote);
        if (again) {
          file.db.close();
          file = again;
          this.writeHolder(current.holder);
          onNote(`the lock file ${path} was removed while this run held it; made it again and holds it`);
        } else {
          clearInterval(watch);
          onNote(
            `the lock file ${path} was removed while this run held it and another process took the new one${server ? '' : ': two runs may be going at once'}`,
          );
        }
      } catch (err) {
        clearInterval(watch);
        onNote(`the lock file ${path} could not be checked: ${(err as Error).message}`);
      }
    }, WATCH_MS);
    watch.unref();
    return {
      update: (h: LockHolder) => {
        const command = h.command ?? current.holder.command;
        current.holder = { ...h, ...(command ? { command } : {}) };
        this.writeHolder(current.holder);
      },
      release: async () => {
        clearInterval(watch);
        rmSync(info, { force: true });
        if (file.db.open) {
          if (file.db.inTransaction) file.db.exec('ROLLBACK');
          file.db.close();
        }
        // The file first, then the socket: whoever binds the socket next finds the file free.
        server?.close();
      },
    };
  }
}

function identity(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
