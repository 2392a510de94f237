import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { describeHolder, type LockHolder } from '../../src/lock/lock.ts';
import { MemoryLock } from '../../src/lock/memory-lock.ts';
import { SqliteLock } from '../../src/lock/sqlite-lock.ts';
import { tempDir } from '../support/temp.ts';

const holder = (pid: number, runId = 'r-1'): LockHolder => ({
  pid,
  host: 'test-host',
  runId,
  task: 'accounts',
  since: Date.now(),
});

/** Starts a separate process that takes the lock and holds it until killed. */
async function holdInChild(dir: string) {
  const root = new URL('../..', import.meta.url).pathname;
  const child = execa(process.execPath, ['--import', 'tsx', 'test/support/hold-lock.ts', dir], {
    reject: false,
    cwd: root,
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) =>
      d.toString().includes('held') ? resolve() : reject(new Error(d.toString())),
    );
    void child.then((r) => reject(new Error(`lock holder exited early: ${r.stderr}`)));
  });
  return { child }; // not `return child`: a subprocess is thenable and would be awaited
}

describe('SqliteLock', () => {
  it('refuses a second holder in another process and names the holder', async () => {
    const dir = tempDir('idem-lock-');
    const { child } = await holdInChild(dir);
    try {
      const got = await new SqliteLock(dir).acquire(holder(process.pid), { waitMs: 0 });
      expect(got.acquired).toBe(false);
      if (!got.acquired) {
        expect(got.holder).toMatchObject({ pid: child.pid, host: 'child-host', runId: 'r-child' });
        expect(describeHolder('accounts', got.holder)).toMatch(
          new RegExp(
            `^task accounts is locked by pid ${child.pid} on host child-host \\(run r-child, started .+\\)$`,
          ),
        );
      }
    } finally {
      child.kill('SIGKILL');
      await child;
    }
    const after = await new SqliteLock(dir).acquire(holder(process.pid), { waitMs: 0 });
    expect(after.acquired).toBe(true);
    if (after.acquired) await after.handle.release();
  });

  it('waits for the lock with --wait, and gets it when the holder dies (kill -9)', async () => {
    const dir = tempDir('idem-lock-');
    const { child } = await holdInChild(dir);
    let waited: LockHolder | undefined;
    const pending = new SqliteLock(dir).acquire(holder(process.pid), {
      waitMs: 20_000,
      onWait: (h) => {
        waited = h;
        child.kill('SIGKILL');
      },
    });
    const got = await pending;
    await child;
    expect(waited?.runId).toBe('r-child');
    expect(got.acquired).toBe(true);
    if (got.acquired) await got.handle.release();
  });

  it('is free again after release, and one process cannot take it twice', async () => {
    const dir = tempDir('idem-lock-');
    const lock = new SqliteLock(dir);
    const a = await lock.acquire(holder(1), { waitMs: 0 });
    expect(a.acquired).toBe(true);
    const b = await lock.acquire(holder(2), { waitMs: 0 });
    expect(b.acquired).toBe(false);
    if (a.acquired) await a.handle.release();
    const c = await lock.acquire(holder(3), { waitMs: 0 });
    expect(c.acquired).toBe(true);
    if (c.acquired) await c.handle.release();
  });
});

describe('MemoryLock (the twin)', () => {
  it('holds one per task', async () => {
    const lock = new MemoryLock();
    const a = await lock.acquire(holder(1), { waitMs: 0 });
    expect((await lock.acquire(holder(2), { waitMs: 0 })).acquired).toBe(false);
    if (a.acquired) await a.handle.release();
    expect((await lock.acquire(holder(2), { waitMs: 0 })).acquired).toBe(true);
  });
});
