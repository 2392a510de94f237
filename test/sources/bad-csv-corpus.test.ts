/**
 * The bad-CSV corpus (fixtures/bad-csv): every file there has its expected outcome
 * in expected.json, and every expectation has its file. A refused file must fail
 * the scan with a usage error whose message matches; a read one must give exactly
 * the accepted and invalid records listed, the invalid ones with their lines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kindOf } from '../../src/core/errors.ts';
import type { SourceRecord } from '../../src/core/source.ts';
import { type CsvOptions, CsvSource } from '../../src/sources/csv.ts';
import { chaosRow } from '../chaos/support/table.ts';

const CORPUS = resolve(import.meta.dirname, '..', '..', 'fixtures', 'bad-csv');

interface Case {
  about: string;
  options?: Omit<CsvOptions, 'trailer'> & { trailer?: string };
  key?: string;
  outcome: 'refused' | 'read';
  message?: string;
  accepted?: number;
  invalid?: { line: number; error: string }[];
  rows?: { line: number; raw: Record<string, string> }[];
}

const { cases } = JSON.parse(readFileSync(join(CORPUS, 'expected.json'), 'utf8')) as {
  cases: Record<string, Case>;
};
const files = readdirSync(CORPUS).filter((f) => f.endsWith('.csv'));

function sourceFor(name: string, c: Case): CsvSource {
  const { trailer, ...rest } = c.options ?? {};
  return new CsvSource(join(CORPUS, name), { ...rest, ...(trailer ? { trailer: new RegExp(trailer) } : {}) });
}

/** Files that met their expectation, by outcome (the chaos table's row; `npm run test:chaos` runs this file too). */
const met = { refused: 0, read: 0 };

describe('the bad-CSV corpus', () => {
  afterAll(() => {
    const total = met.refused + met.read;
    chaosRow({
      test: 'bad-CSV corpus (fixtures/bad-csv), each file with its expected outcome',
      count: files.length,
      bound: 'every file as expected, >= 30 files',
      result: `${total} as expected (${met.refused} refused before any record, ${met.read} read with their invalid rows named by line)`,
      ok: total === files.length && files.length >= 30,
    });
  });

  it('has at least 30 files, each with an expected outcome, and no expectation without its file', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
    expect(files.filter((f) => !cases[f])).toEqual([]);
    expect(Object.keys(cases).filter((f) => !files.includes(f))).toEqual([]);
  });

  it.each(Object.entries(cases))('%s', async (name, c) => {
    const source = sourceFor(name, c);
    const expect$ = c.key ? { columns: [c.key] } : {};
    if (c.outcome === 'refused') {
      const err = await source.scan(expect$).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, `${name} was accepted: ${c.about}`).toBeInstanceOf(Error);
      expect(kindOf(err)).toBe('usage');
      expect((err as Error).message).toMatch(new RegExp(c.message ?? ''));
      met.refused++;
      return;
    }
    const scan = await source.scan(expect$);
    const records: SourceRecord[] = [];
    for await (const r of source.records()) records.push(r);
    const invalid = records.filter((r) => r.error !== undefined);
    expect(scan.count).toBe(records.length);
    expect(records.length - invalid.length).toBe(c.accepted);
    expect(invalid.map((r) => [r.line, r.error])).toEqual(
      (c.invalid ?? []).map((i) => [i.line, expect.stringMatching(new RegExp(i.error))]),
    );
    for (const row of c.rows ?? []) {
      expect(records.find((r) => r.line === row.line)?.raw, `${name} line ${row.line}`).toEqual(row.raw);
    }
    met.read++;
  });
});
