/**
 * The CSV source alone (issue 8, "streaming that stays flat"): a file of 3 short
 * columns at 100k and 1M rows, each measured in its own child process: rows/s of the
 * scan pass (hash, count, structural checks) and of the records pass, and the peak
 * RSS, whose 1M/100k ratio shows that memory does not grow with the file. The core
 * goal is a no-op task at 100,000 rec/s end to end; the source must be well above it.
 */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import {
  type BenchLine,
  child,
  fmtMb,
  fmtRatio,
  median,
  ROOT,
  scaled,
  settings,
  tail,
  tempDir,
} from './common.ts';

const CHILD = join(ROOT, 'test', 'bench', 'csv-source-child.ts');
const LIMIT_MS = 300_000;

interface Sample {
  rows: number;
  scanMs: number;
  recordsMs: number;
  baseRss: number;
  maxRss: number;
}

/** `id,name,value` rows: `k17,name17,v17`. */
async function generate(path: string, n: number): Promise<string> {
  const out = createWriteStream(path);
  out.write('id,name,value\n');
  const CHUNK = 10_000;
  for (let from = 0; from < n; from += CHUNK) {
    let s = '';
    for (let i = from; i < Math.min(n, from + CHUNK); i++) s += `k${i},name${i},v${i % 97}\n`;
    if (!out.write(s)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
  return path;
}

async function measure(path: string, n: number): Promise<Sample> {
  const r = await child(process.execPath, ['--import', 'tsx', CHILD, path, String(n)], {
    timeoutMs: LIMIT_MS,
  });
  if (r.exitCode !== 0)
    throw new Error(`the csv source child (${n} rows) exited ${r.exitCode}: ${tail(r.stderr)}`);
  return JSON.parse(String(r.stdout).trim().split('\n').pop() as string) as Sample;
}

/** Source-only figures: scan and records rows/s and peak RSS at 100k and 1M rows (scaled). */
export async function benchCsvSource(): Promise<BenchLine> {
  const small = scaled(100_000, 1000);
  const large = small * 10;
  const dir = tempDir('csv-source');
  const files = [
    await generate(join(dir, 'small.csv'), small),
    await generate(join(dir, 'large.csv'), large),
  ];
  const samples: Sample[][] = [[], []];
  for (let rep = 0; rep < settings.runs; rep++) {
    samples[0]?.push(await measure(files[0] as string, small));
    samples[1]?.push(await measure(files[1] as string, large));
  }
  const stat = (xs: Sample[]) => ({
    scan: median(xs.map((x) => (x.rows * 1000) / x.scanMs)),
    records: median(xs.map((x) => (x.rows * 1000) / x.recordsMs)),
    rss: median(xs.map((x) => x.maxRss)),
    base: median(xs.map((x) => x.baseRss)),
  });
  const [a, b] = samples.map(stat) as [ReturnType<typeof stat>, ReturnType<typeof stat>];
  const cell = (n: number, x: typeof a) =>
    `${n} rows: scan ${Math.round(x.scan)}/s, records ${Math.round(x.records)}/s, peak rss ${fmtMb(x.rss)}`;
  return {
    name: 'csv source',
    size: `${small}/${large} rows`,
    cells: [cell(small, a), cell(large, b), `peak rss ratio ${fmtRatio(b.rss / a.rss)}`],
    notes: [
      'CsvSource alone, each size in its own child (node --import tsx): scan() then records(), nothing kept;',
      `3 short columns (k17,name17,v17); rss at start-up ${fmtMb(a.base)}; goal: both passes well above 100,000 rows/s`,
    ],
  };
}
