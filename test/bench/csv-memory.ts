/**
 * Part 4, constant memory of the CSV source: a small and a 10x larger generated CSV
 * streamed through CsvSource.records(), each in its own child process, reporting
 * the peak RSS and the heap growth over the process's baseline. Streaming means
 * the large/small ratio stays near 1, not near 10.
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

const CHILD = join(ROOT, 'test', 'bench', 'csv-memory-child.ts');
const LIMIT_MS = 120_000;
const DEPTS = ['eng', 'sales', 'research', 'ops', 'finance'];

interface Sample {
  rows: number;
  ms: number;
  rssBefore: number;
  heapBefore: number;
  peakRss: number;
  peakHeap: number;
  peakLive: number;
  maxRss: number;
}

/** An HR-export-like CSV of n rows, written in chunks; a quoted field every 50th row. */
async function generate(path: string, n: number): Promise<string> {
  const out = createWriteStream(path);
  out.write('uid,givenName,sn,mail,employeeNumber,department,groups\n');
  const CHUNK = 5000;
  for (let from = 0; from < n; from += CHUNK) {
    const lines: string[] = [];
    for (let i = from; i < Math.min(n, from + CHUNK); i++) {
      const uid = `u${String(i + 1).padStart(7, '0')}`;
      const dept = DEPTS[i % DEPTS.length] as string;
      const sn = i % 50 === 0 ? `"O'Brien, Jr. ${i + 1}"` : `Sur${i + 1}`;
      lines.push(`${uid},Given${i + 1},${sn},${uid}@example.com,${100_000 + i},${dept},staff;${dept}\n`);
    }
    if (!out.write(lines.join(''))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
  return path;
}

async function measure(path: string, n: number): Promise<Sample> {
  const r = await child(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, path, String(n)], {
    timeoutMs: LIMIT_MS,
  });
  if (r.exitCode !== 0)
    throw new Error(`the csv memory child (${n} rows) exited ${r.exitCode}: ${tail(r.stderr)}`);
  return JSON.parse(String(r.stdout).trim().split('\n').pop() as string) as Sample;
}

export async function benchCsvMemory(): Promise<BenchLine> {
  const small = scaled(20_000, 1000);
  const large = small * 10;
  const dir = tempDir('csv-memory');
  const smallFile = await generate(join(dir, 'small.csv'), small);
  const largeFile = await generate(join(dir, 'large.csv'), large);

  const s: { small: Sample[]; large: Sample[] } = { small: [], large: [] };
  for (let rep = 0; rep < settings.runs; rep++) {
    s.small.push(await measure(smallFile, small));
    s.large.push(await measure(largeFile, large));
  }
  const stat = (xs: Sample[]) => ({
    peakRss: median(xs.map((x) => x.maxRss)),
    rssGrowth: median(xs.map((x) => x.peakRss - x.rssBefore)),
    heapGrowth: median(xs.map((x) => x.peakHeap - x.heapBefore)),
    liveGrowth: median(xs.map((x) => x.peakLive - x.heapBefore)),
    rate: median(xs.map((x) => (x.rows * 1000) / x.ms)),
  });
  const a = stat(s.small);
  const b = stat(s.large);
  const cell = (n: number, x: typeof a) =>
    `${n} rows: peak rss ${fmtMb(x.peakRss)}, live heap +${fmtMb(x.liveGrowth)} (${Math.round(x.rate)} rows/s)`;
  return {
    name: 'csv memory',
    size: `${small}/${large} rows`,
    cells: [
      cell(small, a),
      cell(large, b),
      `ratio peak rss ${fmtRatio(b.peakRss / a.peakRss)}, live heap ${fmtRatio(b.liveGrowth / a.liveGrowth)}`,
    ],
    notes: [
      'each in its own child (node --expose-gc --import tsx), CsvSource.records() only, records not kept;',
      'peak rss = the process maximum (getrusage); live heap = heap after a forced gc at 10 points, minus the',
      'baseline after start-up; not forced: rss growth ' +
        `${fmtMb(a.rssGrowth)} vs ${fmtMb(b.rssGrowth)}, heap growth ${fmtMb(a.heapGrowth)} vs ${fmtMb(b.heapGrowth)} (GC laziness)`,
    ],
  };
}
