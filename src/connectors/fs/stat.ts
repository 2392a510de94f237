import type { Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';

/** `stat` (or `lstat`), or `undefined` when nothing is there. */
export async function statOrUndefined(
  path: string,
  opts: { follow?: boolean } = {},
): Promise<Stats | undefined> {
  try {
    return opts.follow === false ? await lstat(path) : await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
