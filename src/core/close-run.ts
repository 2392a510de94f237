import { errorMessage, kindOf } from './errors.ts';
import type { ActiveRun } from './open-run.ts';
import { type Counts, emptyCounts } from './outcome.ts';
import type { PlanSummary, RunSummary } from './reporter.ts';
import type { EngineDeps } from './run-options.ts';
import { finalStatus, type RunProgress, type Stop, summarize } from './run-status.ts';
import { finishRun } from './runs.ts';

/** How a run ends: why it stopped (asked after the last flush), how far it got, what it counted. */
export interface RunEnd {
  stopped: () => Stop | undefined;
  progress?: RunProgress;
  /** Outcomes counted in memory, for when the ledger cannot be read back. */
  counts?: Counts;
  plan?: PlanSummary;
  /** The status of a run that only planned (`idem plan`). */
  planned?: boolean;
  /** A note for the recap (the input is identical to last night's). */
  note?: string;
}

/** Commits what is queued, records how the run ended, and tells the reporter. */
export async function closeRun<R, C>(
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
  if (end.planned && !stop) verdict.status = 'planned';
  if (end.note) verdict.message = verdict.message ? `${verdict.message}\n${end.note}` : end.note;
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
  const full = end.plan ? { ...summary, plan: end.plan } : summary;
  reporter.runFinished(full);
  return full;
}

/** Swallows a ledger failure (the run already stopped for it); rethrows anything else. */
export function ledgerOnly(err: unknown): undefined {
  if (kindOf(err) !== 'ledger') throw err;
  return undefined;
}
