import { chmod, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { added, type Diff, modified } from '../../core/diff.ts';
import { PermanentError } from '../../core/errors.ts';
import type { Step } from '../../core/step.ts';
import { type FsContext, type FsRoot, type FsStepOptions, formatMode, modesApply, rootOf } from './root.ts';
import { relativeSegments } from './safe-path.ts';
import { statOrUndefined } from './stat.ts';

/**
 * Options for {@link ensureDir}.
 * @example fs.ensureDir('shared', { mode: 0o2775 })
 */
export interface EnsureDirOptions extends FsStepOptions {
  /** The folder's permission bits (not on Windows). Left alone when not given. @example 0o750 */
  mode?: number;
}

/**
 * {@link ensureDir} under its own base folder, `opts.root`, instead of `ctx.fs`:
 * the step needs nothing from the task's context.
 * @example fs.ensureDir(`homes/${r.login}`, { root: homes, mode: 0o750 })
 */
export function ensureDir(
  path: string,
  opts: EnsureDirOptions & { root: FsRoot },
): Step<unknown, unknown, Diff>;
/**
 * Ensures a folder exists under the task's base folder `ctx.fs` (with its
 * parents), with `mode` if given. Reports `+dir: 0750` or `~mode: 0755 -> 0750`.
 * The task's `connect` returns `{ fs: fs.root(dir) }`.
 *
 * @example
 * fs.ensureDir(`homes/${r.login}`, { mode: 0o750 })
 */
export function ensureDir(path: string, opts?: EnsureDirOptions): Step<unknown, FsContext, Diff>;
export function ensureDir(path: string, opts: EnsureDirOptions = {}): Step<unknown, unknown, Diff> {
  relativeSegments(path);
  const name = opts.name ?? `dir ${path}`;
  const wantMode = modesApply ? opts.mode : undefined;
  return {
    name,
    async check(_record, ctx) {
      const { abs, rel } = await rootOf(ctx, opts, name).resolve(path);
      const st = await statOrUndefined(abs);
      if (!st) return { changes: [added('dir', wantMode === undefined ? undefined : formatMode(wantMode))] };
      if (!st.isDirectory()) throw new PermanentError(`${rel} exists and is not a folder`);
      if (wantMode !== undefined && (st.mode & 0o7777) !== wantMode) {
        return { changes: [modified('mode', formatMode(st.mode), formatMode(wantMode))] };
      }
      return undefined;
    },
    async apply(_record, ctx) {
      const { abs } = await rootOf(ctx, opts, name).resolve(path);
      // Parents get the default mode (as with `mkdir -p -m`); only the folder itself gets `mode`.
      await mkdir(dirname(abs), { recursive: true });
      try {
        await mkdir(abs, wantMode !== undefined ? { mode: wantMode } : {});
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      // mkdir's mode is cut by the umask; chmod sets it exactly.
      if (wantMode !== undefined) await chmod(abs, wantMode);
    },
  };
}
