import { createHash } from 'node:crypto';
import { chmod, readFile } from 'node:fs/promises';
import { added, type Change, type Diff, diffOf, modified } from '../../core/diff.ts';
import { PermanentError } from '../../core/errors.ts';
import type { Step } from '../../core/step.ts';
import { type FsContext, type FsRoot, type FsStepOptions, formatMode, modesApply, rootOf } from './root.ts';
import { relativeSegments } from './safe-path.ts';
import { statOrUndefined } from './stat.ts';
import { contentBytes, type FileContent } from './template.ts';
import { textOf, unifiedDiff } from './unified-diff.ts';

/**
 * Options for {@link ensureFile}.
 * @example fs.ensureFile('secrets/token', token, { mode: 0o600, secret: true })
 */
export interface EnsureFileOptions extends FsStepOptions {
  /**
   * The file's permission bits (not on Windows). When not given, a new file
   * gets the default (0666 less the umask) and a rewritten one keeps its mode.
   * @example 0o640
   */
  mode?: number;
  /** Never print anything about the content (a file holding a password). */
  secret?: boolean;
}

const describe = (bytes: Buffer) =>
  `sha256:${createHash('sha256').update(bytes).digest('hex').slice(0, 12)} (${bytes.length} bytes)`;

/**
 * A content change: the two hashes, and a short unified diff of the text
 * (redacted) under it, so a template mistake shows in a dry run. A secret
 * file, binary content or a text over 64 KiB keeps only the hashes.
 */
function contentChange(
  from: Buffer | undefined,
  to: Buffer,
  secret: boolean,
  redact: (text: string) => string,
): Change {
  const change = from
    ? modified('content', describe(from), describe(to), { secret })
    : added('file', `${to.length} bytes`, { secret });
  if (secret) return change;
  const before = from ? textOf(from) : '';
  const after = textOf(to);
  const patch = before !== undefined && after !== undefined ? unifiedDiff(before, after) : undefined;
  return patch ? { ...change, patch: redact(patch) } : change;
}

/**
 * {@link ensureFile} under its own base folder, `opts.root`, instead of `ctx.fs`:
 * the step needs nothing from the task's context.
 * @example fs.ensureFile(`${r.login}/.profile`, PROFILE, { root: homes })
 */
export function ensureFile(
  path: string,
  content: FileContent,
  opts: EnsureFileOptions & { root: FsRoot },
): Step<unknown, unknown, Diff>;
/**
 * Ensures a file under the task's base folder `ctx.fs` has this content (text,
 * bytes, or a `{ template, values }` with `{{ name }}` placeholders) and
 * `mode`. It writes only when the content differs, atomically: a temp file in
 * the base's `.idem-tmp/` folder, fsync, rename. A file that is already right is not touched
 * (same inode, same mtime). Reports `+file: 98 bytes`, `~content: sha256:… ->
 * sha256:…`, `~mode`. The task's `connect` returns `{ fs: fs.root(dir) }`.
 *
 * @example
 * fs.ensureFile(`homes/${r.login}/.profile`, { template: PROFILE, values: r }, { mode: 0o640 })
 */
export function ensureFile(
  path: string,
  content: FileContent,
  opts?: EnsureFileOptions,
): Step<unknown, FsContext, Diff>;
export function ensureFile(
  path: string,
  content: FileContent,
  opts: EnsureFileOptions = {},
): Step<unknown, unknown, Diff> {
  relativeSegments(path);
  const name = opts.name ?? `file ${path}`;
  const bytes = contentBytes(content);
  const wantMode = modesApply ? opts.mode : undefined;
  const secret = Boolean(opts.secret);

  const current = async (ctx: unknown) => {
    const { abs, rel } = await rootOf(ctx, opts, name).resolve(path);
    const st = await statOrUndefined(abs);
    if (st && !st.isFile()) throw new PermanentError(`${rel} exists and is not a regular file`);
    return { abs, st, data: st ? await readFile(abs) : undefined };
  };

  return {
    name,
    async check(_record, ctx, env) {
      const { st, data } = await current(ctx);
      if (!st || !data) return { changes: [contentChange(undefined, bytes, secret, env.redact)] };
      const changes: Change[] = [];
      if (!data.equals(bytes)) changes.push(contentChange(data, bytes, secret, env.redact));
      if (wantMode !== undefined && (st.mode & 0o7777) !== wantMode) {
        changes.push(modified('mode', formatMode(st.mode), formatMode(wantMode)));
      }
      return diffOf({ changes });
    },
    async apply(_record, ctx) {
      const root = rootOf(ctx, opts, name);
      const { abs } = await root.resolve(path);
      // Decide from the file as it is now, not from the (possibly stale) check.
      await root.exclusive(abs, async () => {
        const { st, data } = await current(ctx);
        if (!st || !data?.equals(bytes)) {
          await root.writeAtomic(abs, bytes, wantMode ?? (st ? st.mode & 0o7777 : undefined));
        } else if (wantMode !== undefined && (st.mode & 0o7777) !== wantMode) {
          await chmod(abs, wantMode);
        }
      });
    },
  };
}
