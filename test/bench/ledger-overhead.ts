/**
 * Part 1, ledger overhead: the engine in-process over N records with one cheap real
 * step (an upsert into a SQLite target file), once with the MemoryLedger (the
 * baseline: no ledger I/O at all) and once with the SqliteLedger in a temp dir.
 * Both read the same CSV through CsvSource and write a fresh target each time, so
 * the only difference is the ledger.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as sql from '../../src/connectors/sql/index.ts';
import { SqliteConnection } from '../../src/connectors/sql/sqlite-connection.ts';
import { systemClock } from '../../src/core/clock.ts';
import { runTask } from '../../src/core/engine.ts';
import type { Ledger } from '../../src/core/ledger.ts';
import { Redactor } from '../../src/core/redact.ts';
import type { RunSummary } from '../../src/core/reporter.ts';
import type { SetupContext, TaskDefinition } from '../../src/core/task.ts';
import { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import { SqliteLedger } from '../../src/ledger/sqlite-ledger.ts';
import { MemoryReporter } from '../../src/report/memory-reporter.ts';
import { CsvSource } from '../../src/sources/csv.ts';
import {
  type BenchLine,
  deadline,
  fmtRate,
  fmtRatio,
  fmtSamples,
  median,
  now,
  scaled,
  settings,
  tempDir,
} from './common.ts';

type Row = { id: string; value: string; email: string };
type Ctx = sql.SqlContext;

const RUN_LIMIT_MS = 120_000;

/** A SetupContext for an in-process run: no secrets, LIFO cleanups. */
function setupFor(dir: string, redactor: Redactor): { setup: SetupContext; close: () => Promise<void> } {
  const cleanups: (() => unknown)[] = [];
  return {
    setup: {
      taskDir: dir,
      stateDir: join(dir, 'state'),
      env: {},
      concurrency: 4,
      secret: (v) => redactor.add(v),
      readSecret: () => {
        throw new Error('the bench task reads no secrets');
      },
      onClose: (fn) => cleanups.push(fn),
      warn: () => {},
    },
    close: async () => {
      while (cleanups.length > 0) await (cleanups.pop() as () => unknown)();
    },
  };
}

function task(target: string): TaskDefinition<Row, Ctx> {
  return {
    name: 'bench-ledger',
    source: { kind: 'csv', path: 'unused', open: (p) => new CsvSource(p) },
    key: 'id',
    parse: (raw) => ({ id: raw.id ?? '', value: raw.value ?? '', email: raw.email ?? '' }),
    connect: (setup) => {
      // synchronous=NORMAL: with WAL, no fsync per target commit, so the step stays cheap and
      // the ledger's own cost is what the ratio shows.
      const conn = new SqliteConnection(
        target,
        {
          init: 'CREATE TABLE IF NOT EXISTS kv (id TEXT PRIMARY KEY, value TEXT NOT NULL, email TEXT)',
          wal: true,
        },
        (file, timeout) => {
          const db = new Database(file, { timeout });
          db.pragma('synchronous = NORMAL');
          return db;
        },
      );
      setup.onClose(() => conn.close());
      return { sql: conn };
    },
    steps: (r) => [sql.upsert('kv', ['id'], { id: r.id, value: r.value, email: r.email })],
  };
}

/** One run over a fresh target; the time includes opening and closing the ledger. */
async function once(kind: 'memory' | 'sqlite', input: string, n: number, rep: number): Promise<number> {
  const dir = tempDir(`ledger-${kind}`);
  const redactor = new Redactor();
  const { setup, close } = setupFor(dir, redactor);
  const kill = new AbortController();
  const start = now();
  const ledger: Ledger & { close?: () => Promise<void> } =
    kind === 'memory' ? new MemoryLedger() : new SqliteLedger(join(dir, 'state', 'ledger.db'));
  let summary: RunSummary;
  try {
    summary = await deadline(
      runTask(
        {
          task: task(join(dir, 'target.db')),
          source: new CsvSource(input),
          ledger,
          reporter: new MemoryReporter(),
          clock: systemClock,
          setup,
          redactor,
        },
        {
          host: 'bench',
          pid: process.pid,
          concurrency: 4,
          runId: `bench-${kind}-${rep}`,
          killSignal: kill.signal,
        },
      ),
      RUN_LIMIT_MS,
      `the ${kind}-ledger run`,
      () => kill.abort(),
    );
  } finally {
    await close();
    if (ledger instanceof SqliteLedger) await ledger.close();
  }
  const ms = now() - start;
  if (summary.status !== 'succeeded' || summary.counts.changed !== n) {
    throw new Error(
      `the ${kind}-ledger run ended ${summary.status} with ${JSON.stringify(summary.counts)}; expected ${n} changed`,
    );
  }
  return ms;
}

function writeInput(path: string, n: number): string {
  const rows = Array.from({ length: n }, (_, i) => `k${i + 1},value-${i + 1},user${i + 1}@example.com`);
  writeFileSync(path, `id,value,email\n${rows.join('\n')}\n`);
  return path;
}

export async function benchLedger(): Promise<BenchLine> {
  const n = scaled(5000);
  const dir = tempDir('ledger-input');
  const input = writeInput(join(dir, 'in.csv'), n);
  const warmup = writeInput(join(dir, 'warmup.csv'), Math.min(n, 200));

  const samples = { memory: [] as number[], sqlite: [] as number[] };
  // One unmeasured warm-up of each (module loading, JIT), then interleaved runs so drift hits both.
  await once('memory', warmup, Math.min(n, 200), -1);
  await once('sqlite', warmup, Math.min(n, 200), -1);
  for (let rep = 0; rep < settings.runs; rep++) {
    samples.memory.push(await once('memory', input, n, rep));
    samples.sqlite.push(await once('sqlite', input, n, rep));
  }
  const mem = median(samples.memory);
  const lite = median(samples.sqlite);
  return {
    name: 'ledger overhead',
    size: `${n} records`,
    cells: [
      `memory ${fmtSamples(samples.memory)} (${fmtRate(n, mem)})`,
      `sqlite ${fmtSamples(samples.sqlite)} (${fmtRate(n, lite)})`,
      `ratio sqlite/memory ${fmtRatio(lite / mem)}`,
    ],
    notes: [
      'in-process runTask, concurrency 4, CsvSource, one sql.upsert per record into a fresh SQLite target',
      '(WAL, synchronous=NORMAL: no fsync per record); times include opening and closing the ledger',
      '(SqliteLedger: WAL, synchronous=FULL, commits batched by 64 records or 200 ms)',
    ],
  };
}
