import type { RecordResult } from '../core/outcome.ts';
import { recordLines } from './format.ts';
import { runLines } from './ledger-format.ts';
import type { RunJson } from './ledger-json.ts';
import type { Style } from './style.ts';
import { localTime } from './time.ts';

/** Who holds a task's lock, as `idem status` found it. */
export type LockState =
  | { state: 'free' }
  | { state: 'held'; holder: { pid: number; host: string; runId: string; since: string } | null }
  | { state: 'unknown'; reason: string };

/** One task in `idem status` (its JSON form is this object, records in the `recordJson` form). */
export interface TaskStatus {
  task: string;
  needsAttention: boolean;
  /** Why it needs attention, one reason per line; empty when it does not. */
  attention: string[];
  lock: LockState;
  /** Runs this look found `running` with a free lock, now recorded `crashed`. */
  settledAsCrashed: string[];
  /** The newest runs, newest first, dry runs included. */
  lastRuns: RunJson[];
  /** The newest real (not dry) run. */
  lastRun: RunJson | null;
  /** The run `--resume` would continue (if the input is unchanged; otherwise it is superseded). */
  resumable: RunJson | null;
  /** `once` effects in doubt now. */
  inDoubt: number;
  /** Records that ended failed, invalid or in-doubt in the last run (the first 20), and how many there are. */
  problems: { total: number; records: RecordResult[] };
}

function lockLine(lock: LockState): string {
  switch (lock.state) {
    case 'free':
      return 'free';
    case 'unknown':
      return `could not be checked: ${lock.reason}`;
    case 'held':
      return lock.holder
        ? `held by pid ${lock.holder.pid} on host ${lock.holder.host} (run ${lock.holder.runId}, since ${localTime(Date.parse(lock.holder.since))})`
        : 'held (its holder has not written its details yet)';
  }
}

/**
 * The human form of one task's status. `where` is what `idem show` needs to
 * find the same ledger (`--task tasks/kv.ts`, `--state-dir /var/lib/idem`).
 */
export function statusLines(t: TaskStatus, style: Style, where: string): string[] {
  const verdict = t.needsAttention
    ? style.red('needs attention')
    : t.lastRun
      ? style.green('ok')
      : style.dim('no real run yet');
  const lines = [`task ${t.task}: ${verdict}`];
  for (const reason of t.attention) lines.push(`  ${style.red('!')} ${reason}`);
  for (const id of t.settledAsCrashed)
    lines.push(style.yellow(`  run ${id} was left running by a process that died: recorded as crashed now`));
  lines.push(`  lock      ${lockLine(t.lock)}`);
  lines.push('  runs      newest first');
  for (const run of t.lastRuns) lines.push(...runLines(run, style).map((l) => `    ${l}`));
  if (t.lastRuns.length === 0) lines.push('    none');
  lines.push(
    `  resume    ${
      t.resumable
        ? `--resume would continue run ${t.resumable.id} (${t.resumable.status}), or supersede it if the input changed`
        : 'nothing to continue: the last run finished'
    }`,
  );
  lines.push(
    `  in doubt  ${t.inDoubt} once effect${t.inDoubt === 1 ? '' : 's'}${t.inDoubt ? ` (idem doubts ${t.task})` : ''}`,
  );
  if (t.problems.total > 0) {
    const more = t.problems.total - t.problems.records.length;
    lines.push(
      `  problems in the last run: ${t.problems.total}${more > 0 ? ` (the first ${t.problems.records.length} below)` : ''}`,
    );
    for (const r of t.problems.records)
      lines.push(...recordLines(r, style, { dryRun: false }).map((l) => `    ${l}`));
    if (t.lastRun)
      lines.push(
        style.dim(`    all of them: idem show ${t.lastRun.id}${where} --outcome failed,invalid,in-doubt`),
      );
  }
  return lines;
}
