/** Shared pieces of the benchmark: settings, timing, medians, formatting, temp dirs, child processes. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/** The bench settings: IDEM_BENCH_SCALE (record counts), IDEM_BENCH_RUNS, IDEM_BENCH_ONLY. */
export const settings = {
  scale: envNumber('IDEM_BENCH_SCALE', 1, 0.001),
  runs: Math.round(envNumber('IDEM_BENCH_RUNS', 3, 1)),
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

/** A temp dir removed by {@link cleanupTempDirs} (at the end of the run, also on failure). */
const temps: string[] = [];
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `idem-bench-${prefix}-`));
  temps.push(dir);
  return dir;
}
export function cleanupTempDirs(): void {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** What a finished child process left: exit code (undefined when killed), its output. */
export interface ChildResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/**
 * A child process with a hard time limit: never throws for a non-zero exit, is killed
 * (SIGKILL) at the limit, and is reported with exit code undefined and why.
 */
export async function child(
  file: string,
  args: string[],
  opts: { timeoutMs: number; env?: Record<string, string> },
): Promise<ChildResult> {
  const r = await execa(file, args, {
    reject: false,
    timeout: opts.timeoutMs,
    killSignal: 'SIGKILL',
    cwd: ROOT,
    stdin: 'ignore',
    ...(opts.env ? { env: opts.env } : {}),
  });
  const stderr = r.timedOut ? `${r.stderr}\n(killed after the ${fmtMs(opts.timeoutMs)} limit)` : r.stderr;
  return { exitCode: r.exitCode, stdout: r.stdout, stderr };
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
