import type { AcquireOptions, AcquireResult, Lock, LockHolder } from './lock.ts';

/** The in-memory twin of the lock, for unit tests: one holder per task within a process. */
export class MemoryLock implements Lock {
  readonly holders = new Map<string, LockHolder>();

  async acquire(holder: LockHolder, opts: AcquireOptions): Promise<AcquireResult> {
    const deadline = Date.now() + opts.waitMs;
    while (this.holders.has(holder.task)) {
      if (Date.now() >= deadline) return { acquired: false, holder: this.holders.get(holder.task) };
      await new Promise((r) => setTimeout(r, 10));
    }
    this.holders.set(holder.task, holder);
    return {
      acquired: true,
      handle: {
        update: (h) => {
          this.holders.set(holder.task, h);
        },
        release: async () => {
          this.holders.delete(holder.task);
        },
      },
    };
  }
}
