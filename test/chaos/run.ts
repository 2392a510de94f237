/**
 * `npm run test:chaos`: runs the chaos suite (vitest.chaos.config.ts), then prints one
 * table of every figure it recorded (test, count, bound, result) and exits non-zero when
 * a bound broke or a chaos test failed.
 *
 * CI size by default (a few minutes); `IDEM_CHAOS=long` for the long counts.
 * Extra arguments go to vitest, e.g. `npm run test:chaos -- test/chaos/lock`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ChaosRow } from './support/table.ts';

const root = resolve(import.meta.dirname, '..', '..');
const rowsFile = resolve(root, '.test-tmp', `chaos-rows-${process.pid}.jsonl`);
rmSync(rowsFile, { force: true });
const started = Date.now();
const vitest = spawnSync(
  process.execPath,
  [
    resolve(root, 'node_modules/vitest/vitest.mjs'),
    'run',
    '-c',
    'vitest.chaos.config.ts',
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, IDEM_CHAOS_ROWS: rowsFile } },
);
const took = Math.round((Date.now() - started) / 1000);

const rows: ChaosRow[] = existsSync(rowsFile)
  ? readFileSync(rowsFile, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as ChaosRow)
  : [];
rmSync(rowsFile, { force: true });

const cell = (s: string | number) => String(s).replaceAll('|', '\\|').replaceAll('\n', ' ');
const lines = [
  `idem chaos suite (${process.env.IDEM_CHAOS === 'long' ? 'long' : 'CI'} size), node ${process.version}`,
  '',
  '| test | count | bound | result | ok |',
  '|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${cell(r.test)} | ${cell(r.count)} | ${cell(r.bound)} | ${cell(r.result)} | ${r.ok ? 'ok' : 'BROKEN'} |`,
  ),
];
const broken = rows.filter((r) => !r.ok).length;
const failed = vitest.status !== 0;
lines.push(
  '',
  `${rows.length} figures, ${broken} bounds broken, ${failed ? 'some chaos tests FAILED' : 'every chaos test passed'}; the run took ${Math.floor(took / 60)}m${String(took % 60).padStart(2, '0')}s`,
);
process.stdout.write(`\n${lines.join('\n')}\n`);
if (rows.length === 0) process.stdout.write('no figures were recorded: did the chaos tests run?\n');
process.exitCode = broken > 0 || failed || rows.length === 0 ? 1 : 0;
