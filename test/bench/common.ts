/**
 * Shared pieces of the benchmark: settings, timing, medians, formatting, temp dirs,
 * child processes, and the figures every part returns for run.ts's one table.
 */
import { once } from 'node:events';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const BIN = join(ROOT, 'bin', 'idem.js');

/** A number from the environment, or the default; refuses junk. */
function envNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min}, not "${raw}"`);
  return n;
}

/** IDEM_BENCH_SMOKE=1: scale 0.001, one run, goals not judged, a 5-minute limit (proves the bench works). */
const smoke = !['', '0', 'false', 'no'].includes((process.env.IDEM_BENCH_SMOKE ?? '').trim().toLowerCase());

/**
 * The bench settings: IDEM_BENCH_SCALE (record counts), IDEM_BENCH_RUNS, IDEM_BENCH_ONLY,
 * IDEM_BENCH_SMOKE (which overrides the scale and the runs).
 */
export const settings = {
  smoke,
  scale: smoke ? 0.001 : envNumber('IDEM_BENCH_SCALE', 1, 0.001),
  runs: smoke ? 1 : Math.round(envNumber('IDEM_BENCH_RUNS', 3, 1)),
  only: (process.env.IDEM_BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
};

/** A record count scaled by IDEM_BENCH_SCALE (at least `min`). */
export function scaled(n: number, min = 10): number {
  return Math.max(min, Math.round(n * settings.scale));
}

/** Whether a part is selected (IDEM_BENCH_ONLY=ledger,kv,ldap,csv; all by default). */
export function selected(part: string): boolean {
  return settings.only.length === 0 || settings.only.includes(part);
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Milliseconds since an arbitrary origin, high resolution. */
export function now(): number {
  return performance.now();
}

/** Runs fn, returns its result and how long it took in ms. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = now();
  const value = await fn();
  return { ms: now() - start, value };
}

/** `3.12 s` or `412 ms`. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

/** The median with its spread: `3.12 s [3.01-3.40]` (just the value when there is one sample). */
export function fmtSamples(samples: readonly number[]): string {
  const m = fmtMs(median(samples));
  if (samples.length < 2) return m;
  const lo = Math.min(...samples);
  const hi = Math.max(...samples);
  const unit = (x: number) => (hi >= 1000 ? (x / 1000).toFixed(2) : String(Math.round(x)));
  return `${m} [${unit(lo)}-${unit(hi)}]`;
}

export function fmtRate(count: number, ms: number): string {
  return `${Math.round((count * 1000) / ms)}/s`;
}

export function fmtRatio(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : '-';
}

export function fmtMb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** Where the bench's temp dirs live: the repository's `.test-tmp/` (git ignores it), never the system temp dir. */
export const TEMP_ROOT = join(ROOT, '.test-tmp');

/** A temp dir under `.test-tmp/`, removed by {@link cleanupTempDirs} (at the end of a part, also on failure). */
const temps: string[] = [];
export function tempDir(prefix: string): string {
  mkdirSync(TEMP_ROOT, { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(join(TEMP_ROOT, `bench-${prefix}-`));
  temps.push(dir);
  return dir;
}
export function cleanupTempDirs(): void {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** What a finished child process left: exit code (undefined when killed), its output. */
export interface ChildResult {
  exitCode: number | undefined;
  /** The signal that ended it, when one did (`SIGKILL`). */
  signal?: string;
  stdout: string;
  stderr: string;
  /** Its CPU seconds (user + system), last read from /proc before it exited, when asked for (`cpu`); NaN where /proc is missing. */
  cpuSeconds?: number;
}

/** CPU seconds (user + system) of a running process, from /proc (Linux); undefined elsewhere or once it exited. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ: 100 on Linux
  } catch {
    return undefined;
  }
}

/**
 * A child process with a hard time limit: never throws for a non-zero exit, is killed
 * (SIGKILL) at the limit, and is reported with exit code undefined and why. With
 * `cpu`, its CPU time is read from /proc every 20 ms while it runs.
 */
export async function child(
  file: string,
  args: string[],
  opts: { timeoutMs: number; env?: Record<string, string>; cpu?: boolean },
): Promise<ChildResult> {
  const run = execa(file, args, {
    reject: false,
    timeout: opts.timeoutMs,
    killSignal: 'SIGKILL',
    cwd: ROOT,
    stdin: 'ignore',
    ...(opts.env ? { env: opts.env } : {}),
  });
  let cpu = Number.NaN;
  const poll = opts.cpu
    ? setInterval(() => {
        cpu = cpuSeconds(run.pid) ?? cpu;
      }, 20)
    : undefined;
  const r = await run.finally(() => clearInterval(poll));
  let stderr = String(r.stderr);
  if (r.timedOut) stderr += `\n(killed after the ${fmtMs(opts.timeoutMs)} limit)`;
  else if (r.signal) stderr += `\n(killed by ${r.signal})`;
  return {
    exitCode: r.exitCode,
    stdout: String(r.stdout),
    stderr,
    ...(r.signal ? { signal: r.signal } : {}),
    ...(opts.cpu ? { cpuSeconds: cpu } : {}),
  };
}

/** Runs the built CLI as cron would (no TTY, no colour); `env` adds to the inherited environment. */
export function idemCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<ChildResult> {
  return child(process.execPath, [BIN, ...args], {
    timeoutMs,
    env: { NO_COLOR: '1', ...env },
  });
}

/** The NDJSON summary event of a `--json` run. */
export function summaryOf(stdout: unknown): { status: string; counts: Record<string, number> } {
  for (const line of String(stdout).split('\n').reverse()) {
    if (!line.trim().startsWith('{')) continue;
    try {
      const event = JSON.parse(line);
      if (event.type === 'summary') return event;
    } catch {
      // not an event line
    }
  }
  throw new Error(`no summary event in the output (${String(stdout).slice(-300)})`);
}

/** The tail of a failed child's output, for an error message. */
export function tail(text: unknown, chars = 600): string {
  const s = String(text ?? '').trim();
  return s.length > chars ? `...${s.slice(-chars)}` : s;
}

/** Rejects after ms (a bound for in-process work); the timer does not keep the process alive. */
export function deadline<T>(work: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`${what} did not finish within ${fmtMs(ms)}`));
    }, ms);
    timer.unref();
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/** One line of the result table. */
export interface BenchLine {
  name: string;
  /** What the measurement is over: `5000 records`. */
  size: string;
  /** The measurements and ratios, already formatted. */
  cells: string[];
  /** Extra lines under it (what is included, checks). */
  notes?: string[];
}

/** A part that did not run, and why. */
export class Skip extends Error {
  override name = 'Skip';
}

/** The unit of a figure's value (and of its baseline). */
export type Unit = 'rec/s' | 'rows/s' | 'ms' | 's' | 'MB' | 'ms/rec' | 'x';

/** One condition of a goal: a bound on the value or on the ratio, or a check already decided (`0 writes`). */
export type Condition =
  | { on: 'value' | 'ratio'; op: '>=' | '<=' | '<' | '>'; bound: number }
  | { what: string; ok: boolean };

/** A goal of issue 8: its words for the table and the conditions that must all hold. */
export interface Goal {
  text: string;
  all: Condition[];
}

/** The same-run measurement a figure is compared with. */
export interface Baseline {
  what: string;
  unit: Unit;
  value: number;
  samples: number[];
}

/** One row of the table (and of results.json). */
export interface Figure {
  /** The part it belongs to (core, ledger, kv, csv, ldap). */
  part: string;
  name: string;
  unit: Unit;
  /** Every sample, in the order measured; `value` is their median. */
  samples: number[];
  value: number;
  baseline?: Baseline;
  /** value / baseline value (either way round the goal says which direction is good). */
  ratio?: number;
  goal?: Goal;
  /** Whether the goal was met; undefined when there is no goal or goals are not judged (smoke). */
  met?: boolean;
  /** Why the figure could not be measured (a run failed, a check of its result failed). */
  failed?: string;
  /** Why it was not measured at all (slapd missing). */
  skipped?: string;
  /** Samples, checks, what is included: results.json and the notes under the table. */
  detail?: string;
}

/** value / baseline; NaN when either is missing or the baseline is 0. */
export function ratioOf(value: number, baseline: number | undefined): number {
  if (baseline === undefined || !Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0) {
    return Number.NaN;
  }
  return value / baseline;
}

function holds(c: Condition, value: number, ratio: number | undefined): boolean {
  if ('what' in c) return c.ok;
  const x = c.on === 'value' ? value : (ratio ?? Number.NaN);
  if (!Number.isFinite(x)) return false;
  switch (c.op) {
    case '>=':
      return x >= c.bound;
    case '<=':
      return x <= c.bound;
    case '<':
      return x < c.bound;
    case '>':
      return x > c.bound;
  }
}

/** Whether a figure meets its goal: undefined without a goal, and in smoke mode (goals not judged there). */
export function metOf(
  f: { value: number; ratio?: number; goal?: Goal },
  judge = !settings.smoke,
): boolean | undefined {
  if (!f.goal || !judge) return undefined;
  return f.goal.all.every((c) => holds(c, f.value, f.ratio));
}

/**
 * A figure from its samples: the median, the baseline's median, the ratio
 * (value / baseline) and whether the goal is met.
 */
export function figure(
  part: string,
  name: string,
  unit: Unit,
  samples: number[],
  opts: {
    baseline?: { what: string; samples: number[]; unit?: Unit };
    goal?: Goal;
    detail?: string;
  } = {},
): Figure {
  const value = median(samples);
  const f: Figure = { part, name, unit, samples: [...samples], value };
  if (opts.baseline) {
    const b = opts.baseline;
    f.baseline = { what: b.what, unit: b.unit ?? unit, value: median(b.samples), samples: [...b.samples] };
    f.ratio = ratioOf(value, f.baseline.value);
  }
  if (opts.goal) f.goal = opts.goal;
  const met = metOf(f);
  if (met !== undefined) f.met = met;
  if (opts.detail) f.detail = opts.detail;
  return f;
}

/** A figure that could not be measured, with the reason (shown once under the table). */
export function failedFigure(part: string, name: string, reason: string, goal?: Goal): Figure {
  return { part, name, unit: 'x', samples: [], value: Number.NaN, failed: reason, ...(goal ? { goal } : {}) };
}

/**
 * Runs the measurement of one or more figures; when it throws, the figure is
 * reported FAILED with the reason instead, and the other figures of the part go on.
 * A Skip becomes a skipped figure.
 */
export async function measuring(
  part: string,
  names: string | { name: string; goal?: Goal }[],
  fn: () => Promise<Figure | Figure[]>,
): Promise<Figure[]> {
  const rows = typeof names === 'string' ? [{ name: names }] : names;
  try {
    const got = await fn();
    return Array.isArray(got) ? got : [got];
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' | ');
    if (err instanceof Skip) {
      return rows.map((r) => {
        const { failed: _, ...f } = failedFigure(part, r.name, reason, r.goal);
        return { ...f, skipped: reason };
      });
    }
    if (err instanceof Error && err.stack)
      process.stderr.write(`bench: ${part}: ${rows[0]?.name}: ${err.stack}\n`);
    return rows.map((r) => failedFigure(part, r.name, reason, r.goal));
  }
}

/** `12,345` */
function grouped(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A number in a unit, without the unit: `104,233`, `3.12`, `181.4`. */
export function fmtNumber(x: number, unit: Unit): string {
  if (!Number.isFinite(x)) return '-';
  switch (unit) {
    case 'rec/s':
    case 'rows/s':
      return grouped(x);
    case 'ms':
      return x >= 100 ? grouped(x) : x.toFixed(1);
    case 's':
      return x.toFixed(2);
    case 'MB':
      return x.toFixed(1);
    case 'ms/rec':
      return x.toFixed(3);
    case 'x':
      return x.toFixed(2);
  }
}

/** `104,233 rec/s`, `3.12 s`, `0.92x`. */
export function fmtValue(x: number, unit: Unit): string {
  if (!Number.isFinite(x)) return '-';
  return unit === 'x' ? `${fmtNumber(x, unit)}x` : `${fmtNumber(x, unit)} ${unit}`;
}

/** The median with its spread: `104,233 rec/s [98,100-110,002]` (the value alone for one sample). */
export function fmtFigureValue(value: number, samples: readonly number[], unit: Unit): string {
  const v = fmtValue(value, unit);
  if (samples.length < 2) return v;
  return `${v} [${fmtNumber(Math.min(...samples), unit)}-${fmtNumber(Math.max(...samples), unit)}]`;
}

/** Bytes to the MB unit. */
export const toMb = (bytes: number): number => bytes / (1024 * 1024);

/** A CSV of `n` rows of three short columns (`id,name,team`: `k17,name17,t17`), written in chunks. */
export async function generateCsv(path: string, n: number): Promise<string> {
  const out = createWriteStream(path);
  out.write('id,name,team\n');
  const CHUNK = 10_000;
  for (let from = 0; from < n; from += CHUNK) {
    let s = '';
    for (let i = from; i < Math.min(n, from + CHUNK); i++) s += `k${i},name${i},t${i % 97}\n`;
    if (!out.write(s)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
  return path;
}

/** One run of the built CsvSource (scan, then records) in a plain `node` child: see csv-source-child.mjs. */
export interface SourceSample {
  rows: number;
  /** The whole child process, spawn to exit. */
  wallMs: number;
  scanMs: number;
  recordsMs: number;
  baseRss: number;
  maxRss: number;
}

export async function sourceChild(path: string, n: number, timeoutMs = 300_000): Promise<SourceSample> {
  const start = now();
  const r = await child(
    process.execPath,
    [join(ROOT, 'test', 'bench', 'csv-source-child.mjs'), path, String(n)],
    {
      timeoutMs,
    },
  );
  const wallMs = now() - start;
  if (r.exitCode !== 0)
    throw new Error(`the csv source child (${n} rows) exited ${r.exitCode}: ${tail(r.stderr)}`);
  return { ...(JSON.parse(String(r.stdout).trim().split('\n').pop() as string) as SourceSample), wallMs };
}
