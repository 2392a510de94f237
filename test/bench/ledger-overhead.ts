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
import type { TaskDefinition } from '../../src/core/task.ts';
import { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import { SqliteLedger } from '../../src/ledger/sqlite-ledger.ts';
import { MemoryReporter } from '../../src/report/memory-reporter.ts';
import { createSetupContext } from '../../src/runner/setup-context.ts';
import { CsvSource } from '../../src/sources/csv.ts';
import { deadline, type Figure, figure, measuring, now, scaled, settings, tempDir } from './common.ts';

type Row = { id: string; value: string; email: string };
type Ctx = sql.SqlContext;

const PART = 'ledger';
const RUN_LIMIT_MS = 300_000;

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

/**
 * One in-process run of the engine (`runTask`) over `input`, with the MemoryLedger or a
 * SqliteLedger in a fresh temp dir, set up as the runner sets up a run
 * (createSetupContext); ms from opening the ledger to closing it. Throws unless the run
 * succeeded with `changed` records changed and the rest ok.
 */
export async function inProcess<R, C>(
  kind: 'memory' | 'sqlite',
  def: TaskDefinition<R, C>,
  input: string,
  expect: { n: number; changed: number; concurrency: number; label: string },
): Promise<number> {
  const dir = tempDir(`ledger-${kind}`);
  const redactor = new Redactor();
  const { setup, close } = createSetupContext({
    taskDir: dir,
    stateDir: join(dir, 'state'),
    concurrency: expect.concurrency,
    env: {},
    redactor,
    warn: () => {},
  });
  const kill = new AbortController();
  const start = now();
  const ledger: Ledger =
    kind === 'memory' ? new MemoryLedger() : new SqliteLedger(join(dir, 'state', 'ledger.db'));
  let summary: RunSummary;
  let problems: string[] = [];
  try {
    summary = await deadline(
      runTask(
        {
          task: def,
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
          concurrency: expect.concurrency,
          runId: `bench-${kind}-${expect.label}`,
          killSignal: kill.signal,
        },
      ),
      RUN_LIMIT_MS,
      `the ${kind}-ledger run`,
      () => kill.abort(),
    );
  } finally {
    problems = await close();
    if (ledger instanceof SqliteLedger) await ledger.close();
  }
  const ms = now() - start;
  if (problems.length > 0) throw new Error(`cleanup of the ${kind}-ledger run: ${problems.join('; ')}`);
  const { counts } = summary;
  if (
    summary.status !== 'succeeded' ||
    counts.changed !== expect.changed ||
    counts.ok !== expect.n - expect.changed
  ) {
    throw new Error(
      `the ${kind}-ledger run ended ${summary.status} with ${JSON.stringify(counts)}; expected ${expect.changed} changed of ${expect.n}`,
    );
  }
  return ms;
}

function writeInput(path: string, n: number): string {
  const rows = Array.from({ length: n }, (_, i) => `k${i + 1},value-${i + 1},user${i + 1}@example.com`);
  writeFileSync(path, `id,value,email\n${rows.join('\n')}\n`);
  return path;
}

/** SqliteLedger vs MemoryLedger, interleaved after one unmeasured warm-up of each; ms samples of each. */
export async function ledgerVsMemory<R, C>(
  def: (dir: string) => TaskDefinition<R, C>,
  input: string,
  warmup: string,
  expect: { n: number; warmupN: number; changed: 'all' | 'none'; concurrency: number },
): Promise<{ memory: number[]; sqlite: number[] }> {
  const changed = (n: number) => (expect.changed === 'all' ? n : 0);
  const run = (kind: 'memory' | 'sqlite', file: string, n: number, label: string) =>
    inProcess(kind, def(tempDir('ledger-target')), file, {
      n,
      changed: changed(n),
      concurrency: expect.concurrency,
      label,
    });
  await run('memory', warmup, expect.warmupN, 'warmup');
  await run('sqlite', warmup, expect.warmupN, 'warmup');
  const s = { memory: [] as number[], sqlite: [] as number[] };
  for (let rep = 0; rep < settings.runs; rep++) {
    s.memory.push(await run('memory', input, expect.n, String(rep)));
    s.sqlite.push(await run('sqlite', input, expect.n, String(rep)));
  }
  return s;
}

/** Part `ledger`: N records, one sql.upsert each into a fresh SQLite target, SqliteLedger vs MemoryLedger. */
export async function benchLedger(): Promise<Figure[]> {
  const n = scaled(5000);
  const name = `ledger: engine, ${n} upserts, SqliteLedger`;
  return measuring(PART, name, async () => {
    const dir = tempDir('ledger-input');
    const input = writeInput(join(dir, 'in.csv'), n);
    const warmupN = Math.min(n, 200);
    const warmup = writeInput(join(dir, 'warmup.csv'), warmupN);
    const s = await ledgerVsMemory((d) => task(join(d, 'target.db')), input, warmup, {
      n,
      warmupN,
      changed: 'all',
      concurrency: 4,
    });
    return figure(PART, name, 'ms', s.sqlite, {
      baseline: { what: 'MemoryLedger', samples: s.memory },
      detail:
        'in-process runTask (createSetupContext), concurrency 4, CsvSource, one sql.upsert per record into a fresh ' +
        'SQLite target (WAL, synchronous=NORMAL); times include opening and closing the ledger; ratio = sqlite/memory time',
    });
  });
}
