import { describe, expect, it } from 'vitest';
import { LineBuffer, LineSet, linesIn, mergeRanges } from '../../src/core/line-ranges.ts';

describe('line ranges', () => {
  it('a line buffer gives its lines, in any order and past its first size, as merged ranges, and is empty after', () => {
    const buf = new LineBuffer();
    const lines = [7, 3, 4, 5, 100, 6, 2, 9];
    for (let l = 2000; l < 4500; l++) lines.push(l);
    lines.push(4501, 99);
    for (const l of lines) buf.push(l);
    expect(buf.length).toBe(lines.length);
    expect(buf.drain()).toEqual([
      [2, 7],
      [9, 9],
      [99, 100],
      [2000, 4499],
      [4501, 4501],
    ]);
    expect(buf.length).toBe(0);
    expect(buf.drain()).toEqual([]);
    buf.push(12);
    buf.push(11);
    expect(buf.drain()).toEqual([[11, 12]]);
  });

  it('merges ranges that touch or overlap, counts their lines once, and finds a line in them', () => {
    const ranges = mergeRanges([
      [10, 20],
      [2, 4],
      [21, 21],
      [15, 30],
      [5, 5],
    ]);
    expect(ranges).toEqual([
      [2, 5],
      [10, 30],
    ]);
    expect(linesIn([...ranges, [3, 12]])).toBe(29);
    const set = new LineSet(ranges);
    expect([1, 2, 5, 6, 9, 10, 30, 31].map((l) => set.has(l))).toEqual([
      false,
      true,
      true,
      false,
      false,
      true,
      true,
      false,
    ]);
  });
});
