import { FieldBytes } from './csv-field.ts';
import { Fnv1a64 } from './record-hash.ts';

/**
 * The CSV dialect, byte by byte, for both passes over a file (the scan that
 * counts and checks, and the pass that yields records), so that they cannot
 * disagree about where a record starts or ends.
 *
 * - Records end at LF, CRLF or a lone CR outside quotes; each of them is one line
 *   (inside quotes too), so line numbers match an editor's.
 * - A field is quoted when its first byte (after blanks, with `trim`) is the quote.
 *   Inside it, a doubled quote is one quote and everything else is kept byte for
 *   byte, CRLF included. It closes at a quote followed by the delimiter, a line end,
 *   the end of the input or (with `trim`) blanks.
 * - Faults that stay inside one record make that record invalid and reading goes on:
 *   a quote inside an unquoted value, text after a closing quote, a NUL byte, a field
 *   over the size limit. A quote that never closes is the one structural fault: the
 *   tokenizer cannot tell where records end, so it is reported by {@link finish}.
 * - Empty lines (blank lines with `trim`) are skipped.
 */

const ORD = 0;
const DELIM = 1;
const QUOTE = 2;
const LF = 3;
const CR = 4;
const BLANK = 5;
const NUL = 6;

/** The widest header read: Excel's column limit. */
export const MAX_COLUMNS = 16_384;

const START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
const QUOTE_SEEN = 3;
const AFTER_QUOTED = 4;
const JUNK = 5;

/** What is wrong with one field; the record it is in is invalid. */
export type FieldFaultKind = 'stray-quote' | 'text-after-quote' | 'nul' | 'too-large';

export interface FieldFault {
  kind: FieldFaultKind;
  /** 0-based index of the field in its record. */
  field: number;
  /** The field's size in bytes (for `too-large`). */
  bytes: number;
}

/** A record, with its fields decoded when the tokenizer materializes it. */
export interface TokenizedRecord {
  /** The line the record starts on (1-based). */
  line: number;
  /** How many fields the record has. */
  fieldCount: number;
  /** The decoded fields, at most `maxFields` of them; a faulty field is ''. */
  fields: string[];
  /** The first fault in the record. */
  fault: FieldFault | undefined;
  /** FNV-1a 64 of the record's raw bytes (its line end excluded). */
  hash: string;
  /** Offsets of the record's raw bytes in the whole tokenized input. */
  start: number;
  end: number;
}

export interface TokenizerOptions {
  /** The delimiter and quote bytes (ASCII). */
  delimiter: number;
  quote: number;
  /** Drop spaces and tabs around unquoted values and around quotes. */
  trim: boolean;
  /** A field larger than this is a `too-large` fault. */
  maxFieldBytes: number;
  /** Records with an index below this are materialized (fields and hash); the rest only counted. */
  materializeUntil: number;
}

/** A quote that never closed: where it opened. */
export interface UnclosedQuote {
  line: number;
  /** 0-based field index. */
  field: number;
}

/** The bytes (1) that end a run of a state's ordinary bytes, from a class table. */
function stops(table: Uint8Array, stop: readonly number[]): Uint8Array {
  return table.map((k) => (stop.includes(k) ? 1 : 0));
}

/** The first byte from `from` on that `stop` marks, or the end of the chunk. */
function skipTo(buf: Buffer, from: number, stop: Uint8Array): number {
  const n = buf.length;
  let i = from;
  while (i < n && stop[buf[i] as number] === 0) i++;
  return i;
}

/** Builds the byte class table, outside and inside quotes. */
function classes(o: TokenizerOptions): { outside: Uint8Array; inside: Uint8Array } {
  const outside = new Uint8Array(256);
  if (o.trim) {
    outside[0x20] = BLANK;
    outside[0x09] = BLANK;
  }
  outside[0] = NUL;
  outside[0x0a] = LF;
  outside[0x0d] = CR;
  outside[o.delimiter] = DELIM;
  outside[o.quote] = QUOTE;
  const inside = new Uint8Array(256);
  inside[0] = NUL;
  inside[0x0a] = LF;
  inside[0x0d] = CR;
  inside[o.quote] = QUOTE;
  return { outside, inside };
}

/** Spaces and tabs at the end of a decoded unquoted value. */
function trimBlankEnd(s: string): string {
  let e = s.length;
  while (e > 0) {
    const c = s.charCodeAt(e - 1);
    if (c !== 0x20 && c !== 0x09) break;
    e--;
  }
  return e === s.length ? s : s.slice(0, e);
}

export class CsvTokenizer {
  /** The line the next byte is on. */
  line = 1;
  /** Records completed so far (a header included). */
  count = 0;
  /** Records with an index below this are materialized. */
  materializeUntil: number;
  /**
   * Past the first `keepFirst` records (a header), those that start on a line
   * `wanted` does not want are counted, not materialized (a reader that wants only
   * some lines: the apply phase). It is asked as each record starts, in line
   * order, so it never changes its mind half-way through one.
   */
  wanted: ((line: number) => boolean) | undefined;
  keepFirst = 0;
  /** Whether the record being read is materialized: decided as it starts. */
  private live: boolean;
  /** At most this many fields of a record are decoded (the rest are counted). */
  maxFields = MAX_COLUMNS + 1;

  private readonly outside: Uint8Array;
  private readonly inside: Uint8Array;
  /** Where an unquoted value, a quoted one and a broken field stop being ordinary bytes. */
  private readonly unquotedStop: Uint8Array;
  private readonly quotedStop: Uint8Array;
  private readonly junkStop: Uint8Array;
  private readonly trim: boolean;

  private state = START;
  /** Absolute offset of the current chunk's first byte, and of the last CR seen. */
  private base = 0;
  private crAt = -2;

  // The record being read.
  private recLine = 1;
  private recStart = 0;
  private fieldIndex = 0;
  private fields: string[] = [];
  private fault: FieldFault | undefined;
  private readonly hash = new Fnv1a64();
  /** Where the unhashed bytes of the current record start, in the current chunk. */
  private hashFrom = 0;

  // The field being read: its bytes in earlier chunks, and where it starts in this one.
  private readonly field: FieldBytes;
  private segStart = 0;
  private segEnd = 0;
  private quoteLine = 0;

  constructor(options: TokenizerOptions) {
    const { outside, inside } = classes(options);
    this.outside = outside;
    this.inside = inside;
    this.unquotedStop = stops(outside, [DELIM, QUOTE, LF, CR, NUL]);
    this.quotedStop = stops(inside, [QUOTE, LF, CR, NUL]);
    this.junkStop = stops(outside, [DELIM, LF, CR]);
    this.trim = options.trim;
    this.field = new FieldBytes(options.maxFieldBytes);
    this.materializeUntil = options.materializeUntil;
    this.live = this.materializeUntil > 0;
  }

  /** Absolute offset just past the last byte pushed. */
  get offset(): number {
    return this.base;
  }

  /** Reads a chunk; the records it completes are appended to `out` (materialized ones only). */
  push(buf: Buffer, out: TokenizedRecord[]): void {
    const n = buf.length;
    let i = 0;
    this.hashFrom = 0;
    while (i < n) {
      switch (this.state) {
        case UNQUOTED:
          i = this.unquoted(buf, i, out);
          break;
        case START:
          i = this.fieldStart(buf, i, out);
          break;
        case QUOTED:
          i = this.quoted(buf, i);
          break;
        case QUOTE_SEEN:
          i = this.quoteSeen(buf, i, out);
          break;
        case AFTER_QUOTED:
          i = this.afterQuoted(buf, i, out);
          break;
        default:
          i = this.junk(buf, i, out);
      }
    }
    this.endChunk(buf, n);
  }

  /** Inside an unquoted value: up to the delimiter or the line end. */
  private unquoted(buf: Buffer, from: number, out: TokenizedRecord[]): number {
    const i = skipTo(buf, from, this.unquotedStop);
    if (i === buf.length) return i;
    const k = this.outside[buf[i] as number] as number;
    if (k === DELIM) {
      this.endUnquoted(buf, i);
      return i + 1;
    }
    if (k === QUOTE || k === NUL) {
      this.setFault(k === QUOTE ? 'stray-quote' : 'nul', 0);
      return i + 1;
    }
    this.endUnquoted(buf, i);
    return this.endRecord(buf, i, k, out);
  }

  /** The first byte of a field (or of a line). */
  private fieldStart(buf: Buffer, i: number, out: TokenizedRecord[]): number {
    const k = this.outside[buf[i] as number] as number;
    switch (k) {
      case ORD:
      case NUL:
        if (k === NUL) this.setFault('nul', 0);
        this.segStart = i;
        this.state = UNQUOTED;
        return i + 1;
      case DELIM:
        this.pushField('');
        return i + 1;
      case QUOTE:
        this.state = QUOTED;
        this.quoteLine = this.line;
        this.segStart = i + 1;
        return i + 1;
      case BLANK:
        return i + 1;
    }
    if (k === LF && this.crAt === this.base + i - 1) {
      // The LF of a CRLF whose CR already ended the line.
      this.recStart = this.base + i + 1;
      this.hashFrom = i + 1;
      return i + 1;
    }
    if (this.fieldIndex === 0) return this.emptyLine(i, k);
    this.pushField('');
    return this.endRecord(buf, i, k, out);
  }

  /** Inside quotes: everything is content up to a quote; line ends are counted. */
  private quoted(buf: Buffer, from: number): number {
    const i = skipTo(buf, from, this.quotedStop);
    if (i === buf.length) return i;
    const k = this.inside[buf[i] as number] as number;
    if (k === QUOTE) {
      this.segEnd = i;
      this.state = QUOTE_SEEN;
    } else if (k === CR) {
      this.line++;
      this.crAt = this.base + i;
    } else if (k === LF) {
      if (this.crAt !== this.base + i - 1) this.line++;
    } else {
      this.setFault('nul', 0);
    }
    return i + 1;
  }

  /** The byte after a quote inside quotes: a second quote, or the end of the value. */
  private quoteSeen(buf: Buffer, i: number, out: TokenizedRecord[]): number {
    const k = this.outside[buf[i] as number] as number;
    if (k === QUOTE) {
      // A doubled quote: the content so far is kept, and the second quote starts the next piece.
      this.keepPiece(buf, this.segStart, this.segEnd);
      this.segStart = i;
      this.state = QUOTED;
      return i + 1;
    }
    if (k === BLANK) {
      this.state = AFTER_QUOTED;
      return i + 1;
    }
    return this.afterQuoted(buf, i, out);
  }

  /** After a closing quote: blanks (with `trim`), then the delimiter or the line end. */
  private afterQuoted(buf: Buffer, i: number, out: TokenizedRecord[]): number {
    const k = this.outside[buf[i] as number] as number;
    if (k === BLANK) return i + 1;
    if (k === DELIM) {
      this.endQuoted(buf);
      return i + 1;
    }
    if (k === LF || k === CR) {
      this.endQuoted(buf);
      return this.endRecord(buf, i, k, out);
    }
    this.setFault('text-after-quote', 0);
    this.state = JUNK;
    return i + 1;
  }

  /** The rest of a broken field, up to the next delimiter or line end. */
  private junk(buf: Buffer, from: number, out: TokenizedRecord[]): number {
    const i = skipTo(buf, from, this.junkStop);
    if (i === buf.length) return i;
    const k = this.outside[buf[i] as number] as number;
    this.dropField();
    this.pushField('');
    return k === DELIM ? i + 1 : this.endRecord(buf, i, k, out);
  }

  /**
   * Ends the input: the last record (without a line end) is completed. Returns the
   * quote that never closed, if one did not; then nothing after it is a record.
   */
  finish(out: TokenizedRecord[]): UnclosedQuote | undefined {
    const empty = Buffer.alloc(0);
    switch (this.state) {
      case QUOTED:
        return { line: this.quoteLine, field: this.fieldIndex };
      case QUOTE_SEEN:
      case AFTER_QUOTED:
        this.endQuoted(empty);
        break;
      case UNQUOTED:
        this.endUnquoted(empty, 0);
        break;
      case JUNK:
        this.dropField();
        this.pushField('');
        break;
      default:
        if (this.fieldIndex === 0) return undefined;
        this.pushField('');
    }
    this.endRecord(empty, 0, 0, out);
    return undefined;
  }

  private materializing(): boolean {
    return this.live;
  }

  private setFault(kind: FieldFaultKind, bytes: number): void {
    this.fault ??= { kind, field: this.fieldIndex, bytes };
  }

  private emptyLine(i: number, k: number): number {
    this.line++;
    if (k === CR) this.crAt = this.base + i;
    this.recLine = this.line;
    this.live =
      this.count < this.materializeUntil &&
      (this.count < this.keepFirst || this.wanted === undefined || this.wanted(this.recLine));
    this.recStart = this.base + i + 1;
    this.hashFrom = i + 1;
    this.hash.reset();
    return i + 1;
  }

  /** Keeps `buf[from..to)` of the field being read (it continues past this piece). */
  private keepPiece(buf: Buffer, from: number, to: number): void {
    this.field.add(buf, from, to, this.materializing());
  }

  private endUnquoted(buf: Buffer, end: number): void {
    this.endField(buf, this.segStart, end, this.trim);
  }

  private endQuoted(buf: Buffer): void {
    this.endField(buf, this.segStart, this.segEnd, false);
  }

  /** Ends the field whose last bytes are `buf[from..to)`. */
  private endField(buf: Buffer, from: number, to: number, trimEnd: boolean): void {
    let value = '';
    if (this.materializing()) {
      const text = this.field.text(buf, from, to);
      if (text === undefined) this.setFault('too-large', this.field.size(from, to));
      else value = trimEnd ? trimBlankEnd(text) : text;
    }
    this.dropField();
    this.pushField(value);
  }

  private dropField(): void {
    this.field.reset();
    this.segStart = 0;
    this.segEnd = 0;
  }

  private pushField(value: string): void {
    if (this.materializing() && this.fieldIndex < this.maxFields) {
      this.fields.push(this.fault?.field === this.fieldIndex ? '' : value);
    }
    this.fieldIndex++;
    this.state = START;
  }

  /** Ends the record at the line end `buf[i]` (class `k`; 0 at the end of the input). */
  private endRecord(buf: Buffer, i: number, k: number, out: TokenizedRecord[]): number {
    if (this.materializing()) {
      this.hash.update(buf, this.hashFrom, i);
      out.push({
        line: this.recLine,
        fieldCount: this.fieldIndex,
        fields: this.fields,
        fault: this.fault,
        hash: this.hash.hex(),
        start: this.recStart,
        end: this.base + i,
      });
      this.fields = [];
    }
    this.lastStart = this.recStart;
    this.lastEnd = this.base + i;
    this.lastLine = this.recLine;
    this.count++;
    this.fieldIndex = 0;
    this.fault = undefined;
    this.state = START;
    if (k === 0) return i;
    return this.emptyLine(i, k);
  }

  /** The last record's line and byte range, for a trailer check. */
  lastStart = 0;
  lastEnd = 0;
  lastLine = 0;

  /** Carries the open field and record over to the next chunk. */
  private endChunk(buf: Buffer, n: number): void {
    if (this.materializing()) this.hash.update(buf, this.hashFrom, n);
    if (this.state === UNQUOTED || this.state === QUOTED) {
      this.keepPiece(buf, this.segStart, n);
    } else if (this.state === QUOTE_SEEN || this.state === AFTER_QUOTED) {
      this.keepPiece(buf, this.segStart, this.segEnd);
    }
    this.segStart = 0;
    this.segEnd = 0;
    this.base += n;
  }
}
