import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OUTCOMES, type Outcome, type RecordResult } from '../core/outcome.ts';
import type { Reporter, RetryNotice, RunStart, RunSummary } from '../core/reporter.ts';
import { processAlive } from '../lock/lock.ts';

/**
 * The Prometheus text format (0.0.4) file of `idem run --metrics-file`, for
 * node_exporter's textfile collector. Every series carries the `task` label, so
 * the files of several tasks can sit in one collector folder.
 *
 * Counters (`_total`) count across runs: each run adds what it did to the
 * values it reads back from the file it replaces; a lost file starts them at 0
 * again, which Prometheus reads as a counter reset.
 */

/** How an invocation of `idem run` ended, as the `status` label says it. */
export type MetricsStatus = RunSummary['status'] | 'locked' | 'error';

/** What one invocation of `idem run` tells the metrics file. */
export interface RunMetrics {
  task: string;
  status: MetricsStatus;
  /** When it ended (epoch ms). */
  endedAt: number;
  /** From start to end of this invocation, lock wait included. */
  durationMs: number;
  /** Records this invocation finished, by outcome. */
  records: Record<Outcome, number>;
  retries: number;
  /** In-doubt `once` effects of the task now, when the ledger could be read. */
  inDoubt?: number | undefined;
  lockWaitMs: number;
  /** The end of the task's last succeeded run (epoch ms), from the ledger. */
  lastSuccessAt?: number | undefined;
}

/** The counters and the last success read back from the file being replaced. */
export interface PreviousMetrics {
  records: Partial<Record<Outcome, number>>;
  retries: number;
  lastSuccessAt?: number;
  inDoubt?: number;
}

/** Counts the records and retries a run reports, for the counters. */
export class MetricsTally implements Reporter {
  readonly records = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  retries = 0;
  runStarted(_info: RunStart): void {}
  recordFinished(r: RecordResult): void {
    this.records[r.outcome]++;
  }
  retrying(_info: RetryNotice): void {
    this.retries++;
  }
  warn(_message: string): void {}
  runFinished(_summary: RunSummary): void {}
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const unescapeLabel = (v: string) => v.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));
const seconds = (ms: number) => String(Math.round(ms) / 1000);

function labels(l: Record<string, string>): string {
  return `{${Object.entries(l)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',')}}`;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * The counters and last success of `task` in a metrics file written before,
 * if there is one. Lenient: a line it cannot read is ignored (the values then
 * start again, as after a reset).
 */
export function readPreviousMetrics(path: string, task: string): PreviousMetrics {
  const previous: PreviousMetrics = { records: {}, retries: 0 };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return previous;
  }
  for (const line of text.split('\n')) {
    const m = SAMPLE.exec(line.trim());
    if (!m || line.startsWith('#')) continue;
    const l = Object.fromEntries([...(m[3] ?? '').matchAll(LABEL)].map((x) => [x[1], unescapeLabel(x[2]!)]));
    const value = Number(m[4]);
    if (l.task !== task || !Number.isFinite(value) || value < 0) continue;
    if (m[1] === 'idem_records_total' && OUTCOMES.includes(l.outcome as Outcome))
      previous.records[l.outcome as Outcome] = value;
    else if (m[1] === 'idem_retries_total') previous.retries = value;
    else if (m[1] === 'idem_last_success_timestamp_seconds' && value > 0)
      previous.lastSuccessAt = value * 1000;
    else if (m[1] === 'idem_in_doubt') previous.inDoubt = value;
  }
  return previous;
}

/** The file's text: this invocation added to the previous counters. */
export function renderMetrics(now: RunMetrics, previous: PreviousMetrics): string {
  const task = { task: now.task };
  const lastSuccess = Math.max(now.lastSuccessAt ?? 0, previous.lastSuccessAt ?? 0);
  const inDoubt = now.inDoubt ?? previous.inDoubt;
  const family = (name: string, type: 'counter' | 'gauge', help: string, samples: string[]) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    ...samples,
  ];
  const lines = [
    ...family(
      'idem_records_total',
      'counter',
      'Records idem runs of the task finished, by outcome, counted across runs.',
      OUTCOMES.map(
        (o) =>
          `idem_records_total${labels({ ...task, outcome: o })} ${(previous.records[o] ?? 0) + now.records[o]}`,
      ),
    ),
    ...family('idem_run_duration_seconds', 'gauge', 'How long the last idem run took, lock wait included.', [
      `idem_run_duration_seconds${labels(task)} ${seconds(now.durationMs)}`,
    ]),
    ...family(
      'idem_last_run_timestamp_seconds',
      'gauge',
      'When the last idem run ended (Unix time); status is how it ended, or locked, or error.',
      [`idem_last_run_timestamp_seconds${labels({ ...task, status: now.status })} ${seconds(now.endedAt)}`],
    ),
    ...family(
      'idem_last_success_timestamp_seconds',
      'gauge',
      'When the last succeeded idem run of the task ended (Unix time); 0 if none did.',
      [`idem_last_success_timestamp_seconds${labels(task)} ${seconds(lastSuccess)}`],
    ),
    ...family(
      'idem_retries_total',
      'counter',
      'Step retries of idem runs of the task, counted across runs.',
      [`idem_retries_total${labels(task)} ${previous.retries + now.retries}`],
    ),
    ...(inDoubt === undefined
      ? []
      : family('idem_in_doubt', 'gauge', 'Once effects of the task in doubt now (see idem doubts).', [
          `idem_in_doubt${labels(task)} ${inDoubt}`,
        ])),
    ...family('idem_lock_wait_seconds', 'gauge', "How long the last idem run waited for the task's lock.", [
      `idem_lock_wait_seconds${labels(task)} ${seconds(now.lockWaitMs)}`,
    ]),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Replaces the file atomically: a temp file in the same folder (so the rename
 * stays on one filesystem), fsync, rename. A collector reading at any moment
 * sees the old file or the new one, never half of one. The temp name does not
 * end in `.prom`, so the textfile collector never reads it.
 */
export function writeFileAtomic(path: string, text: string): void {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  removeDeadTemporaries(dir, prefix);
  const tmp = join(dir, `${prefix}${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  // A new file, never through a symlink planted under the temporary's name.
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0),
    0o644,
  );
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Removes `<prefix><pid>.<hex>.tmp` files left by writers that died mid-write (killed between open and rename). */
function removeDeadTemporaries(dir: string, prefix: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processAlive(pid))
      rmSync(join(dir, name), { force: true });
  }
}
