import { isUtf8 } from 'node:buffer';

/**
 * The encodings a CSV file may declare. Anything else is turned into UTF-8
 * before the tokenizer sees it, so one byte-level dialect serves them all.
 * - `utf8`: the default; invalid bytes are refused, never replaced.
 * - `windows-1252`: what Excel and Windows call "ANSI" (Western European).
 * - `latin1`: ISO-8859-1 proper (0x80-0x9F are control characters).
 * - `utf16le`: what Excel writes as "Unicode text".
 */
export type CsvEncoding = 'utf8' | 'latin1' | 'windows-1252' | 'utf16le';

export const CSV_ENCODINGS: readonly CsvEncoding[] = ['utf8', 'latin1', 'windows-1252', 'utf16le'];

/** Bytes that are not text in the declared encoding. */
export interface EncodingFault {
  /** What is wrong, without the line: `the byte 0xE9 is not UTF-8`. */
  what: string;
  /** What to do about it. */
  hint: string;
}

/** A chunk turned into UTF-8: the good bytes, and a fault right after them. */
export interface Decoded {
  bytes: Buffer;
  fault?: EncodingFault;
}

const BOM_UTF8 = [0xef, 0xbb, 0xbf];
const EMPTY = Buffer.alloc(0);
const LONE_SURROGATE_FAULT: EncodingFault = {
  what: 'a UTF-16 surrogate has no partner, so the file is not valid UTF-16',
  hint: "declare the file's encoding, or export it again as UTF-8",
};
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

// Windows-1252 where it differs from ISO-8859-1 (0x80-0x9F); undefined slots stay as they are.
const CP1252 =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

const DECLARE =
  "declare the file's encoding, e.g. csv(path, { encoding: 'windows-1252' }) for what Excel calls ANSI, " +
  "or 'latin1' or 'utf16le'; or export it again as UTF-8";

function startsWith(buf: Buffer, bytes: number[]): boolean {
  return buf.length >= bytes.length && bytes.every((b, i) => buf[i] === b);
}

/** A byte order mark that contradicts the declared encoding. */
function bomFault(encoding: CsvEncoding, first: Buffer): EncodingFault | undefined {
  if (startsWith(first, [0x00, 0x00, 0xfe, 0xff]) || startsWith(first, [0xff, 0xfe, 0x00, 0x00])) {
    return { what: 'the file is UTF-32: it starts with a UTF-32 byte order mark', hint: DECLARE };
  }
  if (startsWith(first, [0xfe, 0xff])) {
    return {
      what: 'the file is UTF-16 big-endian: it starts with its byte order mark',
      hint: 'export it again as UTF-8 (or UTF-16 little-endian with encoding: "utf16le")',
    };
  }
  if (encoding !== 'utf16le' && startsWith(first, [0xff, 0xfe])) {
    return {
      what: 'the file is UTF-16: it starts with a UTF-16 byte order mark',
      hint: "declare it with csv(path, { encoding: 'utf16le' }), or export it again as UTF-8",
    };
  }
  if (encoding !== 'utf8' && startsWith(first, BOM_UTF8)) {
    return {
      what: `the file starts with a UTF-8 byte order mark, but encoding '${encoding}' is declared`,
      hint: 'remove the encoding option: the file is UTF-8',
    };
  }
  return undefined;
}

/** Where the last, possibly incomplete, UTF-8 sequence starts (or `buf.length`). */
function completeUpTo(buf: Buffer): number {
  const n = buf.length;
  for (let j = n - 1; j >= Math.max(0, n - 3); j--) {
    const b = buf[j] as number;
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return n - j < need ? j : n;
  }
  return n;
}

/** The offset of the first byte that does not start a valid UTF-8 sequence. */
export function firstInvalidUtf8(b: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    const need = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (need === 0 || i + need >= end) return i;
    const c1 = b[i + 1] as number;
    if (
      (c === 0xe0 && c1 < 0xa0) ||
      (c === 0xed && c1 > 0x9f) ||
      (c === 0xf0 && c1 < 0x90) ||
      (c === 0xf4 && c1 > 0x8f)
    )
      return i;
    for (let j = 1; j <= need; j++) if (((b[i + j] as number) & 0xc0) !== 0x80) return i;
    i += need + 1;
  }
  return end;
}

/** Turns chunks of a file in a declared encoding into UTF-8, refusing what is not text in it. */
export class InputDecoder {
  /** The first bytes, held until there are enough to tell a byte order mark (undefined after). */
  private head: Buffer | undefined = EMPTY;
  private carry: Buffer | undefined;
  private bytesIn = 0;
  private utf16Started = false;

  constructor(readonly encoding: CsvEncoding) {}

  decode(chunk: Buffer): Decoded {
    this.bytesIn += chunk.length;
    if (this.head === undefined) return this.convert(chunk);
    const head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
    if (head.length < 4) {
      this.head = Buffer.from(head);
      return { bytes: EMPTY };
    }
    this.head = undefined;
    return this.start(head);
  }

  /**
   * The end of the input: what was held back (a file of fewer than 4 bytes), or
   * the fault of a character cut off by the end.
   */
  end(): Decoded {
    let bytes: Buffer = EMPTY;
    if (this.head !== undefined) {
      const held = this.start(this.head);
      this.head = undefined;
      if (held.fault) return held;
      bytes = held.bytes;
    }
    if (this.encoding === 'utf8' && this.carry) {
      return { bytes, fault: { what: 'the file ends in the middle of a UTF-8 character', hint: DECLARE } };
    }
    if (this.encoding === 'utf16le' && this.bytesIn % 2 === 1) {
      return {
        bytes,
        fault: { what: 'the file has an odd number of bytes, so it is not UTF-16', hint: DECLARE },
      };
    }
    if (this.encoding === 'utf16le' && this.carry) return { bytes, fault: LONE_SURROGATE_FAULT };
    return { bytes };
  }

  /** The first bytes of the input: a byte order mark is checked, and a UTF-8 one dropped. */
  private start(head: Buffer): Decoded {
    const fault = bomFault(this.encoding, head);
    if (fault) return { bytes: EMPTY, fault };
    return this.convert(this.encoding === 'utf8' && startsWith(head, BOM_UTF8) ? head.subarray(3) : head);
  }

  private convert(buf: Buffer): Decoded {
    switch (this.encoding) {
      case 'utf8':
        return this.utf8(buf);
      case 'utf16le':
        return this.fromUtf16(buf);
      default:
        return { bytes: Buffer.from(this.singleByte(buf), 'utf8') };
    }
  }

  private utf8(chunk: Buffer): Decoded {
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    const cut = completeUpTo(buf);
    const whole = buf.subarray(0, cut);
    if (!isUtf8(whole)) {
      const bad = firstInvalidUtf8(buf, 0, cut);
      const byte = (buf[bad] as number).toString(16).toUpperCase().padStart(2, '0');
      return {
        bytes: buf.subarray(0, bad),
        fault: { what: `the byte 0x${byte} is not UTF-8`, hint: DECLARE },
      };
    }
    if (cut < buf.length) this.carry = Buffer.from(buf.subarray(cut));
    return { bytes: whole };
  }

  private singleByte(buf: Buffer): string {
    const text = buf.toString('latin1');
    if (this.encoding !== 'windows-1252') return text;
    return text.replace(/[\u0080-\u009f]/g, (c) => CP1252[c.charCodeAt(0) - 0x80] as string);
  }

  /** UTF-16 LE: an odd byte or a high surrogate at the end of a chunk waits for the next one. */
  private fromUtf16(chunk: Buffer): Decoded {
    const buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = undefined;
    let whole = buf.length - (buf.length % 2);
    const lastUnit = whole >= 2 ? buf.readUInt16LE(whole - 2) : 0;
    if (lastUnit >= 0xd800 && lastUnit <= 0xdbff) whole -= 2;
    if (whole < buf.length) this.carry = Buffer.from(buf.subarray(whole));
    let s = buf.toString('utf16le', 0, whole);
    if (!this.utf16Started) {
      this.utf16Started = s.length > 0;
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    const bad = s.search(LONE_SURROGATE);
    if (bad < 0) return { bytes: Buffer.from(s, 'utf8') };
    return { bytes: Buffer.from(s.slice(0, bad), 'utf8'), fault: LONE_SURROGATE_FAULT };
  }
}
