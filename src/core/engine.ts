import { CircuitBreaker, errorSignature } from './breaker.ts';
import type { Clock } from './clock.ts';
import { classifyWith, errorMessage, isUsageError, UsageError } from './errors.ts';
import { isGuardRefusal } from './guard.ts';
import type { Ledger, RunInfo } from './ledger.ts';
import type { RecordResult, RunStatus } from './outcome.ts';
import { prepareRecord, slotOf } from './prepare.ts';
import { type PrunePlan, planPrune } from './prune-plan.ts';
import { RecordProcessor } from './record-processor.ts';
import type { Redactor } from './redact.ts';
import type { Reporter, RunSummary } from './reporter.ts';
import type { RecordSource } from './source.ts';
import {
  DEFAULT_PRUNE_LIMIT,
  DEFAULT_RETRY,
  type DeleteLimit,
  type RetryPolicy,
  type SetupContext,
  type TaskDefinition,
} from './task.ts';

/** Test-only crash points around `once` effects (wired by the CLI from IDEM_TEST_CRASH). */
export interface EffectHooks {
  beforeIntent?(effect: string, key: string): void;
  beforeDone?(effect: string, key: string): void;
}

export interface EngineOptions {
  dryRun?: boolean;
  resume?: boolean;
  concurrency?: number;
  maxDeletes?: DeleteLimit;
  retry?: Partial<RetryPolicy>;
  breaker?: number;
  host: string;
  pid: number;
  /** What the run was started with, kept in the ledger. */
  options?: Record<string, unknown>;
  /** Stop taking new records (first SIGINT/SIGTERM). */
  stopSignal?: AbortSignal;
  /** Abort in-flight work (the grace period after a stop ran out). */
  killSignal?: AbortSignal;
  hooks?: EffectHooks;
  /** Fixed run id (tests); generated otherwise. */
  runId?: string;
}

export interface EngineDeps<R, C> {
  task: TaskDefinition<R, C>;
  source: RecordSource;
  ledger: Ledger;
  reporter: Reporter;
  clock: Clock;
  setup: SetupContext;
  redactor: Redactor;
}

/** `connect` failed: permanent (bad config, exit 2) or transient (server down, exit 4). */
export class ConnectError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ConnectError';
  }
}

function newRunId(now: number): string {
  const d = new Date(now).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `r-${d}-${Math.floor(Math.random() * 0xffff)
    .toString(16)
    .padStart(4, '0')}`;
}

/**
 * Runs a task over its records: scan the input, resume or start a run, plan
 * and guard deletions, reconcile every record (concurrently, steps in order),
 * prune, and record everything in the ledger. Record failures are outcomes, not
 * exceptions; it throws only for usage errors found before any record ran.
 */
export async function runTask<R, C>(deps: EngineDeps<R, C>, opts: EngineOptions): Promise<RunSummary> {
  const { task, source, ledger, reporter, clock } = deps;
  const startedAt = clock.now();
  const dryRun = opts.dryRun ?? false;
  const concurrency = Math.max(1, opts.concurrency ?? task.concurrency ?? 4);
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...task.retry, ...opts.retry };
  // One deletion limit for the prune plan and for every deletion applied.
  const deleteLimit = opts.maxDeletes ?? task.maxDeletes ?? (task.prune ? DEFAULT_PRUNE_LIMIT : undefined);
  const stopSignal = opts.stopSignal ?? new AbortController().signal;
  const killSignal = opts.killSignal ?? new AbortController().signal;

  const scan = await source.scan();
  if (scan.count === 0 && !task.allowEmpty) {
    throw new UsageError(
      `input ${source.description} has no records; refusing to run task ${task.name} (a truncated export?). ` +
        'If an empty input is expected, set allowEmpty: true in the task.',
    );
  }

  let run: RunInfo | undefined;
  if (opts.resume && !dryRun) {
    const previous = await ledger.findUnfinishedRun(task.name);
    if (!previous) {
      reporter.warn(`no unfinished run of task ${task.name} to resume; starting a new run`);
    } else if (previous.inputDigest !== scan.digest) {
      throw new UsageError(
        `cannot resume run ${previous.id} of task ${task.name}: the input ${source.description} changed since that run ` +
          `started (sha256 ${previous.inputDigest.slice(0, 12)}… then, ${scan.digest.slice(0, 12)}… now). ` +
          'Run without --resume to start a new run; it re-checks every record, which is always safe.',
      );
    } else {
      run = previous;
    }
  }

  let ctx: C;
  try {
    ctx = task.connect ? await task.connect(deps.setup) : (undefined as C);
  } catch (err) {
    if (isUsageError(err)) throw err;
    const transient = classifyWith(task.classify)(err) !== 'permanent';
    throw new ConnectError(
      `task ${task.name}: connect failed: ${deps.redactor.redact(errorMessage(err))}`,
      transient,
      {
        cause: err,
      },
    );
  }

  const resumed = run !== undefined;
  if (run) {
    await ledger.reopenRun(run.id, opts.pid, opts.host);
  } else {
    run = {
      id: opts.runId ?? newRunId(startedAt),
      task: task.name,
      startedAt,
      status: 'running',
      dryRun,
      inputDigest: scan.digest,
      inputPath: source.description,
      host: opts.host,
      pid: opts.pid,
      options: opts.options ?? {},
    };
    await ledger.startRun(run);
  }
  const runId = run.id;

  let prune: PrunePlan | undefined;
  if (task.prune) {
    let ended: { status: RunStatus; message: string } | undefined;
    try {
      prune = await planPrune(deps, ctx, runId, deleteLimit ?? DEFAULT_PRUNE_LIMIT);
      if (prune.refusal) ended = { status: 'refused', message: prune.refusal };
    } catch (err) {
      ended = {
        status: 'aborted',
        message: `aborted: planning the prune phase failed, nothing was changed: ${deps.redactor.redact(errorMessage(err))}`,
      };
    }
    if (ended) {
      await ledger.flush();
      const counts = await ledger.countResults(runId);
      await ledger.finishRun(runId, ended.status, counts, ended.message);
      const summary = summarize(ended.status, counts, 0, 0, ended.message);
      reporter.runFinished(summary);
      return summary;
    }
  }

  reporter.runStarted({
    runId,
    task: task.name,
    total: scan.count + (prune?.keys.length ?? 0),
    dryRun,
    resumed,
  });

  const breaker = new CircuitBreaker(opts.breaker ?? task.breaker ?? 5);
  const processor = new RecordProcessor(deps, ctx, {
    runId,
    dryRun,
    retry,
    killSignal,
    maxDeletes: deleteLimit,
    population: prune?.population ?? scan.count,
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
  });
  let stop: { status: RunStatus; message: string } | undefined;
  let finished = 0;
  let alreadyDone = 0;

  const finish = async (result: RecordResult, error: unknown) => {
    finished++;
    await ledger.writeResult(runId, result);
    reporter.recordFinished(result);
    if (error !== undefined && isGuardRefusal(error) && !stop) {
      stop = { status: 'refused', message: `refused: ${result.error?.message ?? errorMessage(error)}` };
    }
    const signature = error === undefined ? undefined : errorSignature(result.error?.step, error, result.key);
    if (breaker.observe(result, signature) && !stop) {
      stop = {
        status: 'aborted',
        message: `aborted: ${breaker.threshold} consecutive records failed with the same error: ${result.error?.message}`,
      };
    }
  };

  const inflight = new Set<Promise<void>>();
  const launch = (work: () => Promise<{ result: RecordResult | undefined; error: unknown }>) => {
    const p: Promise<void> = work()
      .then(({ result, error }) => (result ? finish(result, error) : undefined))
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };
  const halted = () => {
    if (!stop && stopSignal.aborted) stop = { status: 'interrupted', message: 'interrupted by a signal' };
    return stop !== undefined;
  };
  // On resume a record is finished when it has an outcome other than `failed` or
  // `in-doubt`: those are checked again (the operator has fixed the cause, the
  // server is back, or an effect was settled with `idem resolve`), which is
  // always safe: a check never repeats a `once` effect that may have happened.
  const alreadyFinished = async (slot: string) => {
    if (!resumed) return false;
    const previous = await ledger.getResult(runId, slot);
    if (!previous || previous.outcome === 'failed' || previous.outcome === 'in-doubt') return false;
    alreadyDone++;
    return true;
  };

  const firstLine = new Map<string, number>();
  for await (const rec of source.records(stopSignal)) {
    while (inflight.size >= concurrency) await Promise.race(inflight);
    if (halted()) break;
    const prepared = prepareRecord(task, rec);
    const key = prepared.key;
    const first = key === undefined ? undefined : firstLine.get(key);
    if (key !== undefined && first === undefined) firstLine.set(key, rec.line);
    const slot = slotOf(key, rec.line, first !== undefined);
    if (await alreadyFinished(slot)) continue;
    if (first !== undefined && key !== undefined) {
      launch(async () => ({
        result: processor.invalid(slot, key, prepared, `duplicate key "${key}": first seen on line ${first}`),
        error: undefined,
      }));
    } else if (prepared.kind === 'invalid') {
      launch(async () => ({
        result: processor.invalid(slot, key, prepared, prepared.reason),
        error: undefined,
      }));
    } else {
      launch(() => processor.process(slot, prepared));
    }
  }

  // The source stops yielding once the stop signal fires, so ask again here:
  // a loop that ended early must not look like a finished run.
  halted();
  if (prune && !stop) {
    await Promise.all(inflight);
    for (const key of prune.keys) {
      while (inflight.size >= concurrency) await Promise.race(inflight);
      if (halted()) break;
      if (await alreadyFinished(key)) continue;
      launch(() => processor.prune(key));
    }
  }
  await Promise.all(inflight);
  await ledger.flush();

  const counts = await ledger.countResults(runId);
  const totalRecords = scan.count + (prune?.keys.length ?? 0);
  if (!stop && finished + alreadyDone < totalRecords) {
    stop = { status: 'interrupted', message: 'the run ended before every record was reached' };
  }
  const notProcessed = stop ? Math.max(0, totalRecords - finished - alreadyDone) : 0;
  let status: RunStatus;
  let message: string | undefined;
  if (stop) {
    status = stop.status;
    message = `${stop.message}; ${notProcessed} records not processed; resume with --resume`;
  } else if (counts.failed + counts.invalid + counts['in-doubt'] > 0) {
    status = 'completed-with-failures';
  } else {
    status = 'succeeded';
  }
  await ledger.finishRun(runId, status, counts, message);
  const summary = summarize(status, counts, notProcessed, alreadyDone, message);
  reporter.runFinished(summary);
  return summary;

  function summarize(
    status: RunStatus,
    counts: RunSummary['counts'],
    notProcessed: number,
    alreadyDone: number,
    message: string | undefined,
  ): RunSummary {
    return {
      runId,
      task: task.name,
      status,
      dryRun,
      resumed,
      counts,
      notProcessed,
      alreadyDone,
      elapsedMs: clock.now() - startedAt,
      ledger: ledger.location,
      ...(message ? { message } : {}),
    };
  }
}
