import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SourceRecord } from '../../src/core/source.ts';
import { CsvSource } from '../../src/sources/csv.ts';

function file(content: string | Buffer): string {
  const path = join(mkdtempSync(join(tmpdir(), 'idem-csv-')), 'in.csv');
  writeFileSync(path, content);
  return path;
}

async function all(source: CsvSource): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  for await (const r of source.records()) out.push(r);
  return out.sort((a, b) => a.line - b.line);
}

describe('CsvSource', () => {
  it('reads a header, strips a BOM, handles CRLF and keeps line numbers of multi-line fields', async () => {
    const path = file(
      Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from('id,name\r\n1,Ann\r\n\r\n2,"Multi\r\nline"\r\n3,Cy\r\n'),
      ]),
    );
    const rows = await all(new CsvSource(path));
    expect(rows).toEqual([
      { line: 2, raw: { id: '1', name: 'Ann' } },
      { line: 4, raw: { id: '2', name: 'Multi\nline' } },
      { line: 6, raw: { id: '3', name: 'Cy' } },
    ]);
  });

  it('turns a stray quote, a short row and a long row into errors with their lines, and reads on', async () => {
    const path = file('id,name,mail\n1,Ann,a@x\n2,B"ob,b@x\n3,Cy\n4,Di,d@x\n5,Eve,e@x,extra\n6,Flo,f@x\n');
    const rows = await all(new CsvSource(path));
    expect(rows.map((r) => [r.line, r.error ? 'error' : r.raw.id])).toEqual([
      [2, '1'],
      [3, 'error'],
      [4, 'error'],
      [5, '4'],
      [6, 'error'],
      [7, '6'],
    ]);
    expect(rows[1]?.error).toMatch(/quote/i);
    expect(rows[1]?.error).not.toContain('value is'); // csv-parse quotes the field: it may be a secret
    expect(rows[2]?.error).toMatch(/columns length is 3, got 2/);
  });

  it('takes another delimiter, and column names for a file without a header', async () => {
    const rows = await all(
      new CsvSource(file('1;Ann\n2;Bob\n'), { delimiter: ';', columns: ['id', 'name'] }),
    );
    expect(rows).toEqual([
      { line: 1, raw: { id: '1', name: 'Ann' } },
      { line: 2, raw: { id: '2', name: 'Bob' } },
    ]);
  });

  it('scans a digest and a count; the digest follows the bytes', async () => {
    const a = await new CsvSource(file('id\n1\n2\n')).scan();
    const b = await new CsvSource(file('id\n1\n2\n')).scan();
    const c = await new CsvSource(file('id\n1\n3\n')).scan();
    expect(a.count).toBe(2);
    expect(a.digest).toBe(b.digest);
    expect(a.digest).not.toBe(c.digest);
    expect((await new CsvSource(file('id\n')).scan()).count).toBe(0);
    expect((await new CsvSource(file('')).scan()).count).toBe(0);
  });
});
