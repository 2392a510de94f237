/**
 * The keys of a run's input, with the line each was first seen on, in constant
 * memory per key: each key is kept as a 64-bit hash (two FNV-1a 32-bit hashes of
 * its UTF-16 code units) in an open-addressing table of typed arrays at most
 * three quarters full, 16 bytes a key at the most (12 when sized for them up
 * front), instead of the key itself in a Map (about 80 bytes a key plus the
 * string). Two different keys share a 64-bit hash with a probability of about
 * n²/2⁶⁵: for a million keys, 3 in 100 million runs.
 */
export class KeySet {
  /** Slot i's hash as one 64-bit number in words 2i and 2i+1 (so `sorted` can sort the table itself). */
  private pairs: Uint32Array<ArrayBuffer>;
  /** Slot i's first line; 0 for an empty slot (lines start at 1). */
  private lines: Uint32Array<ArrayBuffer>;
  private size = 0;

  /**
   * @param expected how many keys will come (the scan's count): the table is made for
   *   them at once, so it never holds its old and new arrays together while growing.
   */
  constructor(expected = 0) {
    const slots = Math.max(1024, Math.ceil((expected + 1) / MAX_LOAD));
    this.pairs = new Uint32Array(2 * slots);
    this.lines = new Uint32Array(slots);
  }

  /** Adds a key; returns the line it was first seen on if it was already there. */
  add(key: string, line: number): number | undefined {
    if (this.size + 1 > this.lines.length * MAX_LOAD) this.grow();
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
   * keys. It consumes the set: the occupied slots are moved to the front of the
   * table and sorted there as 64-bit numbers (natively, in place), so no memory
   * is needed beyond the table's. The set is empty after.
   */
  sorted(): Uint32Array {
    const { pairs, lines } = this;
    let n = 0;
    for (let i = 0; i < lines.length; i++) {
      if (lines[i] === 0) continue;
      pairs[2 * n] = pairs[2 * i] as number;
      pairs[2 * n + 1] = pairs[2 * i + 1] as number;
      n++;
    }
    this.reset();
    new BigUint64Array(pairs.buffer, 0, n).sort();
    const out = new Uint32Array(pairs.buffer, 0, 2 * n);
    if (HI === 1) {
      // Little-endian: each number is (lo, hi) in memory; the ledger keeps (hi, lo).
      for (let i = 0; i < 2 * n; i += 2) {
        const l = out[i] as number;
        out[i] = out[i + 1] as number;
        out[i + 1] = l;
      }
    }
    return out;
  }

  private reset(): void {
    this.pairs = new Uint32Array(2 * 1024);
    this.lines = new Uint32Array(1024);
    this.size = 0;
  }

  private insert(h: number, l: number, line: number): number | undefined {
    const { pairs, lines } = this;
    const slots = lines.length;
    for (let i = ((h ^ l) >>> 0) % slots; ; i = i + 1 === slots ? 0 : i + 1) {
      const at = lines[i] as number;
      if (at === 0) {
        pairs[2 * i + HI] = h;
        pairs[2 * i + LO] = l;
        lines[i] = line;
        return undefined;
      }
      if (pairs[2 * i + HI] === h && pairs[2 * i + LO] === l) return at;
    }
  }

  private grow(): void {
    const { pairs, lines } = this;
    this.pairs = new Uint32Array(4 * lines.length);
    this.lines = new Uint32Array(2 * lines.length);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as number;
      if (line !== 0) this.insert(pairs[2 * i + HI] as number, pairs[2 * i + LO] as number, line);
    }
  }
}

/** How full the table may get: linear probing stays short below three quarters. */
const MAX_LOAD = 0.75;

/** Which word of a slot's pair holds the high 32 bits of its 64-bit number (the platform's byte order). */
const HI = new Uint32Array(new BigUint64Array([1n]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;

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
