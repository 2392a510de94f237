import { connectTask } from './connect.ts';
import { Effects } from './effects.ts';
import { classifyWith, errorMessage, kindOf, UsageError } from './errors.ts';
import { allowedDeletes, DeletionBudget, deletionsOf, describeLimit } from './guard.ts';
import { Journal } from './journal.ts';
import type { RunInfo } from './ledger.ts';
import { type Counts, emptyCounts } from './outcome.ts';
import { pruneOf, type RunPolicy, resolvePolicy } from './policy.ts';
import { type PrunePlan, planPrune } from './prune-plan.ts';
import { Reconciler } from './reconciler.ts';
import { RecordProcessor } from './record-processor.ts';
import type { RunSummary } from './reporter.ts';
import type { EngineDeps, EngineOptions } from './run-options.ts';
import { finalStatus, type RunProgress, type Stop, summarize } from './run-status.ts';
import {
  findUnfinishedRun,
  finishRun,
  newRunId,
  reopenRun,
  settleCrashedRuns,
  supersedeRun,
} from './runs.ts';
import type { SourceScan } from './source.ts';
import type { StepRunContext } from './step-runner.ts';

/** A run in progress: what every phase after `openRun` shares. */
interface ActiveRun<C> {
  run: RunInfo;
  resumed: boolean;
  /** The unfinished run this one replaced (`--resume` with a changed input). */
  supersedes?: string;
  policy: RunPolicy<C>;
  journal: Journal;
  effects: Effects;
  startedAt: number;
}

/**
 * Runs a task over its records, in order: resolve the policy → scan the input →
 * find the run to resume → connect → open the run → plan deletions → reconcile
 * the records → reconcile the keys to prune → close the run. Record failures are
 * outcomes, not exceptions; it throws only for problems found before any
 * record ran (a `UsageError`, an `UnavailableError`, a `LedgerError`).
 */
export async function runTask<R, C>(deps: EngineDeps<R, C>, opts: EngineOptions): Promise<RunSummary> {
  const startedAt = deps.clock.now();
  const policy = resolvePolicy(deps.task, opts, pruneOf(deps.task, deps.setup));
  const scan = await scanInput(deps);
  // Whoever holds the lock may say so: a run still `running` now was left by a process that died.
  await settleCrashedRuns(deps.ledger, deps.clock, deps.task.name);
  const previous = policy.resume ? await resumable(deps, policy, scan.digest) : undefined;
  const ctx = await connectTask(deps);
  const active = await openRun(deps, opts, policy, scan.digest, previous, startedAt);
  let prune: PrunePlan | undefined;
  if (policy.prune) {
    const planned = await planDeletions(deps, ctx, active);
    if ('stop' in planned) return closeRun(deps, active, { stopped: () => planned.stop });
    prune = planned;
  }
  const total = scan.count + (prune?.keys.length ?? 0);
  deps.reporter.runStarted({
    runId: active.run.id,
    task: deps.task.name,
    total,
    dryRun: policy.dryRun,
    resumed: active.resumed,
  });
  const reconciler = new Reconciler({
    task: deps.task,
    runId: active.run.id,
    resumed: active.resumed,
    processor: new RecordProcessor({
      task: deps.task,
      ctx,
      steps: stepContext(deps, active, opts, prune?.population ?? scan.count),
      journal: active.journal,
      effects: active.effects,
      clock: deps.clock,
      redactor: deps.redactor,
    }),
    journal: active.journal,
    results: deps.ledger,
    reporter: deps.reporter,
    concurrency: policy.concurrency,
    breaker: policy.breaker,
    stopSignal: opts.stopSignal ?? new AbortController().signal,
  });
  active.journal.onFailure = (err) => reconciler.ledgerFailed(err);
  await reconciler.records(deps.source);
  if (prune && policy.prune) await reconciler.prune(prune.keys, policy.prune);
  return closeRun(deps, active, {
    stopped: () => reconciler.stopped(),
    progress: reconciler.progress(total),
    counts: reconciler.counts,
  });
}

/**
 * Reads the input once: its digest and record count. Refused before any record: an
 * input whose header lacks the key column, and an empty one unless the task allows it.
 */
async function scanInput<R, C>(deps: EngineDeps<R, C>): Promise<SourceScan> {
  const { task, source } = deps;
  const scan = await source.scan(typeof task.key === 'string' ? { columns: [task.key] } : {});
  if (typeof task.key === 'string' && scan.columns && !scan.columns.includes(task.key)) {
    throw new UsageError(
      `input ${source.description} has no column "${task.key}", the key of task ${task.name}; ` +
        `its header has ${scan.columns.map((c) => `"${c}"`).join(', ')}` +
        (scan.columns.length === 1 ? ' (one column: is the delimiter wrong?)' : ''),
    );
  }
  if (scan.count === 0 && !deps.task.allowEmpty) {
    throw new UsageError(
      `input ${deps.source.description} has no records; refusing to run task ${deps.task.name} (a truncated export?). ` +
        'If an empty input is expected, set allowEmpty: true in the task.',
    );
  }
  return scan;
}

/**
 * The unfinished run `--resume` continues. Resuming is an optimisation, never a
 * correctness need: when the input changed since that run started, the run is
 * superseded by a new one that re-checks every record (strict resume refuses instead).
 */
async function resumable<R, C>(
  deps: EngineDeps<R, C>,
  policy: RunPolicy<C>,
  digest: string,
): Promise<RunInfo | { supersedes: RunInfo } | undefined> {
  const { task, source, reporter } = deps;
  const previous = await findUnfinishedRun(deps.ledger, task.name);
  if (!previous) {
    reporter.warn(`no unfinished run of task ${task.name} to resume; starting a new run`);
    return undefined;
  }
  if (previous.inputDigest === digest) return previous;
  const change =
    `the input ${source.description} changed since run ${previous.id} started ` +
    `(sha256 ${previous.inputDigest.slice(0, 12)}… then, ${digest.slice(0, 12)}… now)`;
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
async function openRun<R, C>(
  deps: EngineDeps<R, C>,
  opts: EngineOptions,
  policy: RunPolicy<C>,
  digest: string,
  previous: RunInfo | { supersedes: RunInfo } | undefined,
  startedAt: number,
): Promise<ActiveRun<C>> {
  const { ledger, clock, task } = deps;
  const journal = new Journal(ledger, clock, ledger.location, opts.journal);
  const effects = new Effects(ledger, journal, clock, task.name);
  if (previous && !('supersedes' in previous)) {
    await reopenRun(ledger, journal, clock, { id: previous.id, pid: opts.pid, host: opts.host });
    return { run: previous, resumed: true, policy, journal, effects, startedAt };
  }
  const run: RunInfo = {
    id: opts.runId ?? newRunId(startedAt),
    task: task.name,
    startedAt,
    status: 'running',
    dryRun: policy.dryRun,
    inputDigest: digest,
    inputPath: deps.source.description,
    host: opts.host,
    pid: opts.pid,
    options: opts.options ?? {},
  };
  await ledger.insertRun(run);
  if (previous) {
    await supersedeRun(ledger, journal, clock, previous.supersedes, run.id);
    return { run, resumed: false, supersedes: previous.supersedes.id, policy, journal, effects, startedAt };
  }
  return { run, resumed: false, policy, journal, effects, startedAt };
}

/** The prune plan, or why the run stops before anything changes: the guard refused, or no plan could be made. */
async function planDeletions<R, C>(
  deps: EngineDeps<R, C>,
  ctx: C,
  active: ActiveRun<C>,
): Promise<PrunePlan | { stop: Stop }> {
  const { policy, run } = active;
  try {
    const plan = await planPrune(deps, ctx, policy.prune!, run.id, policy.deleteLimit!);
    return plan.refusal ? { stop: { status: 'refused', message: plan.refusal } } : plan;
  } catch (err) {
    const why = deps.redactor.redact(errorMessage(err));
    return {
      stop: {
        status: 'aborted',
        message: `aborted: planning the prune phase failed, nothing was changed: ${why}`,
      },
    };
  }
}

/** What every step of the run shares: retry bounds, classifiers, and the checks before an apply. */
function stepContext<R, C>(
  deps: EngineDeps<R, C>,
  active: ActiveRun<C>,
  opts: EngineOptions,
  population: number,
): StepRunContext {
  const { policy, journal } = active;
  const limit = policy.deleteLimit;
  const budget = new DeletionBudget(
    allowedDeletes(limit, population),
    limit ? describeLimit(limit) : 'unlimited',
  );
  return {
    runId: active.run.id,
    dryRun: policy.dryRun,
    retry: policy.retry,
    journal,
    reporter: deps.reporter,
    clock: deps.clock,
    signal: opts.killSignal ?? new AbortController().signal,
    redact: (t) => deps.redactor.redact(t),
    classify: (err, step) => classifyWith(step.classify, deps.task.classify)(err),
    beforeApply: (diff, key, step, firstTry) => {
      // Nothing is applied that the ledger could not record.
      if (journal.failed) throw journal.failed;
      if (firstTry) budget.take(deletionsOf(diff, step.destructive), `step ${step.name} of ${key}`);
    },
  };
}

/** How a run ends: why it stopped (asked after the last flush), how far it got, what it counted. */
interface RunEnd {
  stopped: () => Stop | undefined;
  progress?: RunProgress;
  /** Outcomes counted in memory, for when the ledger cannot be read back. */
  counts?: Counts;
}

/** Commits what is queued, records how the run ended, and tells the reporter. */
async function closeRun<R, C>(
  deps: EngineDeps<R, C>,
  active: ActiveRun<C>,
  end: RunEnd,
): Promise<RunSummary> {
  const { ledger, clock, reporter } = deps;
  const runId = active.run.id;
  // A flush that fails stops the run (the reconciler hears of it); the error is told below.
  await active.journal.flush().catch(ledgerOnly);
  const counts = (await ledger.countResults(runId).catch(ledgerOnly)) ?? end.counts ?? emptyCounts();
  const stop = end.stopped();
  const verdict = end.progress
    ? finalStatus(counts, stop, end.progress)
    : { status: stop?.status ?? 'aborted', message: stop?.message, notProcessed: 0 };
  try {
    await finishRun(ledger, active.journal, clock, { runId, ...verdict, counts });
  } catch (err) {
    ledgerOnly(err);
    reporter.warn(`the ledger could not record the end of run ${runId}: ${errorMessage(err)}`);
  }
  const summary = summarize(
    {
      runId,
      task: deps.task.name,
      dryRun: active.policy.dryRun,
      resumed: active.resumed,
      ...(active.supersedes ? { supersedes: active.supersedes } : {}),
      ledger: ledger.location,
      elapsedMs: clock.now() - active.startedAt,
    },
    { ...verdict, counts, alreadyDone: end.progress?.alreadyDone ?? 0 },
  );
  reporter.runFinished(summary);
  return summary;
}

/** Swallows a ledger failure (the run already stopped for it); rethrows anything else. */
function ledgerOnly(err: unknown): undefined {
  if (kindOf(err) !== 'ledger') throw err;
  return undefined;
}
