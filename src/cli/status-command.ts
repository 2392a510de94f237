import { hostname } from 'node:os';
import type { Command } from 'commander';
import { systemClock } from '../core/clock.ts';
import { errorMessage, UsageError } from '../core/errors.ts';
import type { RunInfo } from '../core/ledger.ts';
import { findUnfinishedRun, settleCrashedRuns } from '../core/runs.ts';
import { SqliteLock } from '../lock/sqlite-lock.ts';
import { recordJson } from '../report/ledger-json.ts';
import { type LockState, statusLines, type TaskStatus } from '../report/status-format.ts';
import { isoTime } from '../report/time.ts';
import { lockDir } from '../runner/state.ts';
import { EXIT } from './exit-codes.ts';
import { positiveInt } from './flags.ts';
import { type OpenLedger, printAnswer, runView, withLedger } from './ledger-access.ts';
import { resolveTaskRef, type StatePlace, statePlace } from './task-ref.ts';

export interface StatusFlags {
  stateDir?: string;
  json?: boolean;
  runs?: string;
}

const PROBLEMS_SHOWN = 20;

/**
 * Whether a task needs a person: its last real run did not succeed (finished
 * with failures, aborted, refused, interrupted, crashed, or recorded running
 * while nothing holds the lock), or a `once` effect is in doubt. A run in
 * progress, a success, or a task with only dry runs does not. Pure.
 */
export function attentionOf(last: RunInfo | undefined, lock: LockState, inDoubt: number): string[] {
  const reasons: string[] = [];
  if (last && last.status !== 'succeeded') {
    const counts = last.counts;
    if (last.status === 'running') {
      if (lock.state === 'free')
        reasons.push(`run ${last.id} is recorded running but nothing holds the lock: its process died`);
    } else if (last.status === 'completed-with-failures') {
      reasons.push(
        `the last run ${last.id} finished with failures: failed=${counts?.failed ?? 0} invalid=${counts?.invalid ?? 0} in-doubt=${counts?.['in-doubt'] ?? 0}`,
      );
    } else {
      reasons.push(`the last run ${last.id} ended ${last.status}${last.message ? `: ${last.message}` : ''}`);
    }
  }
  if (inDoubt > 0)
    reasons.push(`${inDoubt} once effect(s) in doubt: list them with idem doubts, settle with idem resolve`);
  return reasons;
}

/**
 * Who holds the task's lock. The lock is tried (never waited for) only when a
 * run is recorded `running` or a holder file is there, so an idle task is not
 * touched; when it is free, runs left `running` are recorded `crashed` (their
 * process is gone), and the lock is released at once.
 */
async function lookAtLock(
  open: OpenLedger,
  stateDir: string,
  task: string,
): Promise<{ lock: LockState; settled: RunInfo[] }> {
  const lock = new SqliteLock(lockDir(stateDir));
  const running = await open.ledger.listRuns({ task, status: 'running' });
  if (running.length === 0 && !lock.readHolder(task)) return { lock: { state: 'free' }, settled: [] };
  try {
    const got = await lock.acquire(
      { pid: process.pid, host: hostname(), runId: 'status', task, since: Date.now() },
      { waitMs: 0 },
    );
    if (!got.acquired) {
      const h = got.holder;
      return {
        lock: {
          state: 'held',
          holder: h ? { pid: h.pid, host: h.host, runId: h.runId, since: isoTime(h.since) } : null,
        },
        settled: [],
      };
    }
    try {
      return { lock: { state: 'free' }, settled: await settleCrashedRuns(open.ledger, systemClock, task) };
    } finally {
      await got.handle.release();
    }
  } catch (err) {
    return { lock: { state: 'unknown', reason: errorMessage(err) }, settled: [] };
  }
}

async function taskStatus(
  open: OpenLedger,
  stateDir: string,
  task: string,
  runs: number,
): Promise<TaskStatus> {
  const { lock, settled } = await lookAtLock(open, stateDir, task);
  const { ledger, reader } = open;
  const view = (run: RunInfo) => runView(open, run);
  const last = await ledger.latestRun(task);
  const unfinished = await findUnfinishedRun(ledger, task);
  const inDoubt = (await ledger.listEffects(task, 'intent')).length;
  const problems = last ? reader.results(last.id, { outcomes: ['failed', 'invalid', 'in-doubt'] }) : [];
  const attention = attentionOf(last, lock, inDoubt);
  const inProgress = unfinished?.status === 'running' && lock.state === 'held';
  return {
    task,
    needsAttention: attention.length > 0,
    attention,
    lock,
    settledAsCrashed: settled.map((r) => r.id),
    lastRuns: await Promise.all(reader.runs(task, { limit: runs }).map(view)),
    lastRun: last ? await view(last) : null,
    resumable: unfinished && !inProgress ? await view(unfinished) : null,
    inDoubt,
    problems: { total: problems.length, records: problems.slice(0, PROBLEMS_SHOWN) },
  };
}

/** `idem status [task]`: how the last runs went, what is running, what needs a person. */
export async function statusCommand(ref: string | undefined, flags: StatusFlags): Promise<number> {
  const runs = positiveInt(flags.runs, '--runs') ?? 5;
  const target = ref ? await resolveTaskRef(ref, flags.stateDir) : undefined;
  const place: StatePlace = target ?? statePlace(undefined, flags.stateDir);
  return withLedger(place, target?.name, async (open) => {
    const tasks = target ? [target.name] : open.reader.tasks();
    if (tasks.length === 0) throw new UsageError(`the ledger ${open.path} (${place.how}) holds no runs yet`);
    const statuses: TaskStatus[] = [];
    for (const task of tasks) statuses.push(await taskStatus(open, place.stateDir, task, runs));
    const attention = statuses.some((s) => s.needsAttention);
    // What `idem show` needs to find this ledger again.
    const where = `${ref ? ` --task ${target?.taskFile ?? ref}` : ''}${flags.stateDir ? ` --state-dir ${flags.stateDir}` : ''}`;
    printAnswer(
      flags.json,
      () => ({ ledger: open.path, needsAttention: attention, tasks: statuses.map(jsonOf) }),
      (style) => [
        statuses.map((s) => statusLines(s, style, where).join('\n')).join('\n\n'),
        style.dim(`ledger ${open.path}`),
      ],
    );
    return attention ? EXIT.failures : EXIT.ok;
  });
}

function jsonOf(s: TaskStatus) {
  return { ...s, problems: { total: s.problems.total, records: s.problems.records.map(recordJson) } };
}

export function registerStatus(program: Command, action: (code: Promise<number>) => void): void {
  program
    .command('status')
    .description(
      'how the last runs went, the lock holder, what --resume would continue, what needs attention',
    )
    .argument('[task]', 'a task file or a task name; every task in the ledger when left out')
    .option(
      '--state-dir <dir>',
      'ledger folder (default: $IDEM_STATE_DIR, else .idem/ next to the task file, else ./.idem)',
    )
    .option('--runs <n>', 'how many recent runs to list per task (default 5)')
    .option('--json', 'one JSON document (docs/schemas/status.schema.json)')
    .addHelpText(
      'after',
      `
Exit code 0 when every task is fine; 3 when one needs attention: its last real run did not succeed
(failures, aborted, refused, interrupted, crashed) or a once effect is in doubt; 2 when there is no
ledger or the task never ran there (the message says where it looked).

Examples:
  $ idem status tasks/provision-users.ts
  $ idem status --state-dir /var/lib/idem          # every task in that ledger
  $ idem status provision-users --state-dir /var/lib/idem --json | jq '.tasks[0].lastRun.status'`,
    )
    .action((ref: string | undefined, flags: StatusFlags) => action(statusCommand(ref, flags)));
}
