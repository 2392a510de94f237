/**
 * CSV fuzzing for `npm run test:chaos` (issue 9): properties of the CSV source over
 * generated files, 15,000 cases by default (IDEM_CHAOS_SCALE=10 for the long run;
 * IDEM_CHAOS_SEED to replay a failure fast-check reported).
 *
 * - round trip: well-formed files of random cells (delimiters, quotes, CR, LF, blanks,
 *   non-ASCII) give back every cell byte for byte, on the line an independent count
 *   of line ends says;
 * - row faults: accepted + invalid = the data lines counted independently, and the
 *   invalid records are exactly the damaged lines;
 * - structural faults: the scan refuses, naming the line, and records() yields nothing;
 * - arbitrary bytes: the scan accepts or refuses with a usage error, never anything
 *   else; when it accepts, records() yields exactly the count, every invalid record
 *   naming its line;
 * - differential: well-formed files read as csv-parse reads them;
 * - chunks: reading the bytes cut at any points (a quote, a CRLF, a UTF-8 character or an
 *   oversized field across two reads) gives the same records as reading them whole;
 * - bound: no file takes more than a second of CPU to scan and read (a generous
 *   bound on small files, not a speed measurement: CPU time, so load does not matter).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { kindOf } from '../../src/core/errors.ts';
import type { SourceRecord } from '../../src/core/source.ts';
import { type CsvEncoding, type CsvOptions, CsvSource } from '../../src/sources/csv.ts';
import { CsvTokenizer, type TokenizedRecord } from '../../src/sources/csv-tokenizer.ts';
import { InputDecoder } from '../../src/sources/input-encoding.ts';
import { tempDir } from '../support/temp.ts';
import { chaosRow, LONG } from './support/table.ts';

// IDEM_CHAOS=long (the suite's long run) gives 10x the cases; IDEM_CHAOS_SCALE sets any factor.
const SCALE = Number(process.env.IDEM_CHAOS_SCALE ?? (LONG ? 10 : 1));
const SEED = process.env.IDEM_CHAOS_SEED ? Number(process.env.IDEM_CHAOS_SEED) : undefined;
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
const settings = (n: number) => ({ numRuns: runs(n), ...(SEED === undefined ? {} : { seed: SEED }) });
const BOUND_MS = 1000;

const dir = tempDir('csv-chaos-');
let files = 0;

/** Scans and reads a file; the records, or the scan's error; and the CPU time both took. */
async function readAll(content: string | Buffer, options: CsvOptions = {}) {
  const path = join(dir, `f${files++ % 16}.csv`);
  writeFileSync(path, content);
  const cpu = process.cpuUsage();
  const source = new CsvSource(path, options);
  let count = -1;
  let refused: unknown;
  const records: SourceRecord[] = [];
  try {
    count = (await source.scan()).count;
    for await (const r of source.records()) records.push(r);
  } catch (err) {
    refused = err;
  }
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  slowestMs = Math.max(slowestMs, cpuMs);
  return { count, refused, records, cpuMs, path };
}

/** Line ends as an editor counts them: CRLF, CR and LF are one each. */
function lineOf(text: string, offset: number): number {
  return (text.slice(0, offset).match(/\r\n|\r|\n/g)?.length ?? 0) + 1;
}

const DELIMITERS = [',', ';', '\t', '|'] as const;
const ENDINGS = ['\n', '\r\n', '\r'] as const;
const cellChar = fc.constantFrom(
  'a',
  'Z',
  '0',
  ' ',
  '\t',
  ',',
  ';',
  '|',
  '"',
  '\n',
  '\r',
  'é',
  '€',
  '😀',
  '=',
  '+',
);
const plainChar = fc.constantFrom('a', 'Z', '0', ' ', 'é', '€', '😀', '=', '+', '-', '@');
/** Cells that never need quotes: a file of them has no quote at all. */
const bareChar = fc.constantFrom('a', 'Z', '0', 'é', '€', '😀', '=', '+', '-', '@');

/** A cell as a careful writer quotes it (trim is on: values with outer blanks are quoted too). */
function render(cell: string, delimiter: string, force: boolean, alone: boolean): string {
  const needs =
    force ||
    (alone && cell === '') ||
    /["\r\n]/.test(cell) ||
    cell.includes(delimiter) ||
    /^[ \t]|[ \t]$/.test(cell);
  return needs ? `"${cell.replaceAll('"', '""')}"` : cell;
}

/** A well-formed file: the text, its rows, and where each record starts. */
const wellFormed = fc
  .record({
    width: fc.integer({ min: 1, max: 5 }),
    delimiter: fc.constantFrom(...DELIMITERS),
    bom: fc.boolean(),
    finalEnd: fc.boolean(),
    ending: fc.constantFrom(...ENDINGS),
    mixedEndings: fc.boolean(),
    seed: fc.array(
      fc.tuple(
        fc.array(fc.string({ unit: cellChar, maxLength: 10 }), { minLength: 5, maxLength: 5 }),
        fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
        fc.constantFrom(...ENDINGS),
        fc.boolean(),
      ),
      { maxLength: 25 },
    ),
  })
  .map((g) => {
    const columns = Array.from({ length: g.width }, (_, i) => `c${i}`);
    const rows = g.seed.map(([cells]) => cells.slice(0, g.width));
    let text = g.bom ? '\ufeff' : '';
    text += columns.join(g.delimiter);
    const starts: number[] = [];
    g.seed.forEach(([cells, force, ending, blankBefore], i) => {
      const end = g.mixedEndings ? ending : g.ending;
      text += end;
      if (blankBefore) text += end;
      starts.push(text.length);
      text += cells
        .slice(0, g.width)
        .map((c, k) => render(c, g.delimiter, force[k] ?? false, g.width === 1))
        .join(g.delimiter);
      if (i === g.seed.length - 1 && g.finalEnd) text += end;
    });
    return { ...g, columns, rows, text, starts };
  });

const byteAlphabet = [
  0x2c, 0x22, 0x0a, 0x0d, 0x20, 0x09, 0x61, 0x62, 0x00, 0xc3, 0xa9, 0xff, 0xef, 0xbb, 0xbf,
];
const noise = fc.array(fc.oneof(fc.constantFrom(...byteAlphabet), fc.integer({ min: 0, max: 255 })), {
  maxLength: 400,
});

let slowestMs = 0;

/** A property test that records its row in the chaos table: its cases and whether a counterexample was found. */
function property(title: string, name: string, n: number, body: () => unknown): void {
  it(`${title} (${runs(n)} cases)`, async () => {
    let ok = false;
    try {
      await body();
      ok = true;
    } finally {
      chaosRow({
        test: `csv fuzz: ${name}`,
        count: runs(n),
        bound: '0 counterexamples',
        result: ok ? '0 counterexamples' : 'a counterexample (see the failure above)',
        ok,
      });
    }
  });
}

describe('CSV source properties (fast-check)', () => {
  afterAll(() => {
    chaosRow({
      test: 'csv fuzz: the slowest file (scan + records, CPU)',
      count: files,
      bound: `< ${BOUND_MS} ms`,
      result: `${slowestMs.toFixed(1)} ms`,
      ok: slowestMs < BOUND_MS,
    });
  });

  property(
    `round trip: every cell comes back byte for byte on its line`,
    'round trip, byte-exact cells on their lines',
    3000,
    async () => {
      await fc.assert(
        fc.asyncProperty(wellFormed, async (f) => {
          const r = await readAll(f.text, { delimiter: f.delimiter });
          expect(r.refused).toBeUndefined();
          expect(r.cpuMs).toBeLessThan(BOUND_MS);
          expect(r.count).toBe(f.rows.length);
          expect(r.records.map((x) => [x.line, f.columns.map((c) => x.raw[c]), x.error])).toEqual(
            f.rows.map((row, i) => [lineOf(f.text, f.starts[i] as number), row, undefined]),
          );
        }),
        settings(3000),
      );
    },
  );

  property(
    `differential: well-formed files read as csv-parse reads them`,
    'differential against csv-parse',
    1000,
    async () => {
      await fc.assert(
        // csv-parse takes one line-end style, found on the first line.
        fc.asyncProperty(
          wellFormed.filter((f) => !f.mixedEndings),
          async (f) => {
            const r = await readAll(f.text, { delimiter: f.delimiter, trim: false });
            const theirs = parse(f.text, {
              bom: true,
              columns: true,
              delimiter: f.delimiter,
              skip_empty_lines: true,
            }) as Record<string, string>[];
            expect(r.records.map((x) => x.raw)).toEqual(theirs);
          },
        ),
        settings(1000),
      );
    },
  );

  /** Decodes and tokenizes `bytes` in the pieces the cuts make: the records, the faults, the end state. */
  function tokenize(bytes: Buffer, cuts: number[], delimiter: string, trim: boolean, encoding: CsvEncoding) {
    const decoder = new InputDecoder(encoding);
    const tok = new CsvTokenizer({
      delimiter: delimiter.charCodeAt(0),
      quote: 0x22,
      trim,
      maxFieldBytes: 6,
      materializeUntil: Number.POSITIVE_INFINITY,
    });
    const records: TokenizedRecord[] = [];
    const decoded: Buffer[] = [];
    const edges = [0, ...cuts, bytes.length];
    for (let i = 0; i + 1 < edges.length; i++) {
      const { bytes: text, fault } = decoder.decode(bytes.subarray(edges[i], edges[i + 1]));
      decoded.push(Buffer.from(text));
      tok.push(text, records);
      if (fault) return { records, decoded: Buffer.concat(decoded), end: `fault at line ${tok.line}` };
    }
    const last = decoder.end();
    decoded.push(Buffer.from(last.bytes));
    tok.push(last.bytes, records);
    if (last.fault) return { records, decoded: Buffer.concat(decoded), end: `fault at line ${tok.line}` };
    const unclosed = tok.finish(records);
    return {
      records,
      decoded: Buffer.concat(decoded),
      end: unclosed ?? `${tok.count} records, line ${tok.line}`,
    };
  }

  const encodings = fc.constantFrom<CsvEncoding>('utf8', 'utf8', 'latin1', 'windows-1252', 'utf16le');
  const chunkInput = fc.oneof(
    wellFormed.map((f) => ({ bytes: Buffer.from(f.text), delimiter: f.delimiter as string })),
    noise.map((b) => ({ bytes: Buffer.from(b), delimiter: ',' })),
  );

  property(
    `chunks: any cut of the input gives the records of the whole`,
    'any chunking gives the same records',
    3000,
    () => {
      fc.assert(
        fc.property(
          chunkInput,
          fc.array(fc.nat(), { maxLength: 12 }),
          fc.boolean(),
          encodings,
          (input, raw, trim, encoding) => {
            const n = input.bytes.length;
            const cuts = [...new Set(raw.map((c) => (n === 0 ? 0 : c % n)))].sort((a, b) => a - b);
            const whole = tokenize(input.bytes, [], input.delimiter, trim, encoding);
            const cut = tokenize(input.bytes, cuts, input.delimiter, trim, encoding);
            expect(cut).toEqual(whole);
          },
        ),
        settings(3000),
      );
    },
  );

  const faultKinds = ['short', 'long', 'stray-quote', 'after-quote', 'nul', 'too-large'] as const;
  const damaged = fc.record({
    width: fc.integer({ min: 2, max: 5 }),
    delimiter: fc.constantFrom(...DELIMITERS),
    ending: fc.constantFrom(...ENDINGS),
    rows: fc.array(
      fc.record({
        cells: fc.array(fc.string({ unit: plainChar, maxLength: 8 }), { minLength: 5, maxLength: 5 }),
        fault: fc.option(fc.constantFrom(...faultKinds), { freq: 3 }),
        column: fc.nat(4),
        blankBefore: fc.boolean(),
      }),
      { maxLength: 30 },
    ),
  });

  /** A line of nothing but blanks (spaces, and tabs unless a tab is the delimiter) is not a record. */
  function blank(line: string, delimiter: string): boolean {
    return line.replace(delimiter === '\t' ? / /g : /[ \t]/g, '') === '';
  }

  /** One record on one line, with its fault written in. */
  function damagedLine(
    cells: string[],
    fault: (typeof faultKinds)[number] | null,
    column: number,
    d: string,
  ) {
    const out = cells.map((c) => render(c, d, false, false));
    const k = column % out.length;
    switch (fault) {
      case 'short':
        out.pop();
        break;
      case 'long':
        out.push('x');
        break;
      case 'stray-quote':
        out[k] = 'ab"cd';
        break;
      case 'after-quote':
        out[k] = '"ab"cd';
        break;
      case 'nul':
        out[k] = 'a\0b';
        break;
      case 'too-large':
        out[k] = 'y'.repeat(65);
        break;
    }
    return out.join(d);
  }

  property(
    `row faults: accepted + invalid = data lines counted independently; the invalid are the damaged lines`,
    'accepted + invalid = data lines; invalid name their line',
    3000,
    async () => {
      await fc.assert(
        fc.asyncProperty(damaged, async (g) => {
          const header = Array.from({ length: g.width }, (_, i) => `c${i}`).join(g.delimiter);
          const lines = [header];
          const bad = new Set<number>();
          for (const row of g.rows) {
            if (row.blankBefore) lines.push('   ');
            const line = damagedLine(row.cells.slice(0, g.width), row.fault, row.column, g.delimiter);
            lines.push(line);
            // A row cut down to one empty field is an empty line, not a record.
            if (row.fault && !blank(line, g.delimiter)) bad.add(lines.length);
          }
          const text = lines.join(g.ending);
          const r = await readAll(text, { delimiter: g.delimiter, maxFieldBytes: 64 });
          expect(r.refused).toBeUndefined();
          expect(r.cpuMs).toBeLessThan(BOUND_MS);
          const dataLines = text.split(/\r\n|\r|\n/).filter((l) => !blank(l, g.delimiter)).length - 1;
          const invalid = r.records.filter((x) => x.error !== undefined);
          expect(r.count).toBe(dataLines);
          expect(r.records.length).toBe(dataLines);
          expect(invalid.map((x) => x.line).sort((a, b) => a - b)).toEqual([...bad].sort((a, b) => a - b));
          for (const x of invalid) expect(x.error).toMatch(/^(field \d+|the row has \d+ fields?)/);
        }),
        settings(3000),
      );
    },
  );

  const structural = fc.record({
    kind: fc.constantFrom('unclosed-quote', 'duplicate-header', 'empty-header-name', 'bad-utf8'),
    rows: fc.array(fc.array(fc.string({ unit: bareChar, maxLength: 6 }), { minLength: 3, maxLength: 3 }), {
      minLength: 1,
      maxLength: 20,
    }),
    at: fc.nat(),
    column: fc.nat(2),
  });

  property(
    `structural faults: the scan refuses naming the line, and records() yields nothing`,
    'structural faults refused before any record',
    2000,
    async () => {
      await fc.assert(
        fc.asyncProperty(structural, async (g) => {
          const header = ['a', 'b', 'c'];
          const rows = g.rows.map((r) => r.map((c) => render(c, ',', false, false)));
          const target = g.at % rows.length;
          let expected: RegExp;
          if (g.kind === 'duplicate-header') {
            header[g.column] = header[(g.column + 1) % 3] as string;
            expected = /names column "[abc]" twice/;
          } else if (g.kind === 'empty-header-name') {
            header[g.column] = '';
            expected = new RegExp(`column ${g.column + 1} of the header \\(line 1\\) has no name`);
          } else if (g.kind === 'unclosed-quote') {
            (rows[target] as string[])[g.column] = `"${(rows[target] as string[])[g.column]}`;
            expected = new RegExp(`a quote opened on line ${target + 2} .* never closes`);
          } else {
            (rows[target] as string[])[g.column] = `x\udcffy`; // written below as the byte 0xFF
            expected = new RegExp(`the byte 0xFF is not UTF-8 \\(line ${target + 2}\\)`);
          }
          const text = [header.join(','), ...rows.map((r) => r.join(','))].join('\n');
          const bytes = Buffer.from(text.replace('\udcff', '\u0000'), 'utf8');
          if (g.kind === 'bad-utf8') bytes[bytes.indexOf(0)] = 0xff;
          const r = await readAll(bytes);
          expect(kindOf(r.refused)).toBe('usage');
          expect((r.refused as Error).message).toMatch(expected);
          expect(r.records).toEqual([]);
          expect(r.cpuMs).toBeLessThan(BOUND_MS);
          // records() alone (no scan first) refuses before its first record too.
          const alone: SourceRecord[] = [];
          await expect(
            (async () => {
              for await (const x of new CsvSource(r.path).records()) alone.push(x);
            })(),
          ).rejects.toThrow(expected);
          expect(alone).toEqual([]);
        }),
        settings(2000),
      );
    },
  );

  property(
    `arbitrary bytes: refused as usage, or exactly count records, each invalid one naming its line`,
    'arbitrary bytes: usage error or exact records',
    3000,
    async () => {
      await fc.assert(
        fc.asyncProperty(noise, fc.boolean(), async (bytes, trim) => {
          const r = await readAll(Buffer.from(bytes), { trim });
          expect(r.cpuMs).toBeLessThan(BOUND_MS);
          if (r.refused !== undefined) {
            expect(kindOf(r.refused)).toBe('usage');
            expect(r.records).toEqual([]);
            return;
          }
          expect(r.records.length).toBe(r.count);
          let last = 0;
          for (const x of r.records) {
            expect(x.line).toBeGreaterThan(last);
            last = x.line;
            if (x.error !== undefined) expect(x.error.length).toBeGreaterThan(0);
            for (const v of Object.values(x.raw)) expect(typeof v).toBe('string');
          }
        }),
        settings(3000),
      );
    },
  );
});
