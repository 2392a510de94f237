/** One record as read from a source, before the task parses it. */
export interface SourceRecord<Raw = Record<string, string>> {
  /** The 1-based line in the file where the record starts (the header is line 1). */
  line: number;
  /** Column name → raw value. Empty when the row could not be parsed (`error` says why). */
  raw: Raw;
  /** Why the row is unusable (a stray quote, a wrong column count). */
  error?: string;
}

/** What a first pass over the input tells. */
export interface SourceScan {
  /** A digest of the input's bytes, so `--resume` can refuse a changed input. */
  digest: string;
  /** The number of records, for progress and the empty check. */
  count: number;
  /** The column names, when the source has a header. */
  columns?: string[];
}

/** A finite, re-readable stream of records. */
export interface RecordSource<Raw = Record<string, string>> {
  /** What to show the operator: a path, a URL. */
  readonly description: string;
  /**
   * Reads the whole input once: a digest of its bytes (so `--resume` can refuse a
   * changed input) and the number of records (for progress and the empty check).
   */
  scan(): Promise<SourceScan>;
  /** Streams the records, in order, with constant memory. */
  records(signal?: AbortSignal): AsyncIterable<SourceRecord<Raw>>;
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
