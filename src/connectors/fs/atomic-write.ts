import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PermanentError } from '../../core/errors.ts';

/** The folder, under a base folder, that holds the temporaries of atomic writes. */
export const TEMP_FOLDER = '.idem-tmp';

/** `<pid>.<random>.tmp`: the writer's pid tells a dead temporary from one in flight. */
const TEMP_NAME = /^(\d+)\.[0-9a-f]+\.tmp$/;

/** Flushes a folder's entry list to disk, so a rename survives a crash. Not possible on Windows. */
export async function syncDir(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, constants.O_RDONLY);
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw err;
  } finally {
    await handle?.close();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Makes the folder if needed and refuses anything but a real folder (a planted symlink above all). */
async function checkTempFolder(dir: string): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const st = await lstat(dir);
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new PermanentError(
      `${dir} is a ${st.isSymbolicLink() ? 'symlink' : 'file, not a folder'}; idem keeps the temporaries of its atomic writes there and follows no link: remove it`,
    );
  }
}

/**
 * Removes the temporaries that writers left when they died (their pid is not
 * alive; our own pid's are from an earlier process, since this runs before
 * this process's first write there).
 */
async function removeDead(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const pid = Number(TEMP_NAME.exec(name)?.[1]);
    if (pid && (pid === process.pid || !alive(pid))) await rm(join(dir, name), { force: true });
  }
}

const swept = new Map<string, Promise<void>>();

/**
 * The temporaries' folder under `base`, checked on every write; the dead
 * temporaries in it are removed once per process, before its first write there.
 */
async function tempFolder(base: string): Promise<string> {
  const dir = join(base, TEMP_FOLDER);
  let ready = swept.get(dir);
  if (!ready) {
    ready = checkTempFolder(dir).then(() => removeDead(dir));
    swept.set(dir, ready);
    ready.catch(() => swept.delete(dir));
  }
  await ready;
  await checkTempFolder(dir);
  return dir;
}

/**
 * Options for {@link writeAtomic}.
 * @example await writeAtomic('/srv/demo/outbox/ada.eml', mail, 0o644, { base: '/srv/demo' })
 */
export interface WriteAtomicOptions {
  /**
   * The folder whose `.idem-tmp/` holds the temporary: on the target's file
   * system, and not a folder that a consumer reads (`FsRoot.writeAtomic` passes
   * its base folder). @default the target's folder
   */
  base?: string;
}

/**
 * Writes a file atomically: a temporary in `<base>/.idem-tmp/` (created
 * exclusively, never through a symlink, named with the writer's pid), fsync,
 * chmod, rename over the target, fsync the folder. A reader of the target's
 * folder sees the old file or the new one, never a part, and never the
 * temporary. Temporaries left by a killed writer are removed before the next
 * process's first write under the same base. A `.idem-tmp` that is a symlink
 * is refused.
 *
 * @example
 * await writeAtomic('/srv/homes/ada/.profile', 'shell = "bash"\n', 0o640);
 */
export async function writeAtomic(
  path: string,
  data: string | Uint8Array,
  mode?: number,
  opts: WriteAtomicOptions = {},
): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(
    await tempFolder(opts.base ?? dir),
    `${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
  const handle = await open(tmp, flags, mode ?? 0o666);
  try {
    try {
      await handle.writeFile(data);
      if (mode !== undefined && process.platform !== 'win32') await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    // The base's temporaries' folder is on another file system (a mount below the base).
    if ((err as NodeJS.ErrnoException).code === 'EXDEV' && opts.base !== undefined && opts.base !== dir) {
      return writeAtomic(path, data, mode, { base: dir });
    }
    throw err;
  }
  await syncDir(dir);
}
