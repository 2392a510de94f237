/**
 * A small tmpfs the test mounts itself (root only), for ledger faults: a full disk
 * and a read-only mount. Where mounting is impossible the caller skips with a loud
 * notice, except in CI (CI=true), where a failed mount fails the test file.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { tempDir } from './temp.ts';

export interface Tmpfs {
  dir: string;
  /** Remounts read-only (true) or read-write (false). */
  readOnly(on: boolean): void;
  unmount(): void;
}

/** Mounts a tmpfs of `size` (e.g. "4m") at `dir`, or returns why it could not. */
export function mountTmpfs(dir: string, size: string): Tmpfs | { error: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    return { error: String((err as { stderr?: unknown }).stderr ?? err).trim() || String(err) };
  }
  let mounted = true;
  return {
    dir,
    readOnly(on) {
      execFileSync('mount', ['-o', `remount,${on ? 'ro' : 'rw'}`, dir], { stdio: 'pipe' });
    },
    unmount() {
      if (!mounted) return;
      execFileSync('umount', [dir], { stdio: 'pipe' });
      mounted = false;
    },
  };
}

/**
 * A tmpfs for a test file, or undefined (with a loud notice) where none can be
 * mounted outside CI; in CI that is an error.
 */
export function tmpfsOrSkip(dir: string, size: string, what: string): Tmpfs | undefined {
  const got = mountTmpfs(dir, size);
  if ('unmount' in got) return got;
  const notice = `cannot mount a tmpfs at ${dir} (${got.error}): ${what}`;
  if (process.env.CI === 'true') throw new Error(`${notice}; CI must be able to mount it (run as root)`);
  console.warn(`\n!!!!!!!!!!\n!!! SKIPPED: ${notice} are skipped (run as root to test them)\n!!!!!!!!!!\n`);
  return undefined;
}

/** Fills the file system holding `dir` with one file until it has no room left. */
export function fillDisk(path: string): void {
  execFileSync('sh', ['-c', `dd if=/dev/zero of="$1" bs=64k 2>/dev/null; sync; true`, 'fill', path]);
}

/**
 * Mounts for one test file: `mount(size)` gives a fresh tmpfs in a temp folder (or
 * undefined, see {@link tmpfsOrSkip}); all are unmounted when the file's tests end.
 */
export function tmpfsMounts(what: string): (size: string) => Tmpfs | undefined {
  const mounts: Tmpfs[] = [];
  afterAll(() => {
    for (const m of mounts.splice(0)) {
      try {
        m.unmount();
      } catch (err) {
        console.warn(`could not unmount ${m.dir}: ${String(err)}`);
      }
    }
  });
  return (size) => {
    const m = tmpfsOrSkip(join(tempDir('idem-tmpfs-'), 'mnt'), size, what);
    if (m) mounts.push(m);
    return m;
  };
}
