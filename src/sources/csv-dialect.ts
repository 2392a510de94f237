import { UsageError } from '../core/errors.ts';
import type { FieldFault } from './csv-tokenizer.ts';
import { CSV_ENCODINGS, type CsvEncoding } from './input-encoding.ts';

/** The largest field by default: 64 KiB. */
export const DEFAULT_MAX_FIELD_BYTES = 64 * 1024;

/** The CSV options a source reads with, checked. */
export interface Dialect {
  delimiter: string;
  quote: string;
  trim: boolean;
  encoding: CsvEncoding;
  maxFieldBytes: number;
  /** Column names given by the task (the file has no header row). */
  columns: readonly string[] | undefined;
}

/** The options that make a dialect (a subset of `CsvOptions`). */
export interface DialectOptions {
  delimiter?: string;
  quote?: string;
  trim?: boolean;
  encoding?: CsvEncoding;
  maxFieldBytes?: number;
  columns?: readonly string[];
}

function oneAsciiChar(name: string, value: string, path: string): string {
  const code = value.charCodeAt(0);
  if (value.length !== 1 || code > 0x7e || code === 0x0a || code === 0x0d || code === 0) {
    throw new UsageError(
      `csv ${path}: ${name} must be one ASCII character other than a line end, not ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Checks a task's CSV options; a mistake is a usage error naming the file. */
export function dialectOf(path: string, o: DialectOptions): Dialect {
  const delimiter = oneAsciiChar('delimiter', o.delimiter ?? ',', path);
  const quote = oneAsciiChar('quote', o.quote ?? '"', path);
  if (delimiter === quote) throw new UsageError(`csv ${path}: the delimiter and the quote are both ${quote}`);
  const encoding = o.encoding ?? 'utf8';
  if (!CSV_ENCODINGS.includes(encoding)) {
    throw new UsageError(
      `csv ${path}: encoding ${JSON.stringify(encoding)} is not supported; use one of ${CSV_ENCODINGS.join(', ')}`,
    );
  }
  const maxFieldBytes = o.maxFieldBytes ?? DEFAULT_MAX_FIELD_BYTES;
  if (!Number.isSafeInteger(maxFieldBytes) || maxFieldBytes < 1) {
    throw new UsageError(`csv ${path}: maxFieldBytes must be a positive whole number, not ${maxFieldBytes}`);
  }
  return { delimiter, quote, trim: o.trim ?? true, encoding, maxFieldBytes, columns: o.columns };
}

/** `64 KiB`, `10.0 MiB`, `312 bytes`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** `field 2 ("name")`, or `field 5` past the known columns. */
export function fieldName(index: number, columns: readonly string[] | undefined): string {
  const name = columns?.[index];
  return name === undefined ? `field ${index + 1}` : `field ${index + 1} ("${name}")`;
}

/** Why a record with a field fault is invalid; never quotes the value (it may be a secret). */
export function describeFault(f: FieldFault, d: Dialect, columns: readonly string[] | undefined): string {
  const field = fieldName(f.field, columns);
  const q = d.quote;
  switch (f.kind) {
    case 'stray-quote':
      return `${field} has a quote inside an unquoted value; quote the whole value and double the quote inside it (${q}a${q}${q}b${q})`;
    case 'text-after-quote':
      return `${field} has text after its closing quote; a quote inside a quoted value must be doubled (${q}a${q}${q}b${q})`;
    case 'nul':
      return `${field} contains a NUL byte (is the file binary, or UTF-16 without a byte order mark?)`;
    case 'too-large':
      return `${field} is ${formatBytes(f.bytes)}, over the limit of ${formatBytes(d.maxFieldBytes)} (raise it with the csv option maxFieldBytes if such values are expected)`;
  }
}

/** Why a record with the wrong number of fields is invalid. */
export function describeWidth(got: number, columns: readonly string[], declared: boolean): string {
  const where = declared
    ? `${columns.length} columns are declared`
    : `the header has ${columns.length} columns`;
  return `the row has ${got} field${got === 1 ? '' : 's'} where ${where} (a delimiter inside an unquoted value, or a value missing?)`;
}
