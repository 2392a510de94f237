/**
 * # idem benchmarks (`npm run bench`)
 *
 * `npm run bench` builds idem (`npm run build`) and runs this file with tsx. It drives
 * the real CLI (`node bin/idem.js run ...`) and the in-process engine, and prints a
 * compact table of medians and RATIOS. The machines are shared and noisy (2 cores),
 * so absolute times mean little: every number is compared with a baseline measured
 * in the same run, on the same machine, and every measurement runs several times
 * (interleaved with its baseline, so drift hits both) and reports the median with
 * its [min-max] spread. Speed is measured here, never asserted in the tests.
 *
 * What it measures:
 *
 * 1. `ledger overhead`: the engine in-process (`runTask`) over 5,000 records with one
 *    sql.upsert per record into a SQLite target file, with the MemoryLedger (baseline)
 *    and with the SqliteLedger in a temp dir; records/s and sqlite/memory.
 * 2. `naive vs idem`: a naive `node` script (parse the CSV, INSERT OR REPLACE per row)
 *    against `idem run test/e2e/tasks/kv.ts`, first run and rerun (all no-ops), over
 *    5,000 records; wall time per process, start-up included on both sides.
 * 3. `ldap`: `ldapadd` of an LDIF with 500 people and their groups into a fresh
 *    private slapd against `idem run tasks/provision-users.ts` into another fresh one
 *    (first run), and the idem rerun, which must make zero writes (audit log).
 *    Skipped, with the reason, when slapd or ldapadd is missing; a failing idem run is
 *    a failure of the bench.
 *
 * Parts 2 and 3 also time each side over a single record, which is its start-up cost
 * (node, module loading, connecting), and print the cost per record after start-up:
 * (time over N - time over 1) / (N - 1). With few records idem's ratio is mostly its
 * start-up; the per-record ratio is what grows with the input.
 * 4. `csv memory`: 20,000 and 200,000 generated rows through CsvSource.records(),
 *    each in its own child process: peak RSS, heap growth, and the large/small ratio
 *    (streaming keeps it near 1, not near 10).
 *
 * Everything listens on 127.0.0.1 only, lives in temp dirs that are removed at the
 * end, and is bounded: every child process and in-process run has a time limit, and
 * the whole bench gives up after 20 minutes (times the scale). By default it takes
 * a few minutes.
 *
 * Settings (env):
 * - `IDEM_BENCH_SCALE=0.2` scales every record count (default 1);
 * - `IDEM_BENCH_RUNS=5` repetitions per measurement (default 3);
 * - `IDEM_BENCH_ONLY=ledger,kv,ldap,csv` runs only these parts.
 *
 * Exit code: 0 when every part ran or was skipped with a reason; 1 when a part broke
 * (a run failed, a check of its result failed, or the time limit was hit).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchLine, cleanupTempDirs, fmtMs, now, ROOT, Skip, selected, settings } from './common.ts';
import { benchCsvMemory } from './csv-memory.ts';
import { benchLdap } from './ldap.ts';
import { benchLedger } from './ledger-overhead.ts';
import { benchNaiveVsIdem } from './naive-vs-idem.ts';

interface Part {
  id: string;
  name: string;
  run: () => Promise<BenchLine>;
}

const PARTS: Part[] = [
  { id: 'ledger', name: 'ledger overhead', run: benchLedger },
  { id: 'kv', name: 'naive vs idem', run: benchNaiveVsIdem },
  { id: 'ldap', name: 'ldap', run: benchLdap },
  { id: 'csv', name: 'csv memory', run: benchCsvMemory },
];

type Result =
  | { part: Part; ok: true; line: BenchLine; ms: number }
  | { part: Part; ok: false; skipped: boolean; reason: string; ms: number };

const NAME_WIDTH = 17;
const SIZE_WIDTH = 18;

function render(r: Result): string {
  if (r.ok) {
    const { line } = r;
    return `${line.name.padEnd(NAME_WIDTH)} ${line.size.padEnd(SIZE_WIDTH)} ${line.cells.join('   ')}`;
  }
  const what = r.skipped ? 'skipped' : 'FAILED';
  const reason = r.reason.replace(/\s*\n\s*/g, ' | ');
  return `${r.part.name.padEnd(NAME_WIDTH)} ${''.padEnd(SIZE_WIDTH)} ${what}: ${reason}`;
}

function renderNotes(r: Result): string[] {
  return r.ok ? (r.line.notes ?? []).map((n) => `${''.padEnd(NAME_WIDTH + 1)}${n}`) : [];
}

async function main(): Promise<number> {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    console.error('bench: dist/ is missing; run it with `npm run bench` (which builds first)');
    return 1;
  }
  const parts = PARTS.filter((p) => selected(p.id));
  if (parts.length === 0) {
    console.error(
      `bench: IDEM_BENCH_ONLY=${settings.only.join(',')} selects nothing (ledger, kv, ldap, csv)`,
    );
    return 1;
  }
  const limitMs = 20 * 60_000 * Math.max(1, settings.scale);
  const watchdog = setTimeout(() => {
    console.error(`bench: gave up after ${fmtMs(limitMs)} (the time limit); partial results above`);
    cleanupTempDirs();
    process.exit(1);
  }, limitMs);
  watchdog.unref();

  console.log(
    `idem bench: scale ${settings.scale}, ${settings.runs} runs per measurement, medians [min-max]; ` +
      `node ${process.version}; ratios are against baselines measured in this same run`,
  );
  const started = now();
  const results: Result[] = [];
  for (const part of parts) {
    process.stderr.write(`bench: ${part.name} ...\n`);
    const t0 = now();
    let result: Result;
    try {
      result = { part, ok: true, line: await part.run(), ms: now() - t0 };
    } catch (err) {
      const skipped = err instanceof Skip;
      const reason = err instanceof Error ? err.message : String(err);
      if (!skipped && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
      result = { part, ok: false, skipped, reason, ms: now() - t0 };
    } finally {
      cleanupTempDirs();
    }
    results.push(result);
    process.stderr.write(`bench: ${part.name} done in ${fmtMs(result.ms)}\n`);
  }
  clearTimeout(watchdog);

  console.log('');
  for (const r of results) console.log(render(r));
  console.log('');
  for (const r of results) {
    const notes = renderNotes(r);
    if (notes.length === 0) continue;
    console.log(`${r.part.name}:`);
    for (const n of notes) console.log(n);
  }
  const broke = results.filter((r) => !r.ok && !r.skipped);
  const skipped = results.filter((r) => !r.ok && r.skipped);
  console.log(
    `\nbench finished in ${fmtMs(now() - started)}: ${results.length - broke.length - skipped.length} measured, ` +
      `${skipped.length} skipped, ${broke.length} failed`,
  );
  return broke.length > 0 ? 1 : 0;
}

const code = await main().catch((err) => {
  console.error(err);
  cleanupTempDirs();
  return 1;
});
// Nothing of ours should be left running; exit even if a library keeps a handle open.
process.exit(code);
