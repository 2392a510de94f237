import { createHash } from 'node:crypto';
import { UsageError } from '../core/errors.ts';
import { type Dialect, describeFault, fieldName } from './csv-dialect.ts';
import { checkHeader } from './csv-header.ts';
import { CsvTokenizer, MAX_COLUMNS, type TokenizedRecord } from './csv-tokenizer.ts';
import { type FileIdentity, GuardedFile } from './guarded-file.ts';
import { type EncodingFault, InputDecoder } from './input-encoding.ts';

/** What the scan pass learns, and the records pass relies on. */
export interface CsvScanResult {
  /** sha256 of the file's bytes. */
  digest: string;
  /** Data records (the header and a trailer not counted). */
  count: number;
  /** The column names: the header's, or those the task declared. */
  columns: string[] | undefined;
  /** The file as it was read; the records pass refuses a file that no longer matches. */
  identity: FileIdentity;
  /** The line of the trailer, which is not a record. */
  trailerLine: number | undefined;
}

/** What the scan checks besides the file's structure. */
export interface ScanChecks {
  /** Columns the task reads (declared fields and the key column). */
  required: readonly string[];
  trailer: RegExp | undefined;
  expectRows: number | ((path: string) => number | Promise<number>) | undefined;
}

/** A tokenizer for a dialect; `materializeUntil` records get their fields decoded. */
export function tokenizerFor(d: Dialect, materializeUntil: number): CsvTokenizer {
  return new CsvTokenizer({
    delimiter: d.delimiter.charCodeAt(0),
    quote: d.quote.charCodeAt(0),
    trim: d.trim,
    maxFieldBytes: d.maxFieldBytes,
    materializeUntil,
  });
}

export function encodingError(path: string, d: Dialect, line: number, f: EncodingFault): UsageError {
  return new UsageError(
    `input ${path} cannot be read as ${d.encoding}: ${f.what} (line ${line}); ${f.hint}. Nothing was changed.`,
  );
}

/**
 * The scan pass: one read of the file that hashes its bytes, checks its encoding
 * and its header, counts its records with the same tokenizer the records pass
 * uses (so the count is exact), and refuses, before any record is used, a quote
 * that never closes, a file that changes while it is read, and a missing trailer
 * or a row count that differs from the one expected. Fields are not decoded.
 */
export async function scanCsv(path: string, d: Dialect, checks: ScanChecks): Promise<CsvScanResult> {
  const file = await GuardedFile.open(
    path,
    (what) =>
      new UsageError(
        `input ${path} changed while it was being read (${what}): is the export still being written? ` +
          'Wait until it is complete, then run again. Nothing was changed.',
      ),
  ).catch((err: unknown) => {
    throw new UsageError(`input ${path} cannot be read: ${(err as Error).message}`, { cause: err });
  });
  try {
    const hash = createHash('sha256');
    const decoder = new InputDecoder(d.encoding);
    const tok = tokenizerFor(d, d.columns ? 0 : 1);
    const tail = checks.trailer ? new Tail() : undefined;
    const out: TokenizedRecord[] = [];
    const header = new HeaderCheck(path, d, checks.required);
    for await (const chunk of file.chunks()) {
      hash.update(chunk);
      const { bytes, fault } = decoder.decode(chunk);
      tok.push(bytes, out);
      tail?.keep(bytes, tok.offset);
      header.take(out, tok);
      if (fault) throw encodingError(path, d, tok.line, fault);
    }
    const end = decoder.end();
    tok.push(end.bytes, out);
    tail?.keep(end.bytes, tok.offset);
    header.take(out, tok);
    if (end.fault) throw encodingError(path, d, tok.line, end.fault);
    const unclosed = tok.finish(out);
    if (unclosed) {
      throw new UsageError(
        `input ${path}: a quote opened on line ${unclosed.line} (${fieldName(unclosed.field, header.columns)}) never closes, ` +
          'so where its records end cannot be known: the whole file is refused and nothing was changed. ' +
          `A quote inside a value must be doubled (${d.quote}a${d.quote}${d.quote}b${d.quote}), and a quoted value ends ` +
          'with a quote followed by the delimiter or the end of the line.',
      );
    }
    header.take(out, tok);
    let count = tok.count - (d.columns || header.columns === undefined ? 0 : 1);
    let trailerLine: number | undefined;
    if (checks.trailer && tail) {
      trailerLine = checkTrailer(
        path,
        checks.trailer,
        count,
        tail.text(tok.lastStart, tok.lastEnd),
        tok.lastLine,
      );
      count--;
    }
    await checkRowCount(path, checks.expectRows, count);
    return {
      digest: hash.digest('hex'),
      count,
      columns: header.columns,
      identity: file.identity,
      trailerLine,
    };
  } finally {
    await file.close();
  }
}

/** Checks the header as soon as it has been read. */
class HeaderCheck {
  columns: string[] | undefined;

  constructor(
    private readonly path: string,
    private readonly d: Dialect,
    private readonly required: readonly string[],
  ) {
    if (d.columns) {
      this.columns = [...d.columns];
      checkHeader(this.columns, { path, line: undefined, delimiter: d.delimiter, required });
    }
  }

  take(out: TokenizedRecord[], tok: CsvTokenizer): void {
    const rec = out[0];
    out.length = 0;
    if (this.columns || !rec) return;
    if (rec.fault) {
      throw new UsageError(
        `input ${this.path}: the header (line ${rec.line}) is malformed: ${describeFault(rec.fault, this.d, undefined)}. Nothing was changed.`,
      );
    }
    if (rec.fieldCount > MAX_COLUMNS) {
      throw new UsageError(
        `input ${this.path}: the header (line ${rec.line}) has ${rec.fieldCount} columns, more than ${MAX_COLUMNS}; ` +
          'is this a CSV file? Nothing was changed.',
      );
    }
    this.columns = rec.fields;
    tok.maxFields = rec.fields.length + 1;
    checkHeader(rec.fields, {
      path: this.path,
      line: rec.line,
      delimiter: this.d.delimiter,
      required: this.required,
    });
  }
}

/** The last bytes read (two chunks), to find the last line in. */
class Tail {
  private prev: { base: number; bytes: Buffer } | undefined;
  private last: { base: number; bytes: Buffer } | undefined;

  keep(bytes: Buffer, end: number): void {
    this.prev = this.last;
    this.last = { base: end - bytes.length, bytes: Buffer.from(bytes) };
  }

  text(start: number, end: number): string | undefined {
    const pieces = [this.prev, this.last].filter((p) => p !== undefined);
    const first = pieces[0];
    if (!first || start < first.base) return undefined;
    const all = Buffer.concat(pieces.map((p) => p.bytes));
    return all.subarray(start - first.base, end - first.base).toString('utf8');
  }
}

function checkTrailer(
  path: string,
  trailer: RegExp,
  count: number,
  text: string | undefined,
  line: number,
): number {
  const m = count > 0 && text !== undefined ? trailer.exec(text) : null;
  if (!m) {
    throw new UsageError(
      `input ${path} does not end with the trailer line the task expects (${trailer})` +
        (count > 0 ? `: its last line, line ${line}, does not match` : ': it has no data lines at all') +
        '. The export may be incomplete (still being written, or cut short); wait for the complete file. Nothing was changed.',
    );
  }
  const said = m[1];
  if (said !== undefined && Number(said) !== count - 1) {
    throw new UsageError(
      `input ${path}: its trailer (line ${line}) says ${said} rows, but the file has ${count - 1}; ` +
        'the export is incomplete or damaged. Nothing was changed.',
    );
  }
  return line;
}

async function checkRowCount(path: string, expect: ScanChecks['expectRows'], count: number): Promise<void> {
  if (expect === undefined) return;
  let expected: number;
  try {
    expected = typeof expect === 'function' ? await expect(path) : expect;
  } catch (err) {
    throw new UsageError(
      `input ${path}: the expected row count could not be read (expectRows): ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!Number.isSafeInteger(expected) || expected < 0) {
    throw new UsageError(`input ${path}: expectRows gave ${String(expected)}, not a row count`);
  }
  if (expected !== count) {
    throw new UsageError(
      `input ${path} has ${count} rows, but ${expected} were expected (expectRows); ` +
        'the export is incomplete or not the one expected. Nothing was changed.',
    );
  }
}
