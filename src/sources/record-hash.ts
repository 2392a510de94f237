/**
 * 64-bit FNV-1a over bytes, streamed: the `hash` a CSV record carries into the
 * ledger's `input_hash` (16 hex digits). Not cryptographic: it tells which raw
 * line a result came from, cheaply (about 1 ns a byte), and is never trusted as a
 * guard. The 64-bit product is computed in two 32-bit halves, exactly.
 *
 * @example
 * const h = new Fnv1a64();
 * h.update(Buffer.from('a'), 0, 1);
 * h.hex(); // 'af63dc4c8601ec8c'
 */
export class Fnv1a64 {
  private hi = 0xcbf29ce4;
  private lo = 0x84222325;

  /** Adds `bytes[start..end)`. */
  update(bytes: Uint8Array, start: number, end: number): void {
    let hi = this.hi;
    let lo = this.lo;
    for (let i = start; i < end; i++) {
      lo = (lo ^ (bytes[i] as number)) >>> 0;
      // (hi·2^32 + lo) · (2^40 + 0x1b3) mod 2^64, with the low product below 2^41 (exact in a double).
      const low = lo * 0x1b3;
      const lowWord = low >>> 0;
      hi = (Math.imul(hi, 0x1b3) + (lo << 8) + (low - lowWord) / 0x100000000) >>> 0;
      lo = lowWord;
    }
    this.hi = hi;
    this.lo = lo;
  }

  /** The hash so far, as 16 hex digits. */
  hex(): string {
    return hex8(this.hi) + hex8(this.lo);
  }

  /** Starts over (the offset basis). */
  reset(): void {
    this.hi = 0xcbf29ce4;
    this.lo = 0x84222325;
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex8(n: number): string {
  return (
    (HEX[n >>> 24] as string) +
    (HEX[(n >>> 16) & 0xff] as string) +
    (HEX[(n >>> 8) & 0xff] as string) +
    (HEX[n & 0xff] as string)
  );
}
