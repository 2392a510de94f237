import { formatChange } from '../core/diff.ts';
import { formatCounts, type RecordResult } from '../core/outcome.ts';
import type { PlanSummary, RunSummary } from '../core/reporter.ts';
import { taskFrame } from './stack-frame.ts';
import { formatDuration, type Style } from './style.ts';
import { localTime } from './time.ts';

/** How a record is shown, beyond its outcome. */
export interface RecordLineOptions {
  /** A dry run: a change is pending (`changed*`). */
  dryRun: boolean;
  /** The task's folder: an unexpected error points at the first stack frame in it. */
  taskDir?: string | undefined;
  /** Print an unexpected error's stack (`-v`). */
  stack?: boolean;
}

function outcomeLabel(r: RecordResult, style: Style, dryRun: boolean): string {
  switch (r.outcome) {
    case 'changed':
      return style.green(dryRun ? 'changed*' : 'changed ');
    case 'ok':
      return r.absorbed ? style.yellow('absorbed') : style.dim('ok      ');
    case 'failed':
      return style.red('failed  ');
    case 'invalid':
      return style.red('invalid ');
    case 'in-doubt':
      return style.yellow('in-doubt');
    case 'skipped':
      return style.dim('skipped ');
  }
}

function patchLine(line: string, style: Style): string {
  const text = `      ${line}`;
  if (line.startsWith('+')) return style.green(text);
  if (line.startsWith('-')) return style.red(text);
  return style.dim(text);
}

/**
 * The lines a human sees for one record: a head line, one indented line per
 * step diff (a file's text diff under it), then the error, if any.
 */
export function recordLines(r: RecordResult, style: Style, o: RecordLineOptions): string[] {
  const where = r.line > 0 && r.key !== `line ${r.line}` ? style.dim(` (line ${r.line})`) : '';
  const lines = [`${outcomeLabel(r, style, o.dryRun)} ${r.key}${where}`];
  for (const d of r.diff) {
    const tag = d.absorbed ? style.yellow(' [absorbed: a retry found it already done]') : '';
    const after = d.provisional ? style.dim(` (after ${d.provisional.after}: provisional)`) : '';
    lines.push(`    ${d.step}${after}: ${d.changes.map(formatChange).join(', ')}${tag}`);
    for (const c of d.changes) {
      if (c.patch) lines.push(...c.patch.split('\n').map((l) => patchLine(l, style)));
    }
  }
  if (r.error) {
    let cls = '';
    if (r.outcome === 'failed' && r.error.class === 'permanent') cls = 'permanent, not retried: ';
    else if (r.outcome === 'failed' && r.error.class)
      cls = `${r.error.class}, gave up after ${r.attempts} attempts: `;
    const at = r.error.stack ? taskFrame(r.error.stack, o.taskDir) : undefined;
    lines.push(`    ${cls}${r.error.message}${at ? ` (at ${at})` : ''}`);
    if (o.stack && r.error.stack)
      lines.push(...r.error.stack.split('\n').map((l) => style.dim(`      ${l}`)));
  }
  for (const note of r.notes ?? []) lines.push(style.dim(`    ${note.split('\n').join('\n    ')}`));
  for (const warning of r.warnings ?? []) lines.push(style.yellow(`    warning: ${warning}`));
  return lines;
}

/** `succeeded`, `finished with failures`, `aborted`...: how the recap names a run's end. */
function verdictOf(s: RunSummary, style: Style): string {
  if (s.status === 'planned') return style.green('planned');
  if (s.status === 'succeeded') return style.green(s.dryRun ? 'planned' : 'succeeded');
  if (s.status === 'completed-with-failures') return style.red('finished with failures');
  return style.red(s.status);
}

/**
 * The first line of the recap: when it ended (local time and zone), the run
 * and how it ended, so a cron log appended night after night can be read back.
 */
export function recapHead(s: RunSummary, style: Style, endedAt: number): string {
  const head = s.dryRun ? `dry run ${s.runId} of task ${s.task}` : `run ${s.runId} of task ${s.task}`;
  return `${localTime(endedAt)} ${s.resumed ? `resumed ${head}` : head}: ${verdictOf(s, style)} in ${formatDuration(s.elapsedMs)}`;
}

/** The recap's warning when this run replaced an unfinished one (also printed with -q). */
export function supersededLines(s: RunSummary, style: Style): string[] {
  if (!s.supersedes) return [];
  return [
    style.yellow(
      `warning: run ${s.supersedes} did not finish and its input changed since; it is superseded by this run, which re-checked every record`,
    ),
  ];
}

/** `plan 1a2b3c4d5e6f: creates=3 modifications=12 deletions=0`, with what the gate said. */
function planLine(p: PlanSummary, style: Style): string {
  const same = p.identicalTo
    ? `; the input is identical to the last accepted run ${p.identicalTo}'s, reconciled anyway`
    : '';
  const what = `plan ${p.hash.slice(0, 12)}: creates=${p.creates} modifications=${p.modifications} deletions=${p.deletions}${same}`;
  if (p.exceeded.length === 0) return what;
  const over = `over budget: ${p.exceeded.join(', ')}`;
  return p.acceptedBy
    ? `${what}; ${over}; accepted by ${p.acceptedBy} (--accept)`
    : `${what}; ${style.red(over)}`;
}

/** The recap printed at the end of a run. */
export function summaryLines(s: RunSummary, style: Style, endedAt: number): string[] {
  const lines = [
    recapHead(s, style, endedAt),
    `${style.bold(formatCounts(s.counts))}${s.notProcessed ? ` not-processed=${s.notProcessed}` : ''}`,
  ];
  if (s.resumed)
    lines.push(`resumed run: ${s.alreadyDone} records already done before were not touched again`);
  lines.push(...supersededLines(s, style));
  if (s.plan) lines.push(planLine(s.plan, style));
  if (s.message) lines.push(s.message);
  if (s.dryRun) lines.push('dry run: nothing was written to any target (changed* = pending change)');
  const c = s.counts;
  if (c.failed > 0 && s.status === 'completed-with-failures')
    lines.push(
      `next: fix the cause of the ${c.failed} failed record(s) above and run again; every record is re-checked, done work is not redone`,
    );
  if (c.invalid > 0) lines.push(`next: correct the ${c.invalid} invalid line(s) named above in the input`);
  if (c['non-converging'] > 0)
    lines.push(
      `next: ${c['non-converging']} record(s) changed the same way on every recent run (warnings above): find what undoes the change, or compare the value as the target stores it`,
    );
  if (c['in-doubt'] > 0)
    lines.push(
      `next: ${c['in-doubt']} record(s) in doubt: list them with 'idem doubts', check by hand, settle with 'idem resolve'`,
    );
  lines.push(style.dim(`run ${s.runId} · ledger ${s.ledger}`));
  return lines;
}
