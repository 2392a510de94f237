import { IdemError } from './errors.ts';

/** One record as read from a source, before the task parses it. */
export interface SourceRecord<Raw = Record<string, string>> {
  /**
   * The 1-based line in the file where the record starts (the header is line 1).
   * Lines increase from record to record: the ledger and `--resume` find a record
   * by its line, so a source whose lines do not increase is refused at the first
   * that does not.
   */
  line: number;
  /** Column name → raw value. Empty when the row could not be split into its columns (`error` says why). */
  raw: Raw;
  /** Why the row is unusable (a stray quote, a wrong column count, a bad cell). */
  error?: string;
  /**
   * A digest of the record's raw input, kept as the ledger's `input_hash` (which
   * line a result came from). A source that has the raw bytes gives a cheap one
   * (the CSV source: FNV-1a 64 of the record's bytes, 16 hex digits); without it
   * the engine hashes the parsed row (sha256).
   */
  hash?: string;
}

/**
 * Whether a reader may want the record that starts on `line` (the apply phase:
 * whether its plan holds that line). False only when it is sure it does not; asked
 * in increasing line order, as the source reads on.
 */
export type LineFilter = (line: number) => boolean;

/** What a first pass over the input tells. */
export interface SourceScan {
  /** A digest of the input's bytes, so `--resume` can refuse a changed input. */
  digest: string;
  /** The number of records, for progress and the empty check. */
  count: number;
  /** The column names, when the source has a header. */
  columns?: string[];
}

/** What the task needs from the input, so that the scan can refuse an input that cannot give it. */
export interface ScanExpectation {
  /** Columns the task reads beyond those the source was declared with (the key column). */
  columns?: readonly string[];
}

/**
 * A finite, re-readable stream of records. The input is checked as a whole
 * before any record is used: `scan` refuses (a `UsageError`) what cannot be read
 * safely, and `records` then yields exactly `count` records.
 */
export interface RecordSource<Raw = Record<string, string>> {
  /** What to show the operator: a path, a URL. */
  readonly description: string;
  /**
   * Reads the whole input once: a digest of its bytes (so `--resume` can refuse a
   * changed input) and the number of records (for progress and the empty check).
   * Throws a `UsageError` for an input that is malformed as a whole (a quote that
   * never closes, a header naming a column twice, bytes not in its encoding) or
   * that lacks a column in `expect`.
   */
  scan(expect?: ScanExpectation): Promise<SourceScan>;
  /**
   * Streams the records, in order, with constant memory. Throws an
   * {@link InputChangedError} when the input changes under it (after `scan`).
   * With `wanted`, a record on a line it is not wanted on may be passed over:
   * read and counted (the input is still checked to its end) but not decoded,
   * nor yielded. A source that cannot skip cheaply ignores it.
   */
  records(signal?: AbortSignal, wanted?: LineFilter): AsyncIterable<SourceRecord<Raw>>;
}

/**
 * The input changed after it was scanned (a half-written export still being
 * copied, a file replaced): the records read so far came from it, the rest
 * cannot be trusted. The run stops; it is a guard's refusal (kind `refused`).
 */
export class InputChangedError extends IdemError {
  constructor(message: string) {
    super('refused', message);
  }
}

/**
 * How a task names its source; the CLI opens it (with `--input` overriding the path).
 * `Raw` is the shape of a row a task's `parse` gets (the columns it declared).
 */
export interface SourceSpec<Raw = Record<string, string>> {
  readonly kind: string;
  /** The path as the task wrote it (relative paths are relative to the task file). */
  readonly path: string;
  /** Opens the source at `path` (already resolved by the caller). */
  open(path: string): RecordSource<Raw>;
}
