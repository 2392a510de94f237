import { Effects } from './effects.ts';
import { UsageError } from './errors.ts';
import { Journal } from './journal.ts';
import type { RunInfo } from './ledger.ts';
import type { RunPolicy } from './policy.ts';
import type { EngineDeps, EngineOptions } from './run-options.ts';
import { findUnfinishedRun, newRunId, reopenRun, supersedeRun } from './runs.ts';
import type { SourceScan } from './source.ts';

/** A run in progress: what every phase after `openRun` shares. */
export interface ActiveRun<C> {
  run: RunInfo;
  resumed: boolean;
  /** The unfinished run this one replaced (`--resume` with a changed input or task). */
  supersedes?: string;
  policy: RunPolicy<C>;
  journal: Journal;
  effects: Effects;
  startedAt: number;
}

/**
 * Reads the input once: its digest and record count. Refused before any record: an
 * input whose header lacks the key column, and an empty one unless the task allows it.
 */
export async function scanInput<R, C>(deps: EngineDeps<R, C>): Promise<SourceScan> {
  const { task, source } = deps;
  const scan = await source.scan(typeof task.key === 'string' ? { columns: [task.key] } : {});
  if (typeof task.key === 'string' && scan.columns && !scan.columns.includes(task.key)) {
    throw new UsageError(
      `input ${source.description} has no column "${task.key}", the key of task ${task.name}; ` +
        `its header has ${scan.columns.map((c) => `"${c}"`).join(', ')}` +
        (scan.columns.length === 1 ? ' (one column: is the delimiter wrong?)' : ''),
    );
  }
  if (scan.count === 0 && !task.allowEmpty) {
    throw new UsageError(
      `input ${source.description} has no records; refusing to run task ${task.name} (a truncated export?). ` +
        'If an empty input is expected, set allowEmpty: true in the task.',
    );
  }
  return scan;
}

/** What differs between an unfinished run and this one: its input, its task file, idem itself. */
function changesSince(previous: RunInfo, digest: string, opts: EngineOptions, input: string): string[] {
  const short = (h: string | undefined) => (h ? `${h.slice(0, 12)}…` : 'unknown');
  const changes: string[] = [];
  if (previous.inputDigest !== digest) {
    changes.push(
      `the input ${input} changed (sha256 ${short(previous.inputDigest)} then, ${short(digest)} now)`,
    );
  }
  if (opts.taskDigest && previous.taskDigest && previous.taskDigest !== opts.taskDigest) {
    changes.push(
      `the task file changed (sha256 ${short(previous.taskDigest)} then, ${short(opts.taskDigest)} now)`,
    );
  }
  if (opts.idemVersion && previous.idemVersion && previous.idemVersion !== opts.idemVersion) {
    changes.push(`idem changed (${previous.idemVersion} then, ${opts.idemVersion} now)`);
  }
  return changes;
}

/**
 * The unfinished run `--resume` continues. Resuming is an optimisation, never a
 * correctness need: when its input, its task file or idem changed since that
 * run started, the run is superseded by a new one that re-checks (and re-plans)
 * every record; strict resume refuses instead.
 */
export async function resumable<R, C>(
  deps: EngineDeps<R, C>,
  policy: RunPolicy<C>,
  opts: EngineOptions,
  digest: string,
): Promise<RunInfo | { supersedes: RunInfo } | undefined> {
  const { task, source, reporter } = deps;
  const previous = await findUnfinishedRun(deps.ledger, task.name);
  // No unfinished run is the usual night with --resume: the start line says so (not a warning).
  if (!previous) return undefined;
  const changes = changesSince(previous, digest, opts, source.description);
  if (changes.length === 0) return previous;
  const change = `${changes.join('; ')} since run ${previous.id} started`;
  if (policy.strictResume) {
    throw new UsageError(
      `cannot resume run ${previous.id} of task ${task.name}: ${change}. ` +
        'Run without --strict-resume (or without --resume) to start a new run; it re-checks every record, which is always safe.',
    );
  }
  reporter.warn(
    `run ${previous.id} of task ${task.name} did not finish and ${change}: it is superseded by a new run that re-checks every record`,
  );
  return { supersedes: previous };
}

/** Starts a new run in the ledger, or reopens the one being resumed. */
export async function openRun<R, C>(
  deps: EngineDeps<R, C>,
  opts: EngineOptions,
  policy: RunPolicy<C>,
  scan: SourceScan,
  previous: RunInfo | { supersedes: RunInfo } | undefined,
  startedAt: number,
): Promise<ActiveRun<C>> {
  const { ledger, clock, task } = deps;
  const journal = new Journal(ledger, clock, ledger.location, opts.journal);
  const effects = new Effects(ledger, journal, clock, task.name);
  const common = { policy, journal, effects, startedAt };
  if (previous && !('supersedes' in previous)) {
    await reopenRun(ledger, journal, clock, { id: previous.id, pid: opts.pid, host: opts.host });
    return { run: previous, resumed: true, ...common };
  }
  const run: RunInfo = {
    id: opts.runId ?? newRunId(startedAt),
    task: task.name,
    startedAt,
    status: 'running',
    dryRun: policy.dryRun || policy.planOnly,
    inputDigest: scan.digest,
    inputPath: deps.source.description,
    host: opts.host,
    pid: opts.pid,
    options: opts.options ?? {},
    records: scan.count,
    ...(opts.taskDigest ? { taskDigest: opts.taskDigest } : {}),
    ...(opts.idemVersion ? { idemVersion: opts.idemVersion } : {}),
    ...(policy.planFirst ? { phase: 'plan' as const } : {}),
  };
  await ledger.insertRun(run);
  if (!previous) return { run, resumed: false, ...common };
  await supersedeRun(ledger, journal, clock, previous.supersedes, run.id);
  return { run, resumed: false, supersedes: previous.supersedes.id, ...common };
}
