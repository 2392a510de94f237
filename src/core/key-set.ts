/**
 * The keys of a run's input, with the line each was first seen on, in constant
 * memory per key: each key is kept as a 64-bit hash (two FNV-1a 32-bit hashes of
 * its UTF-16 code units) in an open-addressing table of typed arrays, about 24
 * bytes a key at the most, instead of the key itself in a Map (about 80 bytes a
 * key plus the string). Two different keys share a 64-bit hash with a
 * probability of about n²/2⁶⁵: for a million keys, 3 in 100 million runs.
 */
export class KeySet {
  private hi: Uint32Array<ArrayBuffer>;
  private lo: Uint32Array<ArrayBuffer>;
  private lines: Uint32Array<ArrayBuffer>;
  private size = 0;

  /**
   * @param expected how many keys will come (the scan's count): the table is made for
   *   them at once, so it never holds its old and new arrays together while growing.
   */
  constructor(expected = 0) {
    let slots = 1024;
    while (slots < (expected + 1) * 2) slots *= 2;
    this.hi = new Uint32Array(slots);
    this.lo = new Uint32Array(slots);
    this.lines = new Uint32Array(slots);
  }

  /** Adds a key; returns the line it was first seen on if it was already there. */
  add(key: string, line: number): number | undefined {
    if ((this.size + 1) * 2 > this.lines.length) this.grow();
    hash(key);
    const found = this.insert(scratch.h, scratch.l, line);
    if (found === undefined) this.size++;
    return found;
  }

  get count(): number {
    return this.size;
  }

  /**
   * The keys' hashes as sorted (hi, lo) pairs: what the ledger keeps of a run's
   * keys. It consumes the set: the pairs are gathered into the table's own `lo`
   * array (at least twice as long as the set: the table is never more than half
   * full) and sorted there as 64-bit numbers, so a million keys need no memory
   * beyond the table's (a separate sort needed 16 MB more). The set is empty after.
   */
  sorted(): Uint32Array {
    const { hi, lo, lines } = this;
    let n = 0;
    for (let i = 0; i < lines.length; i++) {
      if (lines[i] === 0) continue;
      hi[n] = hi[i] as number;
      lo[n] = lo[i] as number;
      n++;
    }
    this.reset();
    // Pair i goes to words 2i and 2i+1 of lo's buffer, from the top down, so no word is
    // overwritten before it is read. The word that ends up high in the 64-bit number is hi.
    const [high, low] = LITTLE_ENDIAN ? [1, 0] : [0, 1];
    for (let i = n - 1; i >= 0; i--) {
      const h = hi[i] as number;
      const l = lo[i] as number;
      lo[2 * i + high] = h;
      lo[2 * i + low] = l;
    }
    new BigUint64Array(lo.buffer, 0, n).sort();
    const out = new Uint32Array(lo.buffer, 0, 2 * n);
    if (LITTLE_ENDIAN) {
      for (let i = 0; i < 2 * n; i += 2) {
        const l = out[i] as number;
        out[i] = out[i + 1] as number;
        out[i + 1] = l;
      }
    }
    return out;
  }

  private reset(): void {
    this.hi = new Uint32Array(1024);
    this.lo = new Uint32Array(1024);
    this.lines = new Uint32Array(1024);
    this.size = 0;
  }

  private insert(h: number, l: number, line: number): number | undefined {
    const mask = this.lines.length - 1;
    for (let i = (h ^ l) & mask; ; i = (i + 1) & mask) {
      const at = this.lines[i] as number;
      if (at === 0) {
        this.hi[i] = h;
        this.lo[i] = l;
        this.lines[i] = line;
        return undefined;
      }
      if (this.hi[i] === h && this.lo[i] === l) return at;
    }
  }

  private grow(): void {
    const { hi, lo, lines } = this;
    const n = lines.length * 2;
    this.hi = new Uint32Array(n);
    this.lo = new Uint32Array(n);
    this.lines = new Uint32Array(n);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as number;
      if (line !== 0) this.insert(hi[i] as number, lo[i] as number, line);
    }
  }
}

/** Whether the low 32 bits of a 64-bit number come first in memory. */
const LITTLE_ENDIAN = new Uint32Array(new BigUint64Array([1n]).buffer)[0] === 1;

/** The last hash, in place of a tuple per key (a million keys, a million fewer arrays). */
const scratch = { h: 0, l: 0 };

/** Two 32-bit hashes of a string: FNV-1a, and FNV-1a with a shift-xor mix and another basis. */
function hash(key: string): void {
  let h = 0x811c9dc5;
  let l = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h = Math.imul(h ^ c, 0x01000193);
    l = Math.imul(l ^ c, 0x01000193) ^ (l >>> 15);
  }
  scratch.h = h >>> 0;
  scratch.l = l >>> 0;
}

/** How many keys two sorted hash lists (see `KeySet.sorted`) have in common. Pure. */
export function commonKeys(a: Uint32Array, b: Uint32Array): number {
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < a.length && j < b.length) {
    const d = (a[i] as number) - (b[j] as number) || (a[i + 1] as number) - (b[j + 1] as number);
    if (d === 0) {
      n++;
      i += 2;
      j += 2;
    } else if (d < 0) i += 2;
    else j += 2;
  }
  return n;
}
