import { createHash } from 'node:crypto';
import type { LineFilter, RecordSource, SourceRecord } from '../core/source.ts';

/** The in-memory twin of a record source, for unit tests. Rows get lines 2, 3, ... as under a header. */
export class MemorySource implements RecordSource {
  readonly description: string;
  private readonly rows: SourceRecord[];

  constructor(rows: (Record<string, string> | SourceRecord)[], description = 'memory') {
    this.description = description;
    this.rows = rows.map((r, i) =>
      'raw' in r && typeof r.line === 'number'
        ? (r as SourceRecord)
        : { line: i + 2, raw: r as Record<string, string> },
    );
  }

  async scan(): Promise<{ digest: string; count: number }> {
    return {
      digest: createHash('sha256').update(JSON.stringify(this.rows)).digest('hex'),
      count: this.rows.length,
    };
  }

  /** Passes over the rows `wanted` does not want, as the CSV source does (so the engine's tests go through it). */
  async *records(signal?: AbortSignal, wanted?: LineFilter): AsyncIterable<SourceRecord> {
    for (const row of this.rows) {
      if (signal?.aborted) return;
      if (wanted && !wanted(row.line)) continue;
      yield row;
    }
  }
}
