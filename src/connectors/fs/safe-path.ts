/**
 * Paths built from record values, resolved against a base folder without ever
 * leaving it: `..`, absolute paths and NUL bytes are rejected as invalid input;
 * a symlink on the way that points outside the base is refused, never followed.
 */
import { lstat, readlink, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep, win32 } from 'node:path';
import { InvalidRecordError, PermanentError } from '../../core/errors.ts';

/**
 * A path under the base, checked.
 * @example const { abs, rel } = await ctx.fs.resolve(`outbox/${r.login}.eml`);
 */
export interface SafePath {
  /** The path relative to the base, with `/` separators (for diffs and messages). */
  rel: string;
  /** Where the operation happens: the real base joined with the real folders on the way. */
  abs: string;
  /** The real path of the base folder (or its resolved path when it does not exist yet). */
  base: string;
}

/**
 * Splits a relative path into its segments, or throws {@link InvalidRecordError}
 * for a path that could leave the base.
 *
 * @example
 * relativeSegments('homes/ada/.profile') // ['homes', 'ada', '.profile']
 * relativeSegments('../etc/passwd')      // throws: contains ".."
 */
export function relativeSegments(path: string, opts: { allowBase?: boolean } = {}): string[] {
  if (typeof path !== 'string') throw new InvalidRecordError(`path must be a string, not ${typeof path}`);
  const shown = JSON.stringify(path);
  if (path.includes('\0')) throw new InvalidRecordError(`path ${shown} contains a NUL byte`);
  if (isAbsolute(path) || win32.isAbsolute(path) || /^[A-Za-z]:/.test(path)) {
    throw new InvalidRecordError(`path ${shown} is absolute; paths must be relative to the base folder`);
  }
  const segments = path.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) {
    throw new InvalidRecordError(`path ${shown} contains ".."; it must stay inside the base folder`);
  }
  if (segments.length === 0 && !opts.allowBase) {
    throw new InvalidRecordError(`path ${shown} names the base folder itself`);
  }
  return segments;
}

/** Whether `path` is `base` or inside it. */
export function isInside(base: string, path: string): boolean {
  return path === base || path.startsWith(base.endsWith(sep) ? base : base + sep);
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw new PermanentError(`${dirname(path)} is not a folder`, { cause: err });
    throw err;
  }
}

/** The real path, or the resolved one while it does not exist. */
export async function realOrResolved(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return resolve(path);
    throw err;
  }
}

/**
 * Resolves `path` against `baseDir`, walking it one segment at a time with
 * `lstat`. A symlink is followed only when its real target stays inside the
 * base; the last segment's symlink is not followed at all with
 * `followLast: false` (to remove the link itself).
 *
 * @example
 * await resolveUnder('/srv/demo', 'homes/ada/.profile') // { rel: 'homes/ada/.profile', abs: '/srv/demo/homes/ada/.profile', ... }
 * await resolveUnder('/srv/demo', '../etc/passwd')      // throws InvalidRecordError
 */
export async function resolveUnder(
  baseDir: string,
  path: string,
  opts: { followLast?: boolean; allowBase?: boolean } = {},
): Promise<SafePath> {
  const segments = relativeSegments(path, opts);
  const rel = segments.join('/');
  const base = await realOrResolved(baseDir);
  let current = base;
  for (let i = 0; i < segments.length; i++) {
    const next = join(current, segments[i] as string);
    const last = i === segments.length - 1;
    const st = await lstatOrUndefined(next);
    if (!st) return { rel, abs: join(next, ...segments.slice(i + 1)), base };
    if (st.isSymbolicLink() && (!last || opts.followLast !== false)) {
      const target = await realOrResolved(resolve(dirname(next), await readlink(next)));
      if (!isInside(base, target)) {
        const at = segments.slice(0, i + 1).join('/');
        throw new PermanentError(
          `path ${rel}: ${at} is a symlink to ${target}, outside the base folder ${base}; not followed`,
        );
      }
      current = target;
      continue;
    }
    if (!last && !st.isDirectory()) {
      throw new PermanentError(`path ${rel}: ${segments.slice(0, i + 1).join('/')} is not a folder`);
    }
    current = next;
  }
  return { rel, abs: current, base };
}
