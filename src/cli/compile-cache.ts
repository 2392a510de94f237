/**
 * The compiled-task cache shared by both ways of loading a task (the standalone
 * module of standalone-task.ts and the module hooks of task-hooks.ts):
 * `$XDG_CACHE_HOME/idem/tasks`, files named by a sha256 of everything their
 * content depends on, the folder 0700, each file 0600, written atomically.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes `name` into the cache, atomically; false (and nothing left behind) when the folder cannot be written. */
export async function writeCached(cacheDir: string, name: string, content: string): Promise<boolean> {
  const file = join(cacheDir, name);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    await writeFile(tmp, content, { mode: 0o600 });
    await rename(tmp, file);
    return true;
  } catch {
    // No cache today: the next run compiles again.
    await unlink(tmp).catch(() => {});
    return false;
  }
}
