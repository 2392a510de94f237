import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { type CsvError, type Info, parse } from 'csv-parse';
import { UsageError } from '../core/errors.ts';
import type { RecordSource, SourceRecord, SourceScan, SourceSpec } from '../core/source.ts';

/** Options for {@link csv}. */
export interface CsvOptions<F extends string = string> {
  /**
   * The columns the task reads. A file whose header lacks one is refused before
   * any record (exit 2), and `parse` gets a row typed with exactly these names.
   * @example csv('users.csv', { fields: ['uid', 'givenName', 'sn'] })
   */
  fields?: readonly F[];
  /** Field delimiter. @default ',' */
  delimiter?: string;
  /** Quote character. @default '"' */
  quote?: string;
  /**
   * Column names when the file has no header row. By default the first row is
   * the header.
   */
  columns?: string[];
  /** Trim white space around values. @default true */
  trim?: boolean;
  /** File encoding. @default 'utf8' */
  encoding?: BufferEncoding;
}

/**
 * A CSV file as a record source, streamed with csv-parse: constant memory for
 * any size, a BOM and CRLF line endings handled, a header row by default.
 * A malformed row (a stray quote, a wrong column count) becomes an `invalid`
 * record naming its line; the rows after it are still read.
 *
 * @example
 * source: csv('../fixtures/users.csv')
 * @example
 * source: csv('/srv/hr/export.csv', { delimiter: ';' })
 */
export function csv<const F extends string = string>(
  path: string,
  options: CsvOptions<F> = {},
): SourceSpec<Record<F, string>> {
  return {
    kind: 'csv',
    path,
    open: (resolved) =>
      new CsvSource(resolved, options) as RecordSource<Record<string, string>> as RecordSource<
        Record<F, string>
      >,
  };
}

/** Turns CRLF into LF (across chunk boundaries) so line numbers stay right. */
class CrlfToLf extends Transform {
  private pendingCr = false;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let text = chunk.toString('latin1');
    if (this.pendingCr) text = `\r${text}`;
    this.pendingCr = text.endsWith('\r');
    if (this.pendingCr) text = text.slice(0, -1);
    cb(null, Buffer.from(text.replace(/\r\n/g, '\n'), 'latin1'));
  }
  override _flush(cb: TransformCallback): void {
    cb(null, this.pendingCr ? Buffer.from('\r', 'latin1') : null);
  }
}

/** The line a record starts on, from the line it ends on and its raw text. */
function startLine(endLine: number, raw: string | undefined): number {
  if (!raw) return endLine;
  const body = raw.replace(/^\n+/, '').replace(/\n$/, '');
  let inner = 0;
  for (const ch of body) if (ch === '\n') inner++;
  return Math.max(1, endLine - inner);
}

function describeCsvError(err: CsvError | undefined): string {
  if (!err) return 'unreadable row';
  // Drop csv-parse's line (ours is right) and its quote of the field's value (it may be a secret).
  const message = err.message.replace(/\s+(at|on) line \d+/g, '').replace(/, value is ".*"$/s, '');
  if (err.code === 'CSV_QUOTE_NOT_CLOSED')
    return `${message}; a quote opened on this line never closes, so the rest of the file could not be read`;
  return message;
}

export class CsvSource implements RecordSource {
  /** The header row, once a pass has read it. */
  private header: string[] | undefined;

  constructor(
    readonly path: string,
    private readonly options: CsvOptions = {},
  ) {}

  get description(): string {
    return this.path;
  }

  async scan(): Promise<SourceScan> {
    const hash = createHash('sha256');
    const stream = createReadStream(this.path);
    stream.on('data', (chunk) => hash.update(chunk));
    let count = 0;
    for await (const _ of this.parseStream(stream)) count++;
    const columns = this.options.columns ?? this.header;
    this.checkFields(columns);
    return { digest: hash.digest('hex'), count, ...(columns ? { columns: [...columns] } : {}) };
  }

  /** Refuses a header that lacks a column the task declared it reads. */
  private checkFields(columns: readonly string[] | undefined): void {
    const fields = this.options.fields ?? [];
    if (fields.length === 0 || !columns) return;
    const missing = fields.filter((f) => !columns.includes(f));
    if (missing.length === 0) return;
    throw new UsageError(
      `input ${this.path} lacks the column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} ` +
        `that the task reads; its header has ${columns.map((c) => `"${c}"`).join(', ')}` +
        (columns.length === 1 && /[;\t|]/.test(columns[0] ?? '')
          ? ' (one column: is the delimiter wrong?)'
          : ''),
    );
  }

  async *records(signal?: AbortSignal): AsyncIterable<SourceRecord> {
    const stream = createReadStream(this.path);
    try {
      for await (const rec of this.parseStream(stream)) {
        if (signal?.aborted) return;
        yield rec;
      }
    } finally {
      stream.destroy();
    }
  }

  private async *parseStream(input: NodeJS.ReadableStream): AsyncIterable<SourceRecord> {
    const skipped: SourceRecord[] = [];
    const parser = parse({
      bom: true,
      columns:
        this.options.columns ??
        ((header: string[]) => {
          this.header = header;
          return header;
        }),
      delimiter: this.options.delimiter ?? ',',
      quote: this.options.quote ?? '"',
      encoding: this.options.encoding ?? 'utf8',
      trim: this.options.trim ?? true,
      skip_empty_lines: true,
      info: true,
      raw: true,
      skip_records_with_error: true,
      on_skip: (err, raw) => {
        const end = (err as { lines?: number } | undefined)?.lines ?? 0;
        skipped.push({ line: startLine(end, raw), raw: {}, error: describeCsvError(err) });
        return undefined;
      },
    });
    const piped = input.pipe(new CrlfToLf()).pipe(parser);
    for await (const item of piped as AsyncIterable<{
      record: Record<string, string>;
      info: Info;
      raw: string;
    }>) {
      const line = startLine(item.info.lines, item.raw);
      while (skipped.length > 0 && (skipped[0] as SourceRecord).line < line)
        yield skipped.shift() as SourceRecord;
      yield { line, raw: item.record };
    }
    while (skipped.length > 0) yield skipped.shift() as SourceRecord;
  }
}
