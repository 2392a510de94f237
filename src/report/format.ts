import { formatChange } from '../core/diff.ts';
import { formatCounts, type RecordResult } from '../core/outcome.ts';
import type { PlanSummary, RunSummary } from '../core/reporter.ts';
import { formatDuration, type Style } from './style.ts';

/** The lines a human sees for one record: a head line, then one indented line per step diff. */
export function recordLines(r: RecordResult, style: Style, dryRun: boolean): string[] {
  const where = r.line > 0 && r.key !== `line ${r.line}` ? style.dim(` (line ${r.line})`) : '';
  const label = (() => {
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
  })();
  const lines = [`${label} ${r.key}${where}`];
  for (const d of r.diff) {
    const tag = d.absorbed ? style.yellow(' [absorbed: a retry found it already done]') : '';
    const after = d.provisional ? style.dim(` (after ${d.provisional.after}: provisional)`) : '';
    lines.push(`    ${d.step}${after}: ${d.changes.map(formatChange).join(', ')}${tag}`);
  }
  if (r.error) {
    let cls = '';
    if (r.outcome === 'failed' && r.error.class === 'permanent') cls = 'permanent, not retried: ';
    else if (r.outcome === 'failed' && r.error.class)
      cls = `${r.error.class}, gave up after ${r.attempts} attempts: `;
    lines.push(`    ${cls}${r.error.message}`);
  }
  for (const note of r.notes ?? []) lines.push(style.dim(`    ${note.split('\n').join('\n    ')}`));
  for (const warning of r.warnings ?? []) lines.push(style.yellow(`    warning: ${warning}`));
  return lines;
}

/** `plan 1a2b3c4d5e6f: creates=3 modifications=12 deletions=0`, with what the gate said. */
function planLine(p: PlanSummary, style: Style): string {
  const what = `plan ${p.hash.slice(0, 12)}: creates=${p.creates} modifications=${p.modifications} deletions=${p.deletions}`;
  if (p.exceeded.length === 0) return what;
  const over = `over budget: ${p.exceeded.join(', ')}`;
  return p.acceptedBy
    ? `${what}; ${over}; accepted by ${p.acceptedBy} (--accept)`
    : `${what}; ${style.red(over)}`;
}

/** The recap printed at the end of a run. */
export function summaryLines(s: RunSummary, style: Style): string[] {
  const head = s.dryRun ? `dry run of task ${s.task}` : `task ${s.task}`;
  const verdict =
    s.status === 'planned'
      ? style.green('planned')
      : s.status === 'succeeded'
        ? style.green(s.dryRun ? 'planned' : 'succeeded')
        : s.status === 'completed-with-failures'
          ? style.red('finished with failures')
          : style.red(s.status);
  const lines = [
    `${head}: ${verdict} in ${formatDuration(s.elapsedMs)}`,
    `${style.bold(formatCounts(s.counts))}${s.notProcessed ? ` not-processed=${s.notProcessed}` : ''}`,
  ];
  if (s.resumed)
    lines.push(`resumed run: ${s.alreadyDone} records already done before were not touched again`);
  if (s.supersedes)
    lines.push(
      style.yellow(
        `warning: run ${s.supersedes} did not finish and its input changed since; it is superseded by this run, which re-checked every record`,
      ),
    );
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
