/**
 * Part `core` (issue 8, "Core, no-op task" and "a fast start"): idem itself, with a
 * task whose one step finds nothing to do (tasks/noop.ts), so what is measured is
 * reading, keying, the engine and the ledger. Every CLI run is
 *
 *     node --require test/bench/max-rss.cjs bin/idem.js run test/bench/tasks/noop.ts -q
 *
 * timed from spawn to exit (start-up included), its peak RSS reported by the
 * max-rss.cjs preload, and checked afterwards with `idem runs --json` (the last run
 * succeeded with every record ok). Figures:
 *
 * - the no-op rerun at 1M rows (goal >= 100,000 rec/s), the first run at 1M and the
 *   rerun at 100k; their baseline is the built CsvSource scanning and reading the
 *   same file in a plain `node` child (the least a run over the file can cost);
 * - the peak RSS of the 1M rerun (goal < 200 MB) against the 100k rerun's (goal
 *   1M/100k <= 1.2: memory stays flat);
 * - `--resume` after the first run SIGKILLed itself at record 900,001 of 1M
 *   (NOOP_KILL_AT; goal < 5 s), against a full no-op rerun of 1M;
 * - the engine in-process over 100k no-op records with the SqliteLedger against the
 *   MemoryLedger, set up as the runner does (goal ratio <= 1.5);
 * - start-up: a 1-record run against `idem --help` (goal ratio <= 3).
 *
 * Sizes scale with IDEM_BENCH_SCALE, but the large file keeps at least 50,000 rows
 * (so the killed run has committed something to resume) and the small one 5,000.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CsvSource } from '../../src/sources/csv.ts';
import {
  BIN,
  child,
  type Figure,
  figure,
  type Goal,
  generateCsv,
  measuring,
  now,
  ROOT,
  type SourceSample,
  scaled,
  settings,
  sourceChild,
  tail,
  tempDir,
  toMb,
} from './common.ts';
import { ledgerVsMemory } from './ledger-overhead.ts';

const PART = 'core';
/** Figure names start with the part's name, as the other parts' do. */
const name = (what: string) => `core: ${what}`;
const TASK = join('test', 'bench', 'tasks', 'noop.ts');
const MAX_RSS = join(ROOT, 'test', 'bench', 'max-rss.cjs');
const LIMIT_MS = 600_000;

const GOALS = {
  rate: { text: '>= 100,000 rec/s', all: [{ on: 'value', op: '>=', bound: 100_000 }] },
  rss: {
    text: '< 200 MB, <= 1.2x the 100k run',
    all: [
      { on: 'value', op: '<', bound: 200 },
      { on: 'ratio', op: '<=', bound: 1.2 },
    ],
  },
  resume: { text: '< 5 s', all: [{ on: 'value', op: '<', bound: 5 }] },
  ledger: { text: '<= 1.5x MemoryLedger', all: [{ on: 'ratio', op: '<=', bound: 1.5 }] },
  startup: { text: '<= 3x idem --help', all: [{ on: 'ratio', op: '<=', bound: 3 }] },
} satisfies Record<string, Goal>;

/** One CLI run: wall ms, peak RSS (bytes) and CPU ms (user + system); NaN when it was killed. */
interface CliRun {
  ms: number;
  maxRss: number;
  cpuMs: number;
  exitCode: number | undefined;
  signal?: string;
  stderr: string;
}

/** `node --require max-rss.cjs bin/idem.js ...args` with cwd the repository, timed from spawn to exit. */
async function idemProcess(args: string[], env: Record<string, string>): Promise<CliRun> {
  const rssFile = join(tempDir('rss'), 'max-rss');
  const start = now();
  const r = await child(process.execPath, ['--require', MAX_RSS, BIN, ...args], {
    timeoutMs: LIMIT_MS,
    env: { ...process.env, NO_COLOR: '1', ...env, IDEM_BENCH_MAX_RSS_FILE: rssFile },
  });
  const ms = now() - start;
  let maxRss = Number.NaN;
  let cpuMs = Number.NaN;
  try {
    [maxRss, cpuMs] = readFileSync(rssFile, 'utf8').trim().split(' ').map(Number) as [number, number];
  } catch {
    // killed: no report
  }
  return {
    ms,
    maxRss,
    cpuMs,
    exitCode: r.exitCode,
    ...(r.signal ? { signal: r.signal } : {}),
    stderr: r.stderr,
  };
}

/** The noop task over `input` with its own state dir; `extra` adds flags (`--resume`) and env (`NOOP_KILL_AT`). */
function noopRun(
  input: string,
  state: string,
  extra: { args?: string[]; env?: Record<string, string> } = {},
) {
  return idemProcess(['run', TASK, '-q', '--state-dir', state, ...(extra.args ?? [])], {
    NOOP_INPUT: input,
    NOOP_KILL_AT: '',
    ...extra.env,
  });
}

/** The last run of the noop task in `state`, from `idem runs --json`. */
async function lastRun(
  state: string,
): Promise<{ id: string; status: string; counts: Record<string, number> }> {
  const r = await child(
    process.execPath,
    [BIN, 'runs', TASK, '--state-dir', state, '--json', '--limit', '1'],
    {
      timeoutMs: 60_000,
      env: { ...process.env, NO_COLOR: '1' },
    },
  );
  if (r.exitCode !== 0) throw new Error(`idem runs --json exited ${r.exitCode}: ${tail(r.stderr)}`);
  const run = (
    JSON.parse(r.stdout) as { runs: { id: string; status: string; counts: Record<string, number> }[] }
  ).runs[0];
  if (!run) throw new Error(`idem runs --json lists no run in ${state}`);
  return run;
}

/** Throws unless the run exited 0 and `idem runs` says the last run succeeded with all n records ok. */
async function expectSucceeded(run: CliRun, state: string, n: number, what: string): Promise<void> {
  if (run.exitCode !== 0) {
    throw new Error(`${what} exited ${run.exitCode ?? run.signal}: ${tail(run.stderr)}`);
  }
  const last = await lastRun(state);
  if (last.status !== 'succeeded' || last.counts.ok !== n || last.counts.changed !== 0) {
    throw new Error(
      `${what}: idem runs says ${last.status} with ${JSON.stringify(last.counts)}; expected succeeded, ${n} ok`,
    );
  }
}

const rate = (n: number, ms: number) => (n * 1000) / ms;

/** First run and rerun of one file in a fresh state dir, checked. */
async function firstAndRerun(input: string, n: number) {
  const state = join(tempDir('core-state'), 'state');
  const first = await noopRun(input, state);
  await expectSucceeded(first, state, n, `the first run over ${n} rows`);
  const rerun = await noopRun(input, state);
  await expectSucceeded(rerun, state, n, `the rerun over ${n} rows`);
  return { first, rerun };
}

/** The rates and the peak RSS, 1M and 100k interleaved with their CsvSource baselines. */
async function ratesAndMemory(
  files: { small: string; large: string },
  small: number,
  large: number,
  reruns: number[],
) {
  const s = {
    baseSmall: [] as SourceSample[],
    baseLarge: [] as SourceSample[],
    large: [] as { first: CliRun; rerun: CliRun }[],
    small: [] as { first: CliRun; rerun: CliRun }[],
  };
  for (let rep = 0; rep < settings.runs; rep++) {
    s.baseLarge.push(await sourceChild(files.large, large, LIMIT_MS));
    s.large.push(await firstAndRerun(files.large, large));
    s.baseSmall.push(await sourceChild(files.small, small, LIMIT_MS));
    s.small.push(await firstAndRerun(files.small, small));
  }
  const wallRates = (xs: SourceSample[], n: number) => xs.map((x) => rate(n, x.wallMs));
  const baseLarge = { what: `CsvSource scan+read ${large}`, samples: wallRates(s.baseLarge, large) };
  const baseSmall = { what: `CsvSource scan+read ${small}`, samples: wallRates(s.baseSmall, small) };
  const mb = (xs: { rerun: CliRun }[]) => xs.map((x) => toMb(x.rerun.maxRss));
  const firstMb = (xs: { first: CliRun }[]) => xs.map((x) => toMb(x.first.maxRss).toFixed(1)).join(', ');
  const how =
    'whole process, spawn to exit (start-up included); baseline: the built CsvSource in a plain node child, spawn to exit';
  /** A records/s figure of CLI runs over n rows, with the same runs by CPU time (less disturbed by a loaded machine). */
  const rateFigure = (what: string, runs: CliRun[], n: number, base: typeof baseLarge, goal?: Goal) => {
    const cpu = runs.map((r) => Math.round(rate(n, r.cpuMs)).toLocaleString('en-US')).join(', ');
    return figure(
      PART,
      name(`${what}, ${n} rows`),
      'rec/s',
      runs.map((r) => rate(n, r.ms)),
      {
        baseline: base,
        ...(goal ? { goal } : {}),
        detail: `${how}; by CPU time (user + system): ${cpu} rec/s`,
      },
    );
  };
  reruns.push(...s.large.map((x) => x.rerun.ms / 1000));
  return [
    rateFigure(
      'no-op rerun',
      s.large.map((x) => x.rerun),
      large,
      baseLarge,
      GOALS.rate,
    ),
    rateFigure(
      'first run',
      s.large.map((x) => x.first),
      large,
      baseLarge,
    ),
    rateFigure(
      'no-op rerun',
      s.small.map((x) => x.rerun),
      small,
      baseSmall,
    ),
    figure(PART, name(`peak RSS, no-op rerun ${large} rows`), 'MB', mb(s.large), {
      baseline: { what: `rerun ${small}`, samples: mb(s.small) },
      goal: GOALS.rss,
      detail:
        `max-rss.cjs (getrusage maxRSS); first runs: ${firstMb(s.large)} MB at ${large}, ` +
        `${firstMb(s.small)} MB at ${small}; the CsvSource child alone: ` +
        `${s.baseLarge.map((x) => toMb(x.maxRss).toFixed(1)).join(', ')} MB at ${large}`,
    }),
  ];
}

/**
 * `--resume` after a SIGKILL at record `killAt`, against a full no-op rerun of the
 * same file: the reruns measured by ratesAndMemory when there are some, else one
 * after each resume.
 */
async function resume(input: string, n: number, killAt: number, reruns: number[]): Promise<Figure> {
  const s = { resume: [] as number[], rerun: [...reruns] };
  for (let rep = 0; rep < settings.runs; rep++) {
    const state = join(tempDir('core-resume'), 'state');
    const killed = await noopRun(input, state, { env: { NOOP_KILL_AT: String(killAt) } });
    if (killed.signal !== 'SIGKILL') {
      throw new Error(
        `the run meant to SIGKILL itself at record ${killAt} ended ${killed.exitCode ?? killed.signal}: ${tail(killed.stderr)}`,
      );
    }
    const left = await lastRun(state);
    if (left.status === 'succeeded') throw new Error(`the killed run is recorded succeeded`);
    const resumed = await noopRun(input, state, { args: ['--resume'] });
    await expectSucceeded(resumed, state, n, `--resume after a SIGKILL at record ${killAt}`);
    const after = await lastRun(state);
    if (after.id !== left.id)
      throw new Error(`--resume started run ${after.id} instead of continuing ${left.id}`);
    s.resume.push(resumed.ms / 1000);
    if (reruns.length > 0) continue;
    const rerun = await noopRun(input, state);
    await expectSucceeded(rerun, state, n, `the rerun after --resume`);
    s.rerun.push(rerun.ms / 1000);
  }
  return figure(PART, name(`--resume after SIGKILL at ${killAt} of ${n}`), 's', s.resume, {
    baseline: { what: `no-op rerun ${n}`, samples: s.rerun },
    goal: GOALS.resume,
    detail: `the killed run had committed what its ledger batches held; the resume continues the same run id`,
  });
}

/** The engine in-process over n no-op records: SqliteLedger against MemoryLedger. */
async function ledger(input: string, warmup: string, n: number, warmupN: number): Promise<Figure> {
  const def = () => ({
    name: 'bench-noop',
    source: { kind: 'csv', path: 'unused', open: (p: string) => new CsvSource(p) },
    key: 'id',
    concurrency: 16,
    steps: [{ name: 'noop', check: () => undefined, apply: () => {} }],
  });
  const s = await ledgerVsMemory(def, input, warmup, { n, warmupN, changed: 'none', concurrency: 16 });
  return figure(PART, name(`engine in-process, ${n} no-op records, SqliteLedger`), 'ms', s.sqlite, {
    baseline: { what: 'MemoryLedger', samples: s.memory },
    goal: GOALS.ledger,
    detail:
      'runTask with createSetupContext, CsvSource, concurrency 16, a fresh ledger each run (a first run ' +
      'of a no-op task: every record checked, nothing applied); ratio = sqlite/memory time',
  });
}

/** A 1-record run (fresh state each time) against `idem --help`, interleaved. */
async function startup(one: string): Promise<Figure> {
  const reps = settings.smoke ? 1 : Math.max(5, settings.runs);
  const s = { run: [] as number[], help: [] as number[] };
  for (let rep = 0; rep < reps; rep++) {
    const help = await idemProcess(['--help'], {});
    if (help.exitCode !== 0) throw new Error(`idem --help exited ${help.exitCode}: ${tail(help.stderr)}`);
    s.help.push(help.ms);
    const state = join(tempDir('core-one'), 'state');
    const run = await noopRun(one, state);
    await expectSucceeded(run, state, 1, 'the 1-record run');
    s.run.push(run.ms);
  }
  return figure(PART, name('start-up: a 1-record run'), 'ms', s.run, {
    baseline: { what: 'idem --help', samples: s.help },
    goal: GOALS.startup,
    detail:
      'wall, spawn to exit, both through the max-rss.cjs preload; the run loads the .ts task and opens a fresh ledger',
  });
}

export async function benchCore(): Promise<Figure[]> {
  const large = scaled(1_000_000, 50_000);
  const small = scaled(100_000, 5_000);
  const inProcessN = scaled(100_000, 5_000);
  const dir = tempDir('core-input');
  const files = {
    large: await generateCsv(join(dir, 'large.csv'), large),
    small: await generateCsv(join(dir, 'small.csv'), small),
    one: await generateCsv(join(dir, 'one.csv'), 1),
    warmup: await generateCsv(join(dir, 'warmup.csv'), 1000),
  };
  const killAt = Math.floor(large * 0.9) + 1;
  /** The wall seconds of the large no-op reruns, the baseline of the resume figure. */
  const reruns: number[] = [];
  const inProcessFile =
    inProcessN === small ? files.small : await generateCsv(join(dir, 'engine.csv'), inProcessN);
  return [
    ...(await measuring(
      PART,
      [
        { name: name(`no-op rerun, ${large} rows`), goal: GOALS.rate },
        { name: name(`first run, ${large} rows`) },
        { name: name(`no-op rerun, ${small} rows`) },
        { name: name(`peak RSS, no-op rerun ${large} rows`), goal: GOALS.rss },
      ],
      () => ratesAndMemory(files, small, large, reruns),
    )),
    ...(await measuring(
      PART,
      [{ name: name(`--resume after SIGKILL at ${killAt} of ${large}`), goal: GOALS.resume }],
      () => resume(files.large, large, killAt, reruns),
    )),
    ...(await measuring(
      PART,
      [{ name: name(`engine in-process, ${inProcessN} no-op records, SqliteLedger`), goal: GOALS.ledger }],
      () => ledger(inProcessFile, files.warmup, inProcessN, 1000),
    )),
    ...(await measuring(PART, [{ name: name('start-up: a 1-record run'), goal: GOALS.startup }], () =>
      startup(files.one),
    )),
  ];
}
