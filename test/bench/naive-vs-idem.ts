/**
 * Part `kv`, a naive script vs idem over a real SQLite target: naive-kv.mjs (read the
 * CSV, INSERT OR REPLACE per row) against the built CLI running test/e2e/tasks/kv.ts,
 * first run (every record changed) and rerun (every record a no-op). Each side is a
 * separate `node` process timed from spawn to exit, so process start-up (and, for
 * idem, loading the TypeScript task) is included in both.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createKvTarget } from '../support/kv-target.ts';
import {
  child,
  type Figure,
  figure,
  fmtRatio,
  idemCli,
  measuring,
  median,
  now,
  ROOT,
  scaled,
  settings,
  summaryOf,
  tail,
  tempDir,
} from './common.ts';

const PART = 'kv';

const TASK = 'test/e2e/tasks/kv.ts';
const NAIVE = join(ROOT, 'test', 'bench', 'naive-kv.mjs');
const LIMIT_MS = 180_000;

function rowsIn(target: string): number {
  const db = new Database(target, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM kv').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function naive(input: string, n: number): Promise<number> {
  const target = createKvTarget(join(tempDir('naive'), 'target.db'));
  const start = now();
  const r = await child(process.execPath, [NAIVE, target, input], { timeoutMs: LIMIT_MS });
  const ms = now() - start;
  if (r.exitCode !== 0) throw new Error(`the naive script failed (${r.exitCode}): ${tail(r.stderr)}`);
  const rows = rowsIn(target);
  if (rows !== n) throw new Error(`the naive script left ${rows} rows, expected ${n}`);
  return ms;
}

/** idem first run then (unless `firstOnly`) the rerun, over one fresh target and state dir. */
async function idem(input: string, n: number, firstOnly = false): Promise<{ first: number; rerun: number }> {
  const dir = tempDir('kv');
  const target = createKvTarget(join(dir, 'target.db'));
  // Clear the task's fault-injection knobs in case the caller's environment has them.
  const env = { KV_TARGET: target, KV_INPUT: input, KV_FAULT: '', KV_SLOW_MS: '' };
  const args = ['run', TASK, '--state-dir', join(dir, 'state'), '--json'];
  const run = async (what: string, changed: number) => {
    const start = now();
    const r = await idemCli(args, env, LIMIT_MS);
    const ms = now() - start;
    if (r.exitCode !== 0) throw new Error(`idem ${what} exited ${r.exitCode}: ${tail(r.stderr)}`);
    const { status, counts } = summaryOf(r.stdout);
    if (status !== 'succeeded' || counts.changed !== changed || counts.ok !== n - changed) {
      throw new Error(
        `idem ${what} ended ${status} with ${JSON.stringify(counts)}; expected ${changed} changed`,
      );
    }
    return ms;
  };
  const first = await run('first run', n);
  const rerun = firstOnly ? Number.NaN : await run('rerun', 0);
  const rows = rowsIn(target);
  if (rows !== n) throw new Error(`idem left ${rows} rows in the target, expected ${n}`);
  return { first, rerun };
}

function writeInput(path: string, n: number): string {
  const rows = Array.from({ length: n }, (_, i) => `k${i + 1},v${i + 1}`);
  writeFileSync(path, `id,value\n${rows.join('\n')}\n`);
  return path;
}

/** Part `kv`: the first run, the rerun and the start-up (1 record) of idem against the naive script. */
export async function benchNaiveVsIdem(): Promise<Figure[]> {
  const n = scaled(5000);
  return measuring(PART, `kv: idem first run, ${n} records`, async () => {
    const dir = tempDir('kv-input');
    const input = writeInput(join(dir, 'in.csv'), n);
    // One record: what each side costs before its first record (process start-up, loading).
    const single = writeInput(join(dir, 'one.csv'), 1);

    const s = {
      naive: [] as number[],
      first: [] as number[],
      rerun: [] as number[],
      naive1: [] as number[],
      idem1: [] as number[],
    };
    for (let rep = 0; rep < settings.runs; rep++) {
      s.naive1.push(await naive(single, 1));
      s.idem1.push((await idem(single, 1, true)).first);
      s.naive.push(await naive(input, n));
      const { first, rerun } = await idem(input, n);
      s.first.push(first);
      s.rerun.push(rerun);
    }
    // Per record once start-up is paid: (time over n - time over 1) / (n - 1).
    const perRecord = (xs: number[], one: number[]) => (median(xs) - median(one)) / Math.max(1, n - 1);
    const naivePer = perRecord(s.naive, s.naive1);
    const firstPer = perRecord(s.first, s.idem1);
    const rerunPer = perRecord(s.rerun, s.idem1);
    const fmtPer = (ms: number) => (ms > 0 ? `${(ms * 1000).toFixed(0)} us` : '~0 (within noise)');
    const naiveWhat = 'naive script';
    return [
      figure(PART, `kv: idem first run, ${n} records`, 'ms', s.first, {
        baseline: { what: naiveWhat, samples: s.naive },
        detail:
          `wall per process, start-up included on both sides; naive = node naive-kv.mjs (INSERT OR REPLACE per row, ` +
          `no check/ledger/lock); idem = ${TASK}, concurrency 4; per record after start-up: naive ${fmtPer(naivePer)}, ` +
          `idem ${fmtPer(firstPer)} (x${fmtRatio(firstPer / naivePer)})`,
      }),
      figure(PART, `kv: idem rerun (no-op), ${n} records`, 'ms', s.rerun, {
        baseline: { what: naiveWhat, samples: s.naive },
        detail: `no target writes; per record after start-up: idem ${fmtPer(rerunPer)} (x${fmtRatio(rerunPer / naivePer)} of naive)`,
      }),
      figure(PART, 'kv: idem start-up, 1 record', 'ms', s.idem1, {
        baseline: { what: naiveWhat, samples: s.naive1 },
      }),
    ];
  });
}
