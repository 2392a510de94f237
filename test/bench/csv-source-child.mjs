// Child of the csv and core parts of `npm run bench`: the BUILT CsvSource
// (dist/sources/csv.js) in a plain `node` process, no tsx: scans one CSV, then reads
// its records (neither kept), and prints one JSON line: the rows, the time of each
// pass and the process's peak RSS. The parent times the whole process too, which is
// the baseline of the core rates (the least any `idem run` over the file can cost).
// Usage: node test/bench/csv-source-child.mjs <file.csv> <expected rows>
import { CsvSource } from '../../dist/sources/csv.js';

const [path, expected] = process.argv.slice(2);
if (!path || !expected) {
  console.error('usage: csv-source-child.mjs <file.csv> <expected rows>');
  process.exit(2);
}

const baseRss = process.memoryUsage().rss;
const source = new CsvSource(path);
const t0 = performance.now();
const scan = await source.scan();
const t1 = performance.now();
let rows = 0;
let invalid = 0;
for await (const rec of source.records()) {
  rows++;
  if (rec.error) invalid++;
}
const t2 = performance.now();
if (scan.count !== Number(expected) || rows !== scan.count || invalid > 0) {
  console.error(
    `scanned ${scan.count}, read ${rows} records (${invalid} invalid), expected ${expected} valid ones`,
  );
  process.exit(1);
}
console.log(
  JSON.stringify({
    rows,
    scanMs: t1 - t0,
    recordsMs: t2 - t1,
    baseRss,
    maxRss: process.resourceUsage().maxRSS * 1024,
  }),
);
