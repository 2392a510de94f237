/** A range of input lines, first and last included. */
export type LineRange = readonly [first: number, last: number];

/** Sorts and merges ranges (and single lines) that touch or overlap. Pure. */
export function mergeRanges(ranges: Iterable<LineRange>): LineRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [first, last] of sorted) {
    const top = out[out.length - 1];
    if (top && first <= top[1] + 1) top[1] = Math.max(top[1], last);
    else out.push([first, last]);
  }
  return out;
}

/**
 * Single lines, in any order, kept for merging into ranges: one typed array
 * reused from batch to batch (4 bytes a line and no garbage, where an array of
 * numbers grown to ten thousand lines a batch and dropped was promoted to the
 * old space: a million-record run promoted about 15 MB that way).
 */
export class LineBuffer {
  private lines = new Uint32Array(1024);
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(line: number): void {
    if (this.count === this.lines.length) {
      const more = new Uint32Array(2 * this.lines.length);
      more.set(this.lines);
      this.lines = more;
    }
    this.lines[this.count++] = line;
  }

  /** The lines as merged ranges; the buffer is empty after (its memory is kept). */
  drain(): LineRange[] {
    const sorted = this.lines.subarray(0, this.count).sort();
    this.count = 0;
    const out: [number, number][] = [];
    for (const line of sorted) {
      const top = out[out.length - 1];
      if (top && line <= top[1] + 1) top[1] = Math.max(top[1], line);
      else out.push([line, line]);
    }
    return out;
  }
}

/** How many lines the ranges cover, overlaps counted once. Pure. */
export function linesIn(ranges: Iterable<LineRange>): number {
  let n = 0;
  for (const [first, last] of mergeRanges(ranges)) n += last - first + 1;
  return n;
}

/**
 * The lines a run finished, as merged ranges in two typed arrays: a resumed run
 * of a million records asks `has(line)` by binary search, with no lookup per
 * record and a few bytes per range (a run's lines finish mostly in order).
 */
export class LineSet {
  private readonly first: Uint32Array;
  private readonly last: Uint32Array;

  constructor(ranges: Iterable<LineRange>) {
    const merged = mergeRanges(ranges);
    this.first = Uint32Array.from(merged, (r) => r[0]);
    this.last = Uint32Array.from(merged, (r) => r[1]);
  }

  has(line: number): boolean {
    let lo = 0;
    let hi = this.first.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (line < (this.first[mid] as number)) hi = mid - 1;
      else if (line > (this.last[mid] as number)) lo = mid + 1;
      else return true;
    }
    return false;
  }
}
