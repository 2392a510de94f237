/**
 * The keys of a run's input, with the line each was first seen on, in constant
 * memory per key: each key is kept as a 64-bit hash (two FNV-1a 32-bit hashes of
 * its UTF-16 code units) in an open-addressing table of typed arrays at most
 * four fifths full, 12 bytes a slot, sized up front for the keys expected
 * (about 17 bytes a key), instead of the key itself in a Map (about 80 bytes a
 * key plus the string). Two different keys share a 64-bit hash with a
 * probability of about n²/2⁶⁵: for a million keys, 3 in 100 million runs.
 *
 * The last accepted run's keys can be loaded first (`addKnown`): a key of this
 * run found among them is counted as known, so comparing the two runs costs no
 * second copy of either list. A run that keeps most of its keys from night to
 * night needs hardly any more slots; the table is sized for the larger of the two
 * runs and holds a tenth more. A night whose keys differ more (a re-keyed export,
 * what the key-churn budget is for) grows it once during the pass, its old and
 * new arrays together for a moment: a million rows all re-keyed peaked at 146 MB,
 * against 113 MB for a night like the last (140 MB when the last run's keys were
 * read into a second list after the pass).
 */
export class KeySet {
  /** Slot i's hash as one 64-bit number in words 2i and 2i+1 (so `sorted` can sort the table itself). */
  private pairs: Uint32Array<ArrayBuffer>;
  /** Slot i's first line; 0 for an empty slot (lines start at 1), `KNOWN` for a key only the last run had. */
  private lines: Uint32Array<ArrayBuffer>;
  /** This run's keys. */
  private size = 0;
  /** Occupied slots: this run's keys and the last run's this run has not met (yet). */
  private used = 0;
  /** The last run's keys loaded, and how many of this run's were among them. */
  private knownLoaded = 0;
  private knownMet = 0;

  /**
   * @param expected how many keys will come (the scan's count): the table is made for
   *   them at once, so it never holds its old and new arrays together while growing.
   */
  constructor(expected = 0) {
    this.pairs = new Uint32Array(0);
    this.lines = new Uint32Array(0);
    this.reserve(expected);
  }

  /**
   * Makes room for `expected` keys in all (this run's and the last run's) while the
   * set is still empty; a set already in use keeps its table and grows as needed.
   */
  reserve(expected: number): void {
    const slots = Math.max(1024, Math.ceil((expected + 1) / SIZED_LOAD));
    if (this.used > 0 || slots <= this.lines.length) return;
    this.pairs = new Uint32Array(2 * slots);
    this.lines = new Uint32Array(slots);
  }

  /**
   * Loads keys of the last accepted run, as sorted (hi, lo) pairs (see `sorted`),
   * before this run's: a key of this run found among them is not a duplicate, it
   * is counted in `known`. Loading the same pair twice counts it once.
   */
  addKnown(pairs: Uint32Array): void {
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      if (this.used + 1 > this.lines.length * MAX_LOAD) this.grow();
      if (this.insert(pairs[i] as number, pairs[i + 1] as number, KNOWN) === undefined) {
        this.used++;
        this.knownLoaded++;
      }
    }
  }

  /** Adds a key; returns the line it was first seen on if it was already there. */
  add(key: string, line: number): number | undefined {
    if (this.used + 1 > this.lines.length * MAX_LOAD) this.grow();
    hash(key);
    const found = this.insert(scratch.h, scratch.l, line);
    if (found === KNOWN) {
      this.knownMet++;
      this.size++;
      return undefined;
    }
    if (found === undefined) {
      this.size++;
      this.used++;
    }
    return found;
  }

  /** This run's keys so far. */
  get count(): number {
    return this.size;
  }

  /** The last run's keys loaded (`addKnown`), and how many of them this run has. */
  get known(): { loaded: number; met: number } {
    return { loaded: this.knownLoaded, met: this.knownMet };
  }

  /**
   * The keys' hashes as sorted (hi, lo) pairs: what the ledger keeps of a run's
   * keys. It consumes the set: the occupied slots are moved to the front of the
   * table and sorted there as 64-bit numbers (natively, in place), so no memory
   * is needed beyond the table's. Keys only the last run had are left out. The
   * set is empty after; `known` still says what the pass met.
   */
  sorted(): Uint32Array {
    const { pairs, lines } = this;
    let n = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as number;
      if (line === 0 || line === KNOWN) continue;
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
    this.pairs = new Uint32Array(0);
    this.lines = new Uint32Array(0);
    this.size = 0;
    this.used = 0;
    this.reserve(0);
  }

  /**
   * Finds the pair or puts it in the first empty slot with `line`. Returns the line
   * it already had (`KNOWN`: only the last run had it, and it is this run's now).
   */
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
      if (pairs[2 * i + HI] === h && pairs[2 * i + LO] === l) {
        if (at === KNOWN && line !== KNOWN) lines[i] = line;
        return at;
      }
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

/** How full a table sized up front is: linear probing stays short below three quarters. */
const SIZED_LOAD = 0.72;
/** How full the table may get before it grows (room for a tenth more keys than expected). */
const MAX_LOAD = 0.8;
/** The line of a slot whose key only the last run had: no input has 4 billion lines. */
const KNOWN = 0xffffffff;

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
