import type { Clock } from './clock.ts';
import type { Journal } from './journal.ts';
import type { OutcomeStore, RunInfo, RunStore } from './ledger.ts';
import type { Counts, RunStatus } from './outcome.ts';

/** Statuses after which `--resume` has nothing to continue. */
const FINISHED: ReadonlySet<RunStatus> = new Set([
  'succeeded',
  'completed-with-failures',
  'refused',
  'superseded',
  'planned',
]);

export function isFinished(status: RunStatus): boolean {
  return FINISHED.has(status);
}

/** The newest real (not dry) run of the task, when it did not finish. */
export async function findUnfinishedRun(store: RunStore, task: string): Promise<RunInfo | undefined> {
  const last = await store.latestRun(task);
  return last && !isFinished(last.status) ? last : undefined;
}

/**
 * Records as `crashed` every run of the task still marked `running`. Call it
 * only while holding the task's lock: then no such run can be alive, since its
 * process would hold the lock. Returns the runs it settled.
 */
export async function settleCrashedRuns(
  store: RunStore & Pick<OutcomeStore, 'commit'>,
  clock: Clock,
  task: string,
): Promise<RunInfo[]> {
  const stale = await store.listRuns({ task, status: 'running' });
  for (const run of stale) {
    const message = `the process (pid ${run.pid} on ${run.host}) stopped without finishing the run; resume with --resume`;
    await store.updateRun(run.id, { status: 'crashed', message });
    await store.commit({
      results: [],
      events: [{ runId: run.id, key: '', kind: 'crashed', detail: message, at: clock.now() }],
    });
  }
  return stale;
}

/** `r-20261123-020003-1a2b`: sortable, readable, unique enough per task. */
export function newRunId(now: number, random: () => number = Math.random): string {
  const d = new Date(now).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `r-${d}-${Math.floor(random() * 0xffff)
    .toString(16)
    .padStart(4, '0')}`;
}

/** Marks a resumed run as running again under a new pid, with a history line. */
export async function reopenRun(
  store: RunStore,
  journal: Journal,
  clock: Clock,
  run: { id: string; pid: number; host: string },
): Promise<void> {
  await store.updateRun(run.id, { status: 'running', endedAt: null, pid: run.pid, host: run.host });
  await journal.event({
    runId: run.id,
    key: '',
    kind: 'resumed',
    detail: `pid ${run.pid} on ${run.host}`,
    at: clock.now(),
  });
}

/** Records that a new run replaced an unfinished one (`--resume` with a changed input). */
export async function supersedeRun(
  store: RunStore,
  journal: Journal,
  clock: Clock,
  old: RunInfo,
  by: string,
): Promise<void> {
  const message = `superseded by run ${by}: the input changed before this run finished`;
  await store.updateRun(old.id, {
    status: 'superseded',
    message,
    ...(old.endedAt ? {} : { endedAt: clock.now() }),
  });
  await journal.event({ runId: old.id, key: '', kind: 'superseded', detail: message, at: clock.now() });
}

/** Commits what is queued, then records how the run ended. */
export async function finishRun(
  store: RunStore,
  journal: Journal,
  clock: Clock,
  end: { runId: string; status: RunStatus; counts: Counts; message?: string | undefined },
): Promise<void> {
  await journal.flush();
  await store.updateRun(end.runId, {
    status: end.status,
    endedAt: clock.now(),
    counts: end.counts,
    message: end.message ?? null,
  });
}

/** Statuses of a run whose outcome a later plan may be compared with (retention keeps the newest such run too). */
export const ACCEPTED: ReadonlySet<RunStatus> = new Set(['succeeded', 'completed-with-failures']);

/** The newest real run of the task that went through (the baseline of the change budgets). */
export async function lastAcceptedRun(
  store: RunStore,
  task: string,
  except: string,
): Promise<RunInfo | undefined> {
  for (const limit of [20, 1000]) {
    const runs = await store.listRuns({ task, limit });
    const found = runs.find((r) => r.id !== except && !r.dryRun && ACCEPTED.has(r.status));
    if (found || runs.length < limit) return found;
  }
  return undefined;
}
