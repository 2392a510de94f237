import { readdir, rm, rmdir } from 'node:fs/promises';
import { type Diff, removed } from '../../core/diff.ts';
import { PermanentError } from '../../core/errors.ts';
import type { Step } from '../../core/step.ts';
import { type FsContext, type FsRoot, type FsStepOptions, rootOf } from './root.ts';
import { relativeSegments } from './safe-path.ts';
import { statOrUndefined } from './stat.ts';

/**
 * Options for {@link ensureAbsent}.
 * @example fs.ensureAbsent(`homes/${key}`, { recursive: true })
 */
export interface EnsureAbsentOptions extends FsStepOptions {
  /** Remove a folder with everything in it. Without it, only an empty folder is removed. @default false */
  recursive?: boolean;
}

/**
 * {@link ensureAbsent} under its own base folder, `opts.root`, instead of `ctx.fs`:
 * the step needs nothing from the task's context.
 * @example fs.ensureAbsent(key, { root: homes, recursive: true })
 */
export function ensureAbsent(
  path: string,
  opts: EnsureAbsentOptions & { root: FsRoot },
): Step<unknown, unknown, Diff>;
/**
 * Ensures nothing is at a path under the task's base folder `ctx.fs`.
 * Destructive: `check` reports `-file`, `-dir` or `-symlink` and one deletion,
 * which the deletion guard (`maxDeletes`) counts before anything is removed. A
 * symlink is removed itself, never followed. The task's `connect` returns
 * `{ fs: fs.root(dir) }`.
 *
 * @example
 * fs.ensureAbsent(`homes/${key}`, { recursive: true })
 */
export function ensureAbsent(path: string, opts?: EnsureAbsentOptions): Step<unknown, FsContext, Diff>;
export function ensureAbsent(path: string, opts: EnsureAbsentOptions = {}): Step<unknown, unknown, Diff> {
  relativeSegments(path);
  const name = opts.name ?? `absent ${path}`;
  const locate = async (ctx: unknown) => {
    const { abs, rel } = await rootOf(ctx, opts, name).resolve(path, { followLast: false });
    return { abs, rel, st: await statOrUndefined(abs, { follow: false }) };
  };
  return {
    name,
    destructive: true,
    async check(_record, ctx) {
      const { rel, st, abs } = await locate(ctx);
      if (!st) return undefined;
      const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : 'file';
      if (kind === 'dir' && !opts.recursive && (await readdir(abs)).length > 0) {
        throw new PermanentError(
          `${rel} is a folder that is not empty; pass { recursive: true } to remove it`,
        );
      }
      return { changes: [removed(kind, rel)], deletes: 1 };
    },
    async apply(_record, ctx) {
      const { abs, st } = await locate(ctx);
      if (!st) return;
      if (st.isDirectory() && !opts.recursive) await rmdir(abs);
      else await rm(abs, { recursive: Boolean(opts.recursive), force: true });
    },
  };
}
