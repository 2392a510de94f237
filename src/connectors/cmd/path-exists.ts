import { lstat } from 'node:fs/promises';

/** Whether anything (a file, a folder, a symlink, even a dangling one) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
