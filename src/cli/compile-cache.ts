/**
 * The compiled-task cache shared by both ways of loading a task (the standalone
 * module of standalone-task.ts and the module hooks of task-hooks.ts):
 * `$XDG_CACHE_HOME/idem/tasks`, files named by a sha256 of everything their
 * content depends on, the folder 0700, each file 0600, written atomically.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

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
    return true;
  } catch {
    // No cache today: the next run compiles again.
    await unlink(tmp).catch(() => {});
    return false;
  }
}
