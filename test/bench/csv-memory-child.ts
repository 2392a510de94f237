/**
 * Child of part 4 (csv memory): streams one CSV through CsvSource.records() and
 * prints one JSON line with the row count, the time (without the forced gcs), and
 * the memory before and at its peak: RSS, the heap as sampled (whatever the GC has
 * not collected yet) and the live heap (right after a full gc, at ten points). Run as `node --expose-gc --import tsx csv-memory-child.ts <file> <rows>`,
 * one process per measurement so the measurements do not pollute each other.
 */
import { CsvSource } from '../../src/sources/csv.ts';

const [path, expected] = process.argv.slice(2);
if (!path || !expected) {
  console.error('usage: csv-memory-child.ts <file.csv> <expected rows>');
  process.exit(2);
}

const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const before = process.memoryUsage();
let peakHeap = before.heapUsed;
let peakRss = before.rss;
const sample = () => {
  const m = process.memoryUsage();
  if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
  if (m.rss > peakRss) peakRss = m.rss;
};
const timer = setInterval(sample, 5);

// Live memory: the heap right after a full gc, at ten points along the stream.
const checkpoint = Math.max(1, Math.floor(Number(expected) / 10));
let peakLive = before.heapUsed;
let gcMs = 0;
const live = () => {
  if (!gc) return;
  const t = performance.now();
  gc();
  gcMs += performance.now() - t;
  peakLive = Math.max(peakLive, process.memoryUsage().heapUsed);
};

let rows = 0;
let invalid = 0;
const start = performance.now();
for await (const rec of new CsvSource(path).records()) {
  rows++;
  if (rec.error) invalid++;
  if (rows % 500 === 0) sample();
  if (rows % checkpoint === 0) live();
}
sample();
const ms = performance.now() - start - gcMs;
clearInterval(timer);
if (rows !== Number(expected) || invalid > 0) {
  console.error(`read ${rows} records (${invalid} invalid), expected ${expected} valid ones`);
  process.exit(1);
}
console.log(
  JSON.stringify({
    rows,
    ms,
    rssBefore: before.rss,
    heapBefore: before.heapUsed,
    peakRss,
    peakHeap,
    peakLive,
    maxRss: process.resourceUsage().maxRSS * 1024,
  }),
);
