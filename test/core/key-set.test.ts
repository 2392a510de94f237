import { describe, expect, it } from 'vitest';
import { KeySet } from '../../src/core/key-set.ts';

describe('KeySet', () => {
  it('finds duplicates with the line first seen, across growth', () => {
    const keys = new KeySet();
    for (let i = 0; i < 5000; i++) expect(keys.add(`k${i}`, i + 2)).toBeUndefined();
    expect(keys.add('k17', 9000)).toBe(19);
    expect(keys.add('k4999', 9001)).toBe(5001);
    expect(keys.count).toBe(5000);
  });

  it('sized for the expected keys up front, or told too few, finds the same duplicates', () => {
    for (const expected of [0, 10, 5000, 20000]) {
      const keys = new KeySet(expected);
      for (let i = 0; i < 5000; i++) expect(keys.add(`k${i}`, i + 2)).toBeUndefined();
      expect(keys.add('k17', 9000)).toBe(19);
      expect(keys.count).toBe(5000);
      expect(keys.sorted().length).toBe(10000);
    }
  });

  it('sorts its hashes as (hi, lo) pairs, and counts the keys two runs share', () => {
    const a = new KeySet();
    const b = new KeySet();
    for (let i = 0; i < 3000; i++) a.add(`u${i}`, i + 2);
    for (let i = 1000; i < 5000; i++) b.add(`u${i}`, i + 2);
    const sa = a.sorted();
    expect(sa.length).toBe(6000);
    for (let i = 2; i < sa.length; i += 2) {
      const [h0, l0, h1, l1] = [sa[i - 2], sa[i - 1], sa[i], sa[i + 1]].map(Number) as [
        number,
        number,
        number,
        number,
      ];
      expect(h1 > h0 || (h1 === h0 && l1 > l0)).toBe(true);
    }
  });

  it('counts the keys the last run had, loaded first in chunks, without taking them for duplicates or keeping them', () => {
    const last = new KeySet();
    for (let i = 0; i < 3000; i++) last.add(`u${i}`, i + 2);
    const before = last.sorted();
    for (const expected of [0, 4000]) {
      const keys = new KeySet(expected);
      keys.reserve(3000);
      // In chunks as the ledger hands them over (one chunk loaded twice counts once).
      keys.addKnown(before.subarray(0, 1000));
      keys.addKnown(before.subarray(0, 1000));
      keys.addKnown(before.subarray(1000));
      for (let i = 1000; i < 5000; i++) expect(keys.add(`u${i}`, i + 2)).toBeUndefined();
      expect(keys.add('u1500', 9000)).toBe(1502);
      expect(keys.add('u4500', 9001)).toBe(4502);
      expect(keys.count).toBe(4000);
      expect(keys.known).toEqual({ loaded: 3000, met: 2000 });
      const own = keys.sorted();
      expect(keys.known).toEqual({ loaded: 3000, met: 2000 }); // still told after the set is emptied
      const fresh = new KeySet();
      for (let i = 1000; i < 5000; i++) fresh.add(`u${i}`, i + 2);
      expect(Buffer.from(own.buffer, own.byteOffset, own.byteLength)).toEqual(
        Buffer.from(fresh.sorted().buffer, 0, 4000 * 8),
      );
    }
  });

  it('grown from empty or sized up front, it holds the same keys: the same sorted hashes, each pair once', () => {
    const grown = new KeySet();
    const sized = new KeySet(50_000);
    for (let i = 0; i < 50_000; i++) {
      expect(grown.add(`user-${i}`, i + 2)).toBeUndefined();
      expect(sized.add(`user-${i}`, i + 2)).toBeUndefined();
    }
    expect(grown.add('user-49999', 60_000)).toBe(50_001);
    const a = grown.sorted();
    const b = sized.sorted();
    expect(a.length).toBe(100_000);
    expect(
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
        Buffer.from(b.buffer, b.byteOffset, b.byteLength),
      ),
    ).toBe(true);
    const distinct = new Set<string>();
    for (let i = 0; i < a.length; i += 2) distinct.add(`${a[i]}:${a[i + 1]}`);
    expect(distinct.size).toBe(50_000);
  });

  it('keeps the layout earlier runs stored in the ledger: (hi, lo) pairs in this order', () => {
    // As the previous implementation (a radix sort of separate hi and lo arrays) wrote them:
    // the next run compares its keys with these to find key churn.
    const keys = new KeySet();
    for (const [i, key] of ['a', 'b', 'user-1'].entries()) keys.add(key, i + 2);
    expect([...keys.sorted()]).toEqual([
      3826002220, 1601204102, 3876335077, 1550868687, 4115888500, 1489590682,
    ]);
  });
});
