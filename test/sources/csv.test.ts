import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kindOf } from '../../src/core/errors.ts';
import type { SourceRecord } from '../../src/core/source.ts';
import { type CsvOptions, CsvSource } from '../../src/sources/csv.ts';
import { InputDecoder } from '../../src/sources/input-encoding.ts';
import { Fnv1a64 } from '../../src/sources/record-hash.ts';
import { tempDir } from '../support/temp.ts';

const dir = tempDir('csv-');
let files = 0;

function file(content: string | Buffer): string {
  const path = join(dir, `in-${files++}.csv`);
  writeFileSync(path, content);
  return path;
}

async function all(source: CsvSource): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  for await (const r of source.records()) out.push(r);
  return out;
}

/** Scan, then read: the count and the records, without their hashes. */
async function read(content: string | Buffer, options: CsvOptions = {}) {
  const source = new CsvSource(file(content), options);
  const scan = await source.scan();
  const rows = (await all(source)).map(({ hash: _, ...r }) => r);
  return { scan, rows };
}

/** The error a scan of this content fails with. */
async function refusal(content: string | Buffer, options: CsvOptions = {}): Promise<Error> {
  const err = await new CsvSource(file(content), options).scan().then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (!err) throw new Error('the scan accepted the file');
  expect(kindOf(err)).toBe('usage');
  return err;
}

describe('CsvSource: reading', () => {
  it('reads a header, strips a BOM, and keeps a CRLF inside quotes byte for byte with the right lines', async () => {
    const { rows } = await read(
      Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from('id,name\r\n1,Ann\r\n\r\n2,"Multi\r\nline"\r\n3,Cy\r\n'),
      ]),
    );
    expect(rows).toEqual([
      { line: 2, raw: { id: '1', name: 'Ann' } },
      { line: 4, raw: { id: '2', name: 'Multi\r\nline' } },
      { line: 6, raw: { id: '3', name: 'Cy' } },
    ]);
  });

  it('counts lines as an editor does with LF, CRLF, lone CR and a mix of them', async () => {
    const expected = [
      { line: 2, raw: { id: '1', v: 'a' } },
      { line: 3, raw: { id: '2', v: 'b\nc' } },
      { line: 6, raw: { id: '3', v: 'd' } },
    ];
    const lf = await read('id,v\n1,a\n2,"b\nc"\n\n3,d');
    expect(lf.rows).toEqual(expected);
    const cr = await read('id,v\r1,a\r2,"b\rc"\r\r3,d\r');
    expect(cr.rows.map((r) => r.line)).toEqual([2, 3, 6]);
    expect(cr.rows[1]?.raw.v).toBe('b\rc');
    const mixed = await read('id,v\r\n1,a\n2,"b\r\nc"\r\r\n3,d\n');
    expect(mixed.rows.map((r) => r.line)).toEqual([2, 3, 6]);
    expect(mixed.rows[1]?.raw.v).toBe('b\r\nc');
  });

  it('keeps quoted values exactly (doubled quotes, delimiters, blanks) and trims unquoted ones', async () => {
    const { rows } = await read(
      'id , q\n 1 , "He said ""hi"", then left " \n2,""""\n3,""\n4,  plain  value  \n',
    );
    expect(rows.map((r) => r.raw.q)).toEqual(['He said "hi", then left ', '"', '', 'plain  value']);
    expect(rows[0]?.raw.id).toBe('1');
  });

  it('turns a stray quote, text after a closing quote, a short row and a long row into errors with their lines, and reads on', async () => {
    const { rows, scan } = await read(
      'id,name,mail\n1,Ann,a@x\n2,B"ob,b@x\n3,Cy\n4,Di,d@x\n5,Eve,e@x,extra\n6,"Flo"x,f@x\n7,Gus,g@x\n',
    );
    expect(rows.map((r) => [r.line, r.error ? 'error' : r.raw.id])).toEqual([
      [2, '1'],
      [3, 'error'],
      [4, 'error'],
      [5, '4'],
      [6, 'error'],
      [7, 'error'],
      [8, '7'],
    ]);
    expect(scan.count).toBe(rows.length);
    expect(rows[1]?.error).toMatch(/field 2 \("name"\) has a quote inside an unquoted value/);
    expect(rows[1]?.error).not.toContain('B"ob'); // a value may be a secret
    expect(rows[2]?.error).toMatch(/the row has 2 fields where the header has 3 columns/);
    expect(rows[4]?.error).toMatch(/the row has 4 fields/);
    expect(rows[5]?.error).toMatch(/field 2 \("name"\) has text after its closing quote/);
  });

  it('takes another delimiter, and column names for a file without a header', async () => {
    const { rows } = await read('1;Ann\n2;Bob\n', { delimiter: ';', columns: ['id', 'name'] });
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

  it('gives every record the FNV-1a 64 of its raw bytes, line end excluded', async () => {
    const fnv = (s: string) => {
      const h = new Fnv1a64();
      const b = Buffer.from(s);
      h.update(b, 0, b.length);
      return h.hex();
    };
    expect(fnv('')).toBe('cbf29ce484222325');
    expect(fnv('a')).toBe('af63dc4c8601ec8c');
    expect(fnv('foobar')).toBe('85944171f73967e8');
    const rows = await all(new CsvSource(file('id,v\r\n1, x \r\n2,"a\r\nb"\n')));
    expect(rows.map((r) => r.hash)).toEqual([fnv('1, x '), fnv('2,"a\r\nb"')]);
  });
});

describe('CsvSource: faults in cells are invalid rows, named by line', () => {
  it('a NUL byte makes its row invalid; the other rows are read', async () => {
    const { rows } = await read('id,name\n1,A\0nn\n2,Bob\n');
    expect(rows).toEqual([
      {
        line: 2,
        raw: { id: '1', name: '' },
        error: expect.stringMatching(/field 2 \("name"\) contains a NUL byte/),
      },
      { line: 3, raw: { id: '2', name: 'Bob' } },
    ]);
  });

  it('a 10 MB field is an error with its line, not a value; the limit is an option', async () => {
    const big = 'x'.repeat(10 * 1024 * 1024);
    const content = `id,name\n1,${big}\n2,"${big}\nstill quoted"\n3,Cy\n`;
    const { rows } = await read(content);
    expect(rows.map((r) => [r.line, r.error ?? r.raw.name])).toEqual([
      [
        2,
        expect.stringMatching(
          /field 2 \("name"\) is 10\.0 MiB, over the limit of 64 KiB \(raise it with the csv option maxFieldBytes/,
        ),
      ],
      [3, expect.stringMatching(/field 2 \("name"\) is 10\.0 MiB/)],
      [5, 'Cy'],
    ]);
    const raised = await read(content, { maxFieldBytes: 11 * 1024 * 1024 });
    expect(raised.rows.map((r) => r.raw.name?.length)).toEqual([big.length, big.length + 13, 2]);
  });
});

describe('CsvSource: structural faults refuse the whole file before any record', () => {
  it('a quote that never closes refuses the file, naming the line where it opened', async () => {
    const content = 'id,name\n1,Ann\n2,"Bob\n3,Cy\n';
    expect((await refusal(content)).message).toMatch(
      /a quote opened on line 3 \(field 2 \("name"\)\) never closes.*the whole file is refused and nothing was changed/,
    );
    // Reading the records without a scan scans first: not one record comes out.
    const source = new CsvSource(file(content));
    const seen: SourceRecord[] = [];
    await expect(
      (async () => {
        for await (const r of source.records()) seen.push(r);
      })(),
    ).rejects.toThrow(/never closes/);
    expect(seen).toEqual([]);
  });

  it('a header naming a column twice is refused (the last column would win)', async () => {
    expect((await refusal('uid,name,uid\nada,Ada,root\n')).message).toMatch(
      /the header \(line 1\) names column "uid" twice \(columns 1 and 3\)/,
    );
    expect((await refusal('1,2\n', { columns: ['a', 'a'] })).message).toMatch(
      /the columns declared in the task names column "a" twice/,
    );
  });

  it('a header column without a name is refused', async () => {
    expect((await refusal('id,name,\n1,Ann,\n')).message).toMatch(
      /column 3 of the header \(line 1\) has no name/,
    );
  });

  it('bytes that are not UTF-8 refuse the file with their line; a declared encoding reads them', async () => {
    const latin1 = Buffer.from('id,name\n1,Ann\n2,Ren\xe9\n', 'latin1');
    expect((await refusal(latin1)).message).toMatch(
      /cannot be read as utf8: the byte 0xE9 is not UTF-8 \(line 3\); declare the file's encoding/,
    );
    expect((await read(latin1, { encoding: 'latin1' })).rows[1]?.raw.name).toBe('René');
    const ansi = Buffer.from('id,name\n1,\x80 5 \x93ok\x94\n', 'latin1');
    expect((await read(ansi, { encoding: 'windows-1252' })).rows[0]?.raw.name).toBe('€ 5 “ok”');
    expect((await refusal(Buffer.from('id,name\n1,\xc3', 'latin1'))).message).toMatch(
      /ends in the middle of a UTF-8 character/,
    );
  });

  it('UTF-16 is refused unless declared; a UTF-8 BOM under another declared encoding is refused', async () => {
    const utf16 = Buffer.from('\ufeffid,name\n1,Zoë\n', 'utf16le');
    expect((await refusal(utf16)).message).toMatch(
      /the file is UTF-16: it starts with a UTF-16 byte order mark/,
    );
    expect((await read(utf16, { encoding: 'utf16le' })).rows).toEqual([
      { line: 2, raw: { id: '1', name: 'Zoë' } },
    ]);
    const noBom = Buffer.from('id,name\n1,Ann\n', 'utf16le');
    expect((await refusal(noBom)).message).toMatch(/the header \(line 1\) is malformed: .*NUL byte/);
    expect((await refusal('\ufeffid\n1\n', { encoding: 'latin1' })).message).toMatch(
      /starts with a UTF-8 byte order mark, but encoding 'latin1' is declared/,
    );
  });

  it('a header that is one column holding another delimiter is refused with one message', async () => {
    const semi = 'id;name;mail\n1;Ann;a@x\n2;Bob;b@x\n';
    const byFields = await refusal(semi, { fields: ['id', 'name'] });
    expect(byFields.message).toMatch(
      /looks like it uses ";" as its delimiter, not ",": the header \(line 1\) is one column, "id;name;mail", and the task reads "id", "name"\. Declare it: csv\(path, \{ delimiter: ";" \}\)/,
    );
    const byKey = await new CsvSource(file('id\tname\n1\tAnn\n'))
      .scan({ columns: ['id'] })
      .catch((e: Error) => e);
    expect((byKey as Error).message).toMatch(/looks like it uses "\\t" as its delimiter/);
    // Nothing declared: a one-column file is a one-column file.
    expect((await read(semi)).scan.count).toBe(2);
    // A missing column in a header that splits fine is named as missing.
    expect((await refusal('id,name\n1,a\n', { fields: ['id', 'mail'] })).message).toMatch(
      /lacks the column "mail" that the task reads; the header \(line 1\) has "id", "name"/,
    );
  });

  it('a header wider than 16,384 columns (a file of delimiters, say) is refused', async () => {
    expect((await refusal(`${','.repeat(20_000)}\n`)).message).toMatch(
      /the header \(line 1\) has 20001 columns, more than 16384; is this a CSV file\?/,
    );
  });

  it('options that cannot work are refused when the source is made', () => {
    expect(() => new CsvSource('x.csv', { delimiter: ';;' })).toThrow(
      /delimiter must be one ASCII character/,
    );
    expect(() => new CsvSource('x.csv', { delimiter: '"' })).toThrow(/the delimiter and the quote are both/);
    expect(() => new CsvSource('x.csv', { encoding: 'ebcdic' as 'utf8' })).toThrow(
      /encoding "ebcdic" is not supported/,
    );
    expect(() => new CsvSource('x.csv', { maxFieldBytes: 0 })).toThrow(/maxFieldBytes must be a positive/);
  });
});

describe('CsvSource: a half-written input', () => {
  const rows = (n: number) =>
    `id,v\n${Array.from({ length: n }, (_, i) => `k${i},${'v'.repeat(40)}\n`).join('')}`;

  it('a file that grew between the scan and the records is refused before the first record', async () => {
    const path = file(rows(10));
    const source = new CsvSource(path);
    expect((await source.scan()).count).toBe(10);
    appendFileSync(path, 'k10,late\n');
    const seen: SourceRecord[] = [];
    const err = await (async () => {
      for await (const r of source.records()) seen.push(r);
    })().catch((e: Error) => e);
    expect(seen).toEqual([]);
    expect(kindOf(err)).toBe('refused');
    expect((err as Error).message).toMatch(
      /changed after it was checked \(its size went from \d+ to \d+ bytes\) when 0 of its 10 records had been read: the run stops there/,
    );
  });

  it('a file replaced by another between the scan and the records is refused', async () => {
    const path = file(rows(3));
    const source = new CsvSource(path);
    await source.scan();
    const other = file(rows(3));
    renameSync(other, path);
    await expect(all(source)).rejects.toThrow(/it was replaced by another file/);
  });

  it('a file written to while its records are read stops them with the count read', async () => {
    const path = file(rows(20_000)); // about 1 MB: many reads
    const source = new CsvSource(path);
    await source.scan();
    let seen = 0;
    const err = await (async () => {
      for await (const _ of source.records()) {
        if (seen++ === 0) appendFileSync(path, 'k-late,x\n');
      }
    })().catch((e: Error) => e);
    expect(kindOf(err)).toBe('refused');
    expect(seen).toBeLessThan(20_000);
    expect((err as Error).message).toMatch(new RegExp(`when ${seen} of its 20000 records had been read`));
  });
});

describe('CsvSource: an export that says it is complete', () => {
  const trailer = /^#rows=(\d+)$/;

  it('a trailer line is checked and is not a record', async () => {
    const { scan, rows } = await read('id,name\n1,A\n2,B\n#rows=2\n', { trailer });
    expect(scan.count).toBe(2);
    expect(rows.map((r) => r.raw.id)).toEqual(['1', '2']);
  });

  it('a file without its trailer, or whose trailer disagrees, is refused', async () => {
    expect((await refusal('id,name\n1,A\n2,B\n', { trailer })).message).toMatch(
      /does not end with the trailer line the task expects \(\/\^#rows=\(\\d\+\)\$\/\): its last line, line 3, does not match\. The export may be incomplete/,
    );
    expect((await refusal('id,name\n1,A\n2,B\n#rows=3\n', { trailer })).message).toMatch(
      /its trailer \(line 4\) says 3 rows, but the file has 2/,
    );
    expect((await refusal('id,name\n', { trailer })).message).toMatch(/it has no data lines at all/);
  });

  it('expectRows: a number or a function (a control file); another count is refused', async () => {
    const content = 'id\n1\n2\n3\n';
    expect((await read(content, { expectRows: 3 })).scan.count).toBe(3);
    expect((await refusal(content, { expectRows: 4 })).message).toMatch(
      /has 3 rows, but 4 were expected \(expectRows\)/,
    );
    const path = file(content);
    writeFileSync(`${path}.count`, '3\n');
    const fromFile = new CsvSource(path, {
      expectRows: async (p) => Number(await readFile(`${p}.count`, 'utf8')),
    });
    expect((await fromFile.scan()).count).toBe(3);
    const broken = new CsvSource(path, {
      expectRows: () => {
        throw new Error('no control file');
      },
    });
    await expect(broken.scan()).rejects.toThrow(
      /the expected row count could not be read \(expectRows\): no control file/,
    );
  });
});

describe('InputDecoder: chunks cut anywhere', () => {
  const run = (encoding: 'utf8' | 'utf16le', chunks: Buffer[]) => {
    const d = new InputDecoder(encoding);
    const out = [...chunks.map((c) => d.decode(c)), d.end()];
    return {
      text: Buffer.concat(out.map((o) => o.bytes)).toString(),
      faults: out.flatMap((o) => o.fault?.what ?? []),
    };
  };

  it('finds a byte order mark split over the first reads', () => {
    const bom = Buffer.from('\ufeffid\n');
    expect(run('utf8', [Buffer.alloc(0), bom.subarray(0, 2), bom.subarray(2)])).toEqual({
      text: 'id\n',
      faults: [],
    });
    const utf16 = Buffer.from('\ufeffid\n', 'utf16le');
    expect(run('utf8', [utf16.subarray(0, 1), utf16.subarray(1)]).faults).toEqual([
      'the file is UTF-16: it starts with a UTF-16 byte order mark',
    ]);
  });

  it('UTF-16: a surrogate pair split at any byte is one character; a lone one at the end is refused', () => {
    const text = Buffer.from('\ufeffa😀b', 'utf16le');
    for (let cut = 0; cut <= text.length; cut++) {
      expect(run('utf16le', [text.subarray(0, cut), text.subarray(cut)])).toEqual({
        text: 'a😀b',
        faults: [],
      });
    }
    expect(run('utf16le', [Buffer.from([0x61, 0x00, 0x3d, 0xd8])]).faults).toEqual([
      'a UTF-16 surrogate has no partner, so the file is not valid UTF-16',
    ]);
  });
});

describe('CsvSource: records cut by the reads', () => {
  // Records straddle every boundary the records pass has (its 8 KiB slices, the 64 KiB
  // reads): quoted delimiters and line breaks, doubled quotes and multibyte characters
  // cut anywhere; csv-parse is the oracle.
  const values = [
    'plain',
    'é😀ü',
    '"quoted, with a comma"',
    '"two\nlines"',
    '"a ""b"" c"',
    '',
    'x'.repeat(700),
  ];
  const rows: string[][] = [];
  for (let i = 0; rows.length < 1500; i++) {
    rows.push([`k${i}`, values[i % values.length] as string, values[(i * 3 + 1) % values.length] as string]);
  }
  const text = `id,a,b\n${rows.map((r) => r.join(',')).join('\n')}\n`;

  it('reads every record of a 300 KiB file as csv-parse does, with the same hash as a one-read file', async () => {
    expect(Buffer.byteLength(text)).toBeGreaterThan(256 * 1024);
    const { parse } = await import('csv-parse/sync');
    const oracle = (
      parse(text, { columns: true, relax_column_count: false }) as Record<string, string>[]
    ).map((r) => ({ id: r.id, a: r.a, b: r.b }));
    const source = new CsvSource(file(text));
    const scan = await source.scan();
    const got = await all(source);
    expect(scan.count).toBe(oracle.length);
    expect(got.map((r) => r.raw)).toEqual(oracle);
    expect(got.every((r) => r.error === undefined)).toBe(true);
    // A record's hash does not depend on where the reads cut it: the same rows, each alone.
    for (const i of [0, 1, 2, 3, 4, 700, oracle.length - 1]) {
      const alone = new CsvSource(file(`id,a,b\n${(rows[i] as string[]).join(',')}\n`));
      await alone.scan();
      const [one] = await all(alone);
      expect(one?.hash).toBe(got[i]?.hash);
    }
  });

  it('passes over the records the reader does not want; those it wants are whole, as a full read gives them', async () => {
    const path = file(text);
    const source = new CsvSource(path);
    await source.scan();
    const full = await all(source);
    // Every 150th record, as the apply phase of a sparse plan wants them.
    const wanted = full.filter((_, i) => i % 150 === 149);
    const lines = new Set(wanted.map((r) => r.line));
    const asked: number[] = [];
    const got: SourceRecord[] = [];
    for await (const r of source.records(undefined, (line) => asked.push(line) > 0 && lines.has(line))) {
      got.push(r);
    }
    expect(got).toEqual(wanted);
    // Asked once per record after the header, in line order.
    expect(asked.length).toBeGreaterThanOrEqual(full.length - 1);
    expect(asked).toEqual([...asked].sort((a, b) => a - b));
    // A reader that cannot tell (true) gets every record whole.
    const unsure: SourceRecord[] = [];
    for await (const r of source.records(undefined, () => true)) unsure.push(r);
    expect(unsure).toEqual(full);
  });

  it('still reads to the end when it hands out nothing: a trailer is not a record, a grown file is refused', async () => {
    const nothing = () => false;
    const trailed = new CsvSource(file('id,name\n1,A\n"2\nx",B\n#rows=2\n'), { trailer: /^#rows=(\d+)$/ });
    await trailed.scan();
    const none: SourceRecord[] = [];
    for await (const r of trailed.records(undefined, nothing)) none.push(r);
    expect(none).toEqual([]);

    const path = file(
      `id,v\n${Array.from({ length: 20_000 }, (_, i) => `k${i},${'v'.repeat(40)}\n`).join('')}`,
    );
    const grown = new CsvSource(path);
    await grown.scan();
    let first = true;
    const err = await (async () => {
      for await (const _ of grown.records(undefined, () => first)) {
        first = false;
        appendFileSync(path, 'k-late,x\n');
      }
    })().catch((e: Error) => e);
    expect(kindOf(err)).toBe('refused');
    expect((err as Error).message).toMatch(
      /changed after it was checked .* of its 20000 records had been read/,
    );
  });
});
