/**
 * Part `csv`: the CSV source alone (issue 8, "streaming that stays flat"). A file of
 * 3 short columns at 100k and 1M rows, each read by the built CsvSource in its own
 * plain `node` child (csv-source-child.mjs): rows/s of the scan pass (digest, count,
 * structural checks) and of the records pass, and the peak RSS, whose 1M/100k ratio
 * shows that memory does not grow with the file. The 100k figures are the baselines.
 * The core goal is a no-op task at 100,000 rec/s end to end; the source must be well
 * above it.
 */
import { join } from 'node:path';
import {
  type Figure,
  figure,
  generateCsv,
  measuring,
  type SourceSample,
  scaled,
  settings,
  sourceChild,
  tempDir,
  toMb,
} from './common.ts';

const PART = 'csv';

export async function benchCsvSource(): Promise<Figure[]> {
  const small = scaled(100_000, 1000);
  const large = small * 10;
  return measuring(PART, `csv source, ${large} rows`, async () => {
    const dir = tempDir('csv-source');
    const files = [
      await generateCsv(join(dir, 'small.csv'), small),
      await generateCsv(join(dir, 'large.csv'), large),
    ];
    const s: [SourceSample[], SourceSample[]] = [[], []];
    for (let rep = 0; rep < settings.runs; rep++) {
      s[0].push(await sourceChild(files[0] as string, small));
      s[1].push(await sourceChild(files[1] as string, large));
    }
    const scan = (xs: SourceSample[]) => xs.map((x) => (x.rows * 1000) / x.scanMs);
    const records = (xs: SourceSample[]) => xs.map((x) => (x.rows * 1000) / x.recordsMs);
    const rss = (xs: SourceSample[]) => xs.map((x) => toMb(x.maxRss));
    const detail = 'built CsvSource in a plain node child; 3 short columns (k17,name17,t17); nothing kept';
    return [
      figure(PART, `csv scan pass, ${large} rows`, 'rows/s', scan(s[1]), {
        baseline: { what: `${small} rows`, samples: scan(s[0]) },
        detail,
      }),
      figure(PART, `csv records pass, ${large} rows`, 'rows/s', records(s[1]), {
        baseline: { what: `${small} rows`, samples: records(s[0]) },
        detail,
      }),
      figure(PART, `csv peak RSS, ${large} rows`, 'MB', rss(s[1]), {
        baseline: { what: `${small} rows`, samples: rss(s[0]) },
        detail: `streaming keeps the ratio near 1, not near 10; RSS at start-up ${toMb(s[0][0]?.baseRss ?? 0).toFixed(1)} MB`,
      }),
    ];
  });
}
