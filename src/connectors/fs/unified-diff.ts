/**
 * A short unified diff of two texts, for a person reading a dry run: where a
 * template went wrong shows at a glance. Not a patch tool's diff: bounded in
 * input, work and output, with control characters made visible.
 */

/** Limits of {@link unifiedDiff}. */
export interface DiffLimits {
  /** Texts longer than this (bytes, either side) get no diff. @default 65_536 */
  maxBytes?: number;
  /** Diff lines printed at most; the rest are counted. @default 40 */
  maxLines?: number;
  /** Unchanged lines around each change. @default 3 */
  context?: number;
}

type Op = { op: ' ' | '-' | '+'; text: string; a: number; b: number };

/** The lines of a text, each with its `\n` (the last may have none). */
const linesOf = (text: string) => text.match(/[^\n]*\n|[^\n]+$/g) ?? [];

/** The cells of the LCS table the middle of two texts may take; past it, the middle is one replace. */
const MAX_CELLS = 250_000;

/** The edit script of two line lists: common prefix and suffix, an LCS of the middle. */
function editScript(a: string[], b: string[]): Op[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf])
    suf++;
  const ops: Op[] = [];
  for (let i = 0; i < pre; i++) ops.push({ op: ' ', text: a[i] as string, a: i, b: i });
  const am = a.slice(pre, a.length - suf);
  const bm = b.slice(pre, b.length - suf);
  if (am.length * bm.length <= MAX_CELLS) {
    // lcs[i][j]: the longest common subsequence of am[i..] and bm[j..].
    const w = bm.length + 1;
    const lcs = new Uint32Array((am.length + 1) * w);
    for (let i = am.length - 1; i >= 0; i--)
      for (let j = bm.length - 1; j >= 0; j--)
        lcs[i * w + j] =
          am[i] === bm[j]
            ? (lcs[(i + 1) * w + j + 1] as number) + 1
            : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
    let i = 0;
    let j = 0;
    while (i < am.length || j < bm.length) {
      if (i < am.length && j < bm.length && am[i] === bm[j]) {
        ops.push({ op: ' ', text: am[i] as string, a: pre + i++, b: pre + j++ });
      } else if (
        i < am.length &&
        (j === bm.length || (lcs[(i + 1) * w + j] as number) >= (lcs[i * w + j + 1] as number))
      ) {
        // Removals before additions, as diff(1) prints them.
        ops.push({ op: '-', text: am[i] as string, a: pre + i++, b: pre + j });
      } else {
        ops.push({ op: '+', text: bm[j] as string, a: pre + i, b: pre + j++ });
      }
    }
  } else {
    for (const [i, text] of am.entries()) ops.push({ op: '-', text, a: pre + i, b: pre });
    for (const [j, text] of bm.entries()) ops.push({ op: '+', text, a: pre + am.length, b: pre + j });
  }
  for (let k = 0; k < suf; k++) {
    const ai = a.length - suf + k;
    ops.push({ op: ' ', text: a[ai] as string, a: ai, b: b.length - suf + k });
  }
  return ops;
}

/** A line as printed: its newline dropped (marked when missing), control characters escaped. */
function shown(op: Op): string[] {
  const bare = op.text.endsWith('\n') ? op.text.slice(0, -1) : op.text;
  // Tabs stay; other control characters (a CR, an escape sequence) would garble a terminal or a log.
  const safe = bare.replace(/[\u0000-\u0008\u000b-\u001f\u007f\u009b]/g, (c) => {
    const named: Record<string, string> = { '\r': '\\r', '\u001b': '\\e' };
    return named[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
  const line = `${op.op}${safe}`;
  return op.text.endsWith('\n') ? [line] : [line, '\\ No newline at end of file'];
}

/**
 * `@@ -1,3 +1,3 @@` hunks of the lines that differ, or `undefined` when a text
 * is too large to diff (the caller keeps its short form, a hash).
 */
export function unifiedDiff(before: string, after: string, limits: DiffLimits = {}): string | undefined {
  const maxBytes = limits.maxBytes ?? 65_536;
  const maxLines = limits.maxLines ?? 40;
  const context = limits.context ?? 3;
  if (Buffer.byteLength(before) > maxBytes || Buffer.byteLength(after) > maxBytes) return undefined;
  const ops = editScript(linesOf(before), linesOf(after));
  const changed = ops.map((o, i) => (o.op === ' ' ? -1 : i)).filter((i) => i >= 0);
  if (changed.length === 0) return undefined;
  // Hunks: each change with `context` lines around it, overlapping ones merged.
  const hunks: [number, number][] = [];
  for (const i of changed) {
    const from = Math.max(0, i - context);
    const to = Math.min(ops.length - 1, i + context);
    const last = hunks[hunks.length - 1];
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else hunks.push([from, to]);
  }
  const out: string[] = [];
  for (const [from, to] of hunks) {
    const part = ops.slice(from, to + 1);
    const olds = part.filter((o) => o.op !== '+').length;
    const news = part.filter((o) => o.op !== '-').length;
    const first = part[0] as Op;
    const start = (n: number, len: number) => (len === 0 ? n : n + 1);
    out.push(`@@ -${start(first.a, olds)},${olds} +${start(first.b, news)},${news} @@`);
    for (const o of part) out.push(...shown(o));
  }
  if (out.length <= maxLines) return out.join('\n');
  return [...out.slice(0, maxLines), `… ${out.length - maxLines} more diff lines`].join('\n');
}

/** Whether bytes are text worth a line diff: valid UTF-8 without NUL bytes. */
export function textOf(bytes: Buffer): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
