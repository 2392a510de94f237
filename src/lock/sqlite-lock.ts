import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AcquireResult, Lock, LockHolder } from './lock.ts';

const POLL_MS = 200;

/** Makes a task name safe as a file name. */
export function lockFileName(task: string): string {
  return `${task.replace(/[^A-Za-z0-9._-]/g, '_')}.lock`;
}

/**
 * The lock is an open `BEGIN EXCLUSIVE` transaction on a small SQLite file per
 * task. SQLite takes it with fcntl locks on POSIX and LockFileEx on Windows, so
 * the operating system drops it the moment the holder dies (kill -9 included):
 * no stale timeout, no PID reuse trap. The holder's details sit beside it in a
 * JSON file, readable while the lock is held.
 */
export class SqliteLock implements Lock {
  constructor(private readonly dir: string) {}

  private paths(task: string) {
    const db = join(this.dir, lockFileName(task));
    return { db, info: `${db}.json` };
  }

  readHolder(task: string): LockHolder | undefined {
    try {
      return JSON.parse(readFileSync(this.paths(task).info, 'utf8')) as LockHolder;
    } catch {
      return undefined;
    }
  }

  private writeHolder(holder: LockHolder): void {
    const { info } = this.paths(holder.task);
    const tmp = `${info}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(holder)}\n`, { mode: 0o600 });
    renameSync(tmp, info);
  }

  private tryOnce(holder: LockHolder): Database.Database | undefined {
    const { db: path } = this.paths(holder.task);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
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
      throw err;
    }
    this.writeHolder(holder);
    return db;
  }

  async acquire(
    holder: LockHolder,
    opts: { waitMs: number; signal?: AbortSignal; onWait?: (holder: LockHolder | undefined) => void },
  ): Promise<AcquireResult> {
    const deadline = Date.now() + Math.max(0, opts.waitMs);
    let told = false;
    for (;;) {
      const db = this.tryOnce(holder);
      if (db) {
        const { info } = this.paths(holder.task);
        return {
          acquired: true,
          handle: {
            update: (h) => this.writeHolder(h),
            release: async () => {
              rmSync(info, { force: true });
              if (db.open) {
                if (db.inTransaction) db.exec('ROLLBACK');
                db.close();
              }
            },
          },
        };
      }
      const current = this.readHolder(holder.task);
      if (Date.now() >= deadline || opts.signal?.aborted) return { acquired: false, holder: current };
      if (!told) {
        opts.onWait?.(current);
        told = true;
      }
      await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))));
    }
  }
}
