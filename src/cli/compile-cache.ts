/**
 * The compiled-task cache shared by both ways of loading a task (the standalone
 * module of standalone-task.ts and the module hooks of task-hooks.ts):
 * `$XDG_CACHE_HOME/idem/tasks`, files named by a sha256 of everything their
 * content depends on, the folder 0700, each file 0600, written atomically.
 * Every edit of a task adds an entry, so each write (a cache miss, not the runs
 * that find their entry) also removes the entries no run has written for
 * `STALE_DAYS` days, and the temporaries of writers that died (once per process).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { processAlive } from '../lock/lock.ts';

/** How every compiled module in the cache ends: its inline source map, then a newline. */
const COMPLETE = /\/\/# sourceMappingURL=data:application\/json;base64,[A-Za-z0-9+/=]+\n$/;

/**
 * A compiled module from the cache, or undefined when there is none, or only a
 * damaged one (cut short by a power loss, emptied): that one is removed, so the
 * task is compiled again instead of being reported as "not a task".
 */
export function readCachedModule(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  if (COMPLETE.test(text.slice(-64 * 1024))) return text;
  try {
    unlinkSync(file);
  } catch {
    // Left as it is: compiled again on every run until it can be removed.
  }
  return undefined;
}

/** Whether this process pruned the cache already (the module hooks may write an entry per module). */
let pruned = false;

/** Writes `name` into the cache, atomically; false (and nothing left behind) when the folder cannot be written. */
export async function writeCached(cacheDir: string, name: string, content: string): Promise<boolean> {
  const file = join(cacheDir, name);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(content);
      // On disk before it has its name: a power loss leaves no half-written module under it.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch {
    // No cache today: the next run compiles again.
    await unlink(tmp).catch(() => {});
    return false;
  }
  if (!pruned) {
    pruned = true;
    await pruneCache(cacheDir, name);
  }
  return true;
}

/**
 * Days after which an entry no run has written is removed. A task unchanged for
 * longer is compiled again once (well under a second) when its entry is gone.
 */
const STALE_DAYS = 30;

/** A cache entry (`<sha256>.mjs`, `<sha256>.hooks`), or a writer's temporary of one. */
const ENTRY = /^[0-9a-f]{64}\.(?:mjs|hooks)$/;
const TEMPORARY = /^[0-9a-f]{64}\.(?:mjs|hooks)\.(\d+)\.[0-9a-f]+\.tmp$/;

/** How old a temporary must be, besides its writer's pid being gone, to be removed (a pid of another host or container means nothing here). */
const TEMPORARY_HOURS = 1;

/**
 * Removes the entries not written for `STALE_DAYS` days (except `keep`, just
 * written) and the temporaries of writers gone for an hour; anything else in the
 * folder is not idem's and stays. Best effort: what cannot be removed now is left
 * for a later write.
 */
async function pruneCache(cacheDir: string, keep: string, now = Date.now()): Promise<void> {
  let names: string[];
  try {
    names = await readdir(cacheDir);
  } catch {
    return;
  }
  const staleBefore = now - STALE_DAYS * 86_400_000;
  for (const name of names) {
    if (name === keep) continue;
    const writer = TEMPORARY.exec(name)?.[1];
    const ours = ENTRY.test(name) || writer !== undefined;
    if (!ours) continue;
    const file = join(cacheDir, name);
    try {
      const { mtimeMs } = await stat(file);
      const dead =
        writer !== undefined &&
        mtimeMs < now - TEMPORARY_HOURS * 3_600_000 &&
        Number(writer) !== process.pid &&
        !processAlive(Number(writer));
      if (dead || mtimeMs < staleBefore) await unlink(file);
    } catch {
      // Gone already (another run pruned it), or not ours to remove: left alone.
    }
  }
}
