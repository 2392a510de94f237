import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { kindOf } from '../../src/core/errors.ts';
import { describeHolder, type LockHolder } from '../../src/lock/lock.ts';
import { MemoryLock } from '../../src/lock/memory-lock.ts';
import { SqliteLock } from '../../src/lock/sqlite-lock.ts';
import { tempDir } from '../support/temp.ts';
import { until } from '../support/wait.ts';

const holder = (pid: number, runId = 'r-1'): LockHolder => ({
  pid,
  host: 'test-host',
  runId,
  task: 'accounts',
  since: Date.now(),
});

const ROOT = new URL('../..', import.meta.url).pathname;
const LINUX = process.platform === 'linux';

/**
 * Starts a separate process (test/lock/support/holder.ts) and waits for its `held` line.
 * Its later lines are collected in `lines`.
 */
async function holdInChild(dir: string, mode: 'lock' | 'file-only' | 'sqlite' = 'lock') {
  const child = execa(process.execPath, ['--import', 'tsx', 'test/lock/support/holder.ts', mode, dir], {
    reject: false,
    cwd: ROOT,
  });
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) {
        lines.push(line);
        if (line === 'held') resolve();
        if (line === 'refused') reject(new Error('the holder was refused'));
      }
    });
    void child.then((r) => reject(new Error(`lock holder exited early: ${r.stderr}`)));
  });
  return { child, lines }; // not `return child`: a subprocess is thenable and would be awaited
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
            `^task accounts is locked by pid ${child.pid} on host child-host \\(run r-child, started .+ UTC, command: holder .+\\)$`,
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

  it('creates the lock file and the holder record 0600 under umask 022', async () => {
    const dir = tempDir('idem-lock-');
    const old = process.umask(0o022);
    try {
      const got = await new SqliteLock(dir).acquire(holder(process.pid), { waitMs: 0 });
      expect(got.acquired).toBe(true);
      expect(statSync(join(dir, 'accounts.lock')).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'accounts.lock.json')).mode & 0o777).toBe(0o600);
      if (got.acquired) await got.handle.release();
    } finally {
      process.umask(old);
    }
  });
});

describe('SqliteLock: the edge cases of issue 9 (fault 5)', () => {
  it('a damaged lock file (garbage) is emptied in place, with a note, and the lock is taken', async () => {
    const dir = tempDir('idem-lock-');
    const file = join(dir, 'accounts.lock');
    writeFileSync(file, Buffer.concat([Buffer.from('not a database\n'), randomBytes(8192)]), { mode: 0o600 });
    const inode = statSync(file).ino;
    const notes: string[] = [];
    const lock = new SqliteLock(dir);
    const got = await lock.acquire(holder(process.pid), { waitMs: 0, onNote: (m) => notes.push(m) });
    expect(got.acquired).toBe(true);
    expect(notes).toEqual([
      `the lock file ${file} was damaged (8207 bytes that are not an SQLite database); emptied it in place and took the lock`,
    ]);
    // The same file (every contender still meets on it), and it locks as before.
    expect(statSync(file).ino).toBe(inode);
    expect((await new SqliteLock(dir).acquire(holder(2), { waitMs: 0 })).acquired).toBe(false);
    if (got.acquired) await got.handle.release();
  });

  it.runIf(LINUX)(
    'deleting the lock files while a run holds the lock does not let a second run in',
    async () => {
      const dir = tempDir('idem-lock-');
      const { child } = await holdInChild(dir);
      try {
        for (const f of ['accounts.lock', 'accounts.lock.json', 'accounts.lock-journal'])
          rmSync(join(dir, f), { force: true });
        const got = await new SqliteLock(dir).acquire(holder(process.pid), { waitMs: 0 });
        expect(got.acquired).toBe(false);
        if (!got.acquired) expect(got.holder).toMatchObject({ pid: child.pid, host: 'child-host' });
      } finally {
        child.kill('SIGKILL');
        await child;
      }
    },
  );

  it('a holder with the file lock alone (no socket: not Linux, another namespace) notices its lock file removed and takes it again', async () => {
    const dir = tempDir('idem-lock-');
    const file = join(dir, 'accounts.lock');
    const { child, lines } = await holdInChild(dir, 'file-only');
    try {
      const before = statSync(file).ino;
      rmSync(file);
      rmSync(`${file}.json`);
      await until('the holder to make its lock file again', () => lines.some((l) => l.startsWith('note: ')));
      expect(lines).toContain(
        `note: the lock file ${file} was removed while this run held it; made it again and holds it`,
      );
      expect(statSync(file).ino).not.toBe(before);
      const got = await new SqliteLock(dir, { socket: false }).acquire(holder(process.pid), { waitMs: 0 });
      expect(got.acquired).toBe(false);
      if (!got.acquired) expect(got.holder).toMatchObject({ pid: child.pid, host: 'child-host' });
    } finally {
      child.kill('SIGKILL');
      await child;
    }
  });

  it('a busy lock file that nobody is proven to hold (no answer, no live record) is retried, not refused', async () => {
    const dir = tempDir('idem-lock-');
    // A stale record of a process that is gone, as a kill -9 leaves it.
    const gone = execa(process.execPath, ['-e', 'process.exit(0)']);
    await gone;
    writeFileSync(
      join(dir, 'accounts.lock.json'),
      JSON.stringify({ ...holder(gone.pid ?? 999_999), host: hostname() }),
    );
    // A bare BEGIN EXCLUSIVE, what a racing contender is for an instant: released once we were turned away.
    const { child, lines } = await holdInChild(dir, 'sqlite');
    const lock = new SqliteLock(dir);
    const inner = lock as unknown as { tryFile: (...args: unknown[]) => unknown };
    const tryFile = inner.tryFile.bind(lock);
    let busyTries = 0;
    inner.tryFile = (...args) => {
      const got = tryFile(...args);
      if (got === undefined) busyTries++;
      return got;
    };
    const pending = lock.acquire(holder(process.pid), { waitMs: 0 });
    await until('a try that found the file busy', () => busyTries > 0);
    child.stdin?.write('release\n');
    const got = await pending;
    await child;
    expect(lines).toContain('released');
    expect(busyTries).toBeGreaterThan(0);
    expect(got.acquired).toBe(true);
    if (got.acquired) await got.handle.release();
  });

  it.runIf(LINUX)(
    'names the holder before its record file exists (the holder answers on its socket)',
    async () => {
      const dir = tempDir('idem-lock-');
      const { child } = await holdInChild(dir);
      try {
        rmSync(join(dir, 'accounts.lock.json'));
        const got = await new SqliteLock(dir).acquire(holder(process.pid), { waitMs: 0 });
        expect(got.acquired).toBe(false);
        if (!got.acquired)
          expect(got.holder).toMatchObject({
            pid: child.pid,
            host: 'child-host',
            runId: 'r-child',
            command: expect.stringContaining('holder'),
          });
      } finally {
        child.kill('SIGKILL');
        await child;
      }
    },
  );

  it('refuses a symlinked lock file (kind usage, exit 2) without touching what it points to', async () => {
    const dir = tempDir('idem-lock-');
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious\n', { mode: 0o644 });
    symlinkSync(victim, join(dir, 'accounts.lock'));
    const err = await new SqliteLock(dir).acquire(holder(process.pid), { waitMs: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(kindOf(err)).toBe('usage');
    expect((err as Error).message).toBe(
      `the lock file ${join(dir, 'accounts.lock')} is a symbolic link; idem does not follow links in its state folder: remove it (rm ${join(dir, 'accounts.lock')}) and run again`,
    );
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(statSync(victim).mode & 0o777).toBe(0o644);
    expect(existsSync(join(dir, 'accounts.lock.json'))).toBe(false);
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
