import { readFile } from 'node:fs/promises';
import { added, type Change, type Diff, modified, removed } from '../../core/diff.ts';
import { InvalidRecordError, PermanentError } from '../../core/errors.ts';
import type { Step } from '../../core/step.ts';
import { type FsContext, type FsRoot, type FsStepOptions, modesApply, rootOf } from './root.ts';
import { relativeSegments } from './safe-path.ts';
import { statOrUndefined } from './stat.ts';

/**
 * Options for {@link ensureLine}.
 * @example fs.ensureLine('hosts.allow', `sshd: ${r.ip}`, { match: new RegExp(`^sshd: ${r.ip}$`) })
 */
export interface EnsureLineOptions extends FsStepOptions {
  /**
   * The lines that stand for this one: the first is replaced by `line`, any
   * other is removed. Without it, only an identical line counts.
   * @example match: new RegExp(`^${r.login}:`)
   */
  match?: RegExp;
  /** Permission bits for a file this step creates (not on Windows). @example 0o644 */
  mode?: number;
}

/** What a file's text becomes with the line ensured, and the changes that makes. */
export function planLine(
  text: string,
  line: string,
  matches: (l: string) => boolean,
): { next: string; changes: Change[] } {
  const lines = text === '' ? [] : text.split('\n');
  const trailing = text === '' || text.endsWith('\n');
  if (trailing && lines.length > 0) lines.pop();
  const changes: Change[] = [];
  const out: string[] = [];
  let placed = false;
  for (const l of lines) {
    if (!matches(l)) out.push(l);
    else if (!placed) {
      placed = true;
      out.push(line);
      if (l !== line) changes.push(modified('line', l, line));
    } else changes.push(removed('line', l));
  }
  if (!placed) {
    out.push(line);
    changes.push(added('line', line));
  }
  const next = out.length === 0 ? '' : `${out.join('\n')}${trailing || !placed ? '\n' : ''}`;
  return { next, changes };
}

/**
 * {@link ensureLine} under its own base folder, `opts.root`, instead of `ctx.fs`:
 * the step needs nothing from the task's context.
 * @example fs.ensureLine('hosts.allow', `sshd: ${r.ip}`, { root: etc })
 */
export function ensureLine(
  path: string,
  line: string,
  opts: EnsureLineOptions & { root: FsRoot },
): Step<unknown, unknown, Diff>;
/**
 * Ensures a text file under the task's base folder `ctx.fs` holds `line`
 * exactly once, like Ansible's lineinfile: the first line that `match`es is
 * replaced, other matching lines are removed, and the line is appended when
 * none matches; it is never appended twice. The file (and its folders) are
 * created when missing. Writes are atomic, and read and rewrite the file as it
 * is at that moment, one step at a time per file. The task's `connect` returns
 * `{ fs: fs.root(dir) }`.
 *
 * @example
 * fs.ensureLine('access.list', `${r.login} ${r.role}`, { match: new RegExp(`^${r.login} `) })
 */
export function ensureLine(
  path: string,
  line: string,
  opts?: EnsureLineOptions,
): Step<unknown, FsContext, Diff>;
export function ensureLine(
  path: string,
  line: string,
  opts: EnsureLineOptions = {},
): Step<unknown, unknown, Diff> {
  relativeSegments(path);
  if (/[\r\n]/.test(line)) throw new InvalidRecordError(`line for ${path} must not contain a line break`);
  const name = opts.name ?? `line ${path}`;
  const pattern = opts.match
    ? new RegExp(opts.match.source, opts.match.flags.replace(/[gy]/g, ''))
    : undefined;
  const matches = (l: string) => (pattern ? pattern.test(l) : l === line);

  const read = async (ctx: unknown) => {
    const { abs, rel } = await rootOf(ctx, opts, name).resolve(path);
    const st = await statOrUndefined(abs);
    if (st && !st.isFile()) throw new PermanentError(`${rel} exists and is not a regular file`);
    return { abs, st, text: st ? await readFile(abs, 'utf8') : '' };
  };

  return {
    name,
    async check(_record, ctx) {
      const { text } = await read(ctx);
      const { changes } = planLine(text, line, matches);
      return changes.length > 0 ? { changes } : undefined;
    },
    async apply(_record, ctx) {
      const root = rootOf(ctx, opts, name);
      const { abs } = await root.resolve(path);
      await root.exclusive(abs, async () => {
        const { st, text } = await read(ctx);
        const { next } = planLine(text, line, matches);
        if (next === text && st) return;
        const mode = st ? st.mode & 0o7777 : modesApply ? opts.mode : undefined;
        await root.writeAtomic(abs, next, mode);
      });
    },
  };
}
