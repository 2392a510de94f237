import { resolve } from 'node:path';
import { PermanentError } from '../../core/errors.ts';
import { writeAtomic } from './atomic-write.ts';
import { isInside, realOrResolved, resolveUnder, type SafePath } from './safe-path.ts';

/**
 * The base folder that the `fs` steps work in (made by {@link root}). Every
 * path a step gets is relative to it and cannot leave it. It is not created
 * until a step writes, so a dry run creates nothing.
 * @example const homes: fs.FsRoot = fs.root('/srv/homes');
 */
export interface FsRoot {
  /** The base folder, absolute. */
  readonly dir: string;
  /**
   * Resolves a relative path safely (see {@link resolveUnder}), for a task's own
   * file operations (an outbox, say).
   * @example const { abs } = await ctx.fs.resolve(`outbox/${r.login}.eml`);
   */
  resolve(path: string, opts?: { followLast?: boolean; allowBase?: boolean }): Promise<SafePath>;
  /**
   * Runs `fn` while no other step of this process changes the same file
   * (read-modify-write of a shared file, such as `ensureLine` on one access list).
   */
  exclusive<T>(abs: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Writes a file under the base atomically (see the connector's `writeAtomic`),
   * its temporary in the base's `.idem-tmp/` folder, where no consumer of the
   * target's folder looks (a mail pickup reading `outbox/`, say).
   * @example await ctx.fs.writeAtomic((await ctx.fs.resolve(`outbox/${id}.eml`)).abs, mail, 0o644);
   */
  writeAtomic(abs: string, data: string | Uint8Array, mode?: number): Promise<void>;
}

/**
 * What a task's `connect` returns so that the `fs` steps find their base folder.
 * @example
 * interface Ctx extends fs.FsContext {}
 * connect: (setup): Ctx => ({ fs: fs.root(`${setup.taskDir}/../srv`) })
 */
export interface FsContext {
  fs: FsRoot;
}

/**
 * Options every `fs` step takes.
 * @example fs.ensureDir(`homes/${r.login}`, { name: 'home', root: ctx.homes })
 */
export interface FsStepOptions {
  /** The step's name in the output and the ledger. @default e.g. `file homes/ada/.profile` */
  name?: string;
  /** The base folder to use instead of `ctx.fs`; a step given one needs no `fs` in the task's context. */
  root?: FsRoot;
}

const queues = new Map<string, Promise<unknown>>();

/** Serializes work per absolute path within this process. */
async function exclusive<T>(abs: string, fn: () => Promise<T>): Promise<T> {
  const previous = queues.get(abs) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const tail = run.catch(() => undefined);
  queues.set(abs, tail);
  try {
    return await run;
  } finally {
    if (queues.get(abs) === tail) queues.delete(abs);
  }
}

/**
 * Declares the base folder of the `fs` steps (relative paths are resolved
 * against the current folder; pass `join(setup.taskDir, ...)` to anchor it).
 * It holds nothing open, so there is nothing to close.
 *
 * @example
 * connect: (setup) => ({ fs: fs.root(join(setup.taskDir, '../demo')) }),
 * steps: (r) => [fs.ensureDir(`homes/${r.login}`, { mode: 0o750 })],
 */
export function root(dir: string): FsRoot {
  const abs = resolve(dir);
  return {
    dir: abs,
    resolve: (path, opts) => resolveUnder(abs, path, opts),
    exclusive,
    async writeAtomic(path, data, mode) {
      const base = await realOrResolved(abs);
      return writeAtomic(path, data, mode, isInside(base, path) ? { base } : {});
    },
  };
}

/** Finds the step's base folder: the explicit one, else `ctx.fs`. */
export function rootOf(ctx: unknown, opts: FsStepOptions, step: string): FsRoot {
  if (opts.root) return opts.root;
  const r = (ctx as Partial<FsContext> | undefined)?.fs;
  if (!r || typeof r.resolve !== 'function') {
    throw new PermanentError(
      `step ${step} needs a base folder: return { fs: fs.root(dir) } from the task's connect, or pass { root }`,
    );
  }
  return r;
}

/** `0750` */
export function formatMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/** File modes mean nothing on Windows; they are neither checked nor set there. */
export const modesApply = process.platform !== 'win32';
