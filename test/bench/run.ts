/**
 * # idem benchmarks (`npm run bench`)
 *
 * `npm run bench` builds idem (`npm run build`) and runs this file with tsx. It is
 * self-contained: it generates its inputs under `.test-tmp/`, starts and stops its
 * own private slapd servers, and drives the real CLI (`node bin/idem.js run ...`)
 * and the in-process engine. The machines are shared and noisy (2 cores), so
 * absolute times mean little: every figure is compared with a baseline measured in
 * the same invocation (raw `ldapadd`, a naive script, the MemoryLedger, the CSV
 * source alone, `idem --help`), measurements are interleaved with their baselines so
 * drift hits both, and each is the median of several runs with its [min-max].
 *
 * Parts (IDEM_BENCH_ONLY=core,ledger,kv,csv,ldap selects some; unknown names are refused):
 * - `core`: the no-op task over 100k and 1M rows, peak RSS, `--resume` after a
 *   SIGKILL, SqliteLedger vs MemoryLedger in-process, start-up (core.ts);
 * - `ledger`: the engine in-process with one SQLite upsert per record,
 *   SqliteLedger vs MemoryLedger (ledger-overhead.ts);
 * - `kv`: a naive script against `idem run test/e2e/tasks/kv.ts` (naive-vs-idem.ts);
 * - `csv`: the CSV source alone, rows/s and peak RSS at 100k and 1M (csv-source.ts);
 * - `ldap`: against `ldapadd` into private slapds: first run, no-op rerun, 1% rerun,
 *   the scale curve, concurrency, snapshot memory (ldap.ts; skipped with the reason
 *   when slapd or ldapadd is missing).
 * Each part's module is loaded only when the part runs, so one that cannot load
 * fails alone.
 *
 * Output: ONE table (figure, value as median [min-max], baseline, ratio =
 * value/baseline, goal, met). A figure that could not be measured shows
 * `FAILED [n]`, its reason listed once under the table. The same data, with every
 * sample, the details, the machine, the load average and the settings, goes to
 * `test/bench/results.json` (gitignored).
 *
 * Settings (env):
 * - `IDEM_BENCH_SCALE=0.2` scales every record count (default 1);
 * - `IDEM_BENCH_RUNS=5` repetitions per measurement (default 3);
 * - `IDEM_BENCH_SMOKE=1`: scale 0.001, one run, goals not judged, a 5-minute limit
 *   (the core part keeps 50k rows); well under a minute, for CI;
 * - `IDEM_BENCH_KEEP_CA_CERTS=1` keeps `NODE_EXTRA_CA_CERTS` for the processes the
 *   bench starts. By default it is removed (and the header says so): Node reads that
 *   bundle at every start, before any of idem's code (about 40 ms per process where
 *   it names the system's 140 CAs), no bench connection uses TLS, and `ldapadd`, the
 *   baseline, never reads it. A machine that sets it for its own reasons (a proxy's
 *   CA) would otherwise add it to every idem figure and to none of the baselines.
 *
 * Exit code: 0 when every figure was measured or skipped with a reason, whether or
 * not its goal was met; 1 when a part or a figure broke (a run failed, a check of
 * its result failed, the time limit was hit); 2 for unknown IDEM_BENCH_ONLY names.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  cleanupTempDirs,
  type Figure,
  fmtFigureValue,
  fmtMs,
  fmtNumber,
  fmtValue,
  now,
  ROOT,
  settings,
} from './common.ts';

interface Part {
  id: string;
  load: () => Promise<() => Promise<Figure[]>>;
}

const PARTS: Part[] = [
  { id: 'core', load: async () => (await import('./core.ts')).benchCore },
  { id: 'ledger', load: async () => (await import('./ledger-overhead.ts')).benchLedger },
  { id: 'kv', load: async () => (await import('./naive-vs-idem.ts')).benchNaiveVsIdem },
  { id: 'csv', load: async () => (await import('./csv-source.ts')).benchCsvSource },
  { id: 'ldap', load: async () => (await import('./ldap.ts')).benchLdap },
];

const RESULTS = join(ROOT, 'test', 'bench', 'results.json');

interface PartResult {
  id: string;
  ms: number;
  /** Why the part broke as a whole (its module did not load, it threw outside a figure). */
  failed?: string;
}

const figures: Figure[] = [];
const parts: PartResult[] = [];

/** NODE_EXTRA_CA_CERTS as the bench found it, when it removed it for its children (see the settings above). */
const removedCaCerts = ['', '0', 'false', 'no'].includes(
  (process.env.IDEM_BENCH_KEEP_CA_CERTS ?? '').trim().toLowerCase(),
)
  ? process.env.NODE_EXTRA_CA_CERTS || undefined
  : undefined;
if (removedCaCerts) delete process.env.NODE_EXTRA_CA_CERTS;
const startedAt = new Date();
const started = now();
const loadAtStart = loadavg();

/** Numbered reasons, each listed once: `[1] the rerun exited 1: ...`. */
function reasons(): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of figures) {
    const why = f.failed ?? f.skipped;
    if (why !== undefined && !out.has(why)) out.set(why, out.size + 1);
  }
  return out;
}

function table(): string[] {
  const notes = reasons();
  const head = ['figure', 'value', 'baseline', 'ratio', 'goal', 'met'];
  const rows = figures.map((f) => {
    const why = f.failed ?? f.skipped;
    const value =
      why !== undefined
        ? `${f.failed !== undefined ? 'FAILED' : 'skipped'} [${notes.get(why)}]`
        : fmtFigureValue(f.value, f.samples, f.unit);
    const baseline = f.baseline ? `${f.baseline.what}: ${fmtValue(f.baseline.value, f.baseline.unit)}` : '-';
    const ratio = f.ratio !== undefined && Number.isFinite(f.ratio) ? `${fmtNumber(f.ratio, 'x')}x` : '-';
    const met = f.failed !== undefined && f.goal ? 'no' : f.met === undefined ? '-' : f.met ? 'yes' : 'no';
    return [f.name, value, baseline, ratio, f.goal?.text ?? '-', met];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join(' | ')
      .trimEnd();
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)];
  if (notes.size > 0) {
    out.push('');
    for (const [why, n] of notes) out.push(`[${n}] ${why}`);
  }
  return out;
}

function writeResults(finished: boolean): void {
  const doc = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    finished,
    wallMs: now() - started,
    settings: {
      ...settings,
      only: settings.only.length > 0 ? settings.only : PARTS.map((p) => p.id),
      ...(removedCaCerts ? { removedNodeExtraCaCerts: removedCaCerts } : {}),
    },
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryBytes: totalmem(),
      freeMemoryBytesAtEnd: freemem(),
      node: process.version,
      platform: process.platform,
      arch: process.arch,
    },
    loadAverage: { atStart: loadAtStart, atEnd: loadavg() },
    parts,
    figures,
    reasons: [...reasons()].map(([why, n]) => ({ n, why })),
  };
  writeFileSync(RESULTS, `${JSON.stringify(doc, null, 2)}\n`);
}

function report(finished: boolean): number {
  const broke = figures.filter((f) => f.failed !== undefined).length;
  const skipped = figures.filter((f) => f.skipped !== undefined).length;
  const goals = figures.filter((f) => f.met !== undefined);
  console.log('');
  for (const l of table()) console.log(l);
  writeResults(finished);
  const la = loadavg().map((x) => x.toFixed(2));
  console.log(
    `\nbench ${finished ? 'finished' : 'STOPPED'} in ${fmtMs(now() - started)}: ${figures.length - broke - skipped} figures measured, ` +
      `${skipped} skipped, ${broke} failed; ` +
      (settings.smoke
        ? 'goals not judged (smoke)'
        : `goals met ${goals.filter((f) => f.met).length} of ${goals.length}`) +
      `; load average now ${la.join(' ')}; details and every sample: ${RESULTS.slice(ROOT.length)}`,
  );
  return broke > 0 || parts.some((p) => p.failed !== undefined) || !finished ? 1 : 0;
}

async function main(): Promise<number> {
  const known = PARTS.map((p) => p.id);
  const unknown = settings.only.filter((id) => !known.includes(id));
  if (unknown.length > 0) {
    console.error(
      `bench: IDEM_BENCH_ONLY names unknown parts: ${unknown.join(', ')} (known: ${known.join(', ')})`,
    );
    return 2;
  }
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    console.error('bench: dist/ is missing; run it with `npm run bench` (which builds first)');
    return 1;
  }
  const chosen = PARTS.filter((p) => settings.only.length === 0 || settings.only.includes(p.id));
  const limitMs = settings.smoke ? 5 * 60_000 : 45 * 60_000 * Math.max(1, settings.scale);
  const watchdog = setTimeout(() => {
    console.error(`bench: gave up after ${fmtMs(limitMs)} (the time limit); the figures measured so far:`);
    parts.push({ id: 'limit', ms: now() - started, failed: `the ${fmtMs(limitMs)} time limit` });
    const code = report(false);
    cleanupTempDirs();
    process.exit(code);
  }, limitMs);
  watchdog.unref();

  const la = loadAtStart.map((x) => x.toFixed(2)).join(' ');
  console.log(
    `idem bench${settings.smoke ? ' (SMOKE: goals not judged)' : ''}: parts ${chosen.map((p) => p.id).join(', ')}; ` +
      `scale ${settings.scale}, ${settings.runs} run(s) per measurement, medians [min-max]; ` +
      `node ${process.version}, ${cpus().length} cpus, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
      `load average ${la}; ratios are value/baseline, both measured in this invocation`,
  );
  if (removedCaCerts) {
    console.log(
      `NODE_EXTRA_CA_CERTS (${removedCaCerts}) is unset for the processes the bench starts: Node would read it at ` +
        'every start, no bench connection uses TLS, and ldapadd never reads it (IDEM_BENCH_KEEP_CA_CERTS=1 keeps it)',
    );
  }
  for (const part of chosen) {
    process.stderr.write(`bench: ${part.id} ...\n`);
    const t0 = now();
    const result: PartResult = { id: part.id, ms: 0 };
    try {
      const bench = await part.load();
      figures.push(...(await bench()));
    } catch (err) {
      const reason = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' | ');
      if (err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
      result.failed = reason;
      figures.push({
        part: part.id,
        name: `part ${part.id}`,
        unit: 'x',
        samples: [],
        value: Number.NaN,
        failed: reason,
      });
    } finally {
      cleanupTempDirs();
    }
    result.ms = now() - t0;
    parts.push(result);
    process.stderr.write(`bench: ${part.id} done in ${fmtMs(result.ms)}\n`);
  }
  clearTimeout(watchdog);
  return report(true);
}

const code = await main().catch((err) => {
  console.error(err);
  cleanupTempDirs();
  return 1;
});
// Nothing of ours should be left running; exit even if a library keeps a handle open.
process.exit(code);
