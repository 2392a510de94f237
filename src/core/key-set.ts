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
   * keys. It consumes the set (its own arrays are the sort's first buffers, so a
   * million keys need 16 MB more at the most, not 32): the set is empty after.
   */
  sorted(): Uint32Array {
    let { hi, lo } = this;
    let n = 0;
    for (let i = 0; i < this.lines.length; i++) {
      if (this.lines[i] === 0) continue;
      hi[n] = hi[i] as number;
      lo[n] = lo[i] as number;
      n++;
    }
    this.reset();
    // An LSD radix sort on four 16-bit digits (lo's, then hi's): typed arrays only, no object per key.
    let hi2 = new Uint32Array(n);
    let lo2 = new Uint32Array(n);
    const out = new Uint32Array(n * 2);
    const count = new Uint32Array(65536);
    for (let pass = 0; pass < 4; pass++) {
      const word = pass < 2 ? lo : hi;
      const shift = (pass % 2) * 16;
      count.fill(0);
      for (let i = 0; i < n; i++) (count[((word[i] as number) >>> shift) & 0xffff] as number)++;
      for (let d = 0, sum = 0; d < 65536; d++) {
        const c = count[d] as number;
        count[d] = sum;
        sum += c;
      }
      const last = pass === 3;
      for (let i = 0; i < n; i++) {
        const d = ((word[i] as number) >>> shift) & 0xffff;
        const at = count[d] as number;
        count[d] = at + 1;
        if (last) {
          out[2 * at] = hi[i] as number;
          out[2 * at + 1] = lo[i] as number;
        } else {
          hi2[at] = hi[i] as number;
          lo2[at] = lo[i] as number;
        }
      }
      if (!last) {
        [hi, hi2] = [hi2, hi];
        [lo, lo2] = [lo2, lo];
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
