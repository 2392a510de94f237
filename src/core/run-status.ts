import type { Counts, RunStatus } from './outcome.ts';
import type { RunSummary } from './reporter.ts';

/** Why a run stopped before its end. */
export interface Stop {
  status: Extract<RunStatus, 'aborted' | 'interrupted' | 'refused'>;
  message: string;
}

/** How far a run got. */
export interface RunProgress {
  /** Records (and prune keys) the input and the prune plan hold. */
  total: number;
  /** Records this process finished. */
  finished: number;
  /** Records finished by the run before it was resumed. */
  alreadyDone: number;
}

/** How a run ended, from its counts, its stop reason and its progress. Pure. */
export function finalStatus(
  counts: Counts,
  stop: Stop | undefined,
  progress: RunProgress,
): { status: RunStatus; message?: string; notProcessed: number } {
  const left = Math.max(0, progress.total - progress.finished - progress.alreadyDone);
  // A loop that ended early must not look like a finished run.
  const why =
    stop ??
    (left > 0
      ? { status: 'interrupted' as const, message: 'the run ended before every record was reached' }
      : undefined);
  if (why) {
    return {
      status: why.status,
      message: `${why.message}; ${left} records not processed; resume with --resume`,
      notProcessed: left,
    };
  }
  const problems = counts.failed + counts.invalid + counts['in-doubt'];
  return { status: problems > 0 ? 'completed-with-failures' : 'succeeded', notProcessed: 0 };
}

/** The summary a reporter and the CLI get. Pure. */
export function summarize(
  run: {
    runId: string;
    task: string;
    dryRun: boolean;
    resumed: boolean;
    supersedes?: string;
    ledger: string;
    elapsedMs: number;
  },
  end: {
    status: RunStatus;
    counts: Counts;
    notProcessed: number;
    alreadyDone: number;
    message?: string | undefined;
  },
): RunSummary {
  return {
    runId: run.runId,
    task: run.task,
    status: end.status,
    dryRun: run.dryRun,
    resumed: run.resumed,
    ...(run.supersedes ? { supersedes: run.supersedes } : {}),
    counts: end.counts,
    notProcessed: end.notProcessed,
    alreadyDone: end.alreadyDone,
    elapsedMs: run.elapsedMs,
    ledger: run.ledger,
    ...(end.message ? { message: end.message } : {}),
  };
}
