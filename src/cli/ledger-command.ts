import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import { type PruneReport, pruneLedger } from '../ledger/retention.ts';
import { LockHeldError } from '../lock/lock.ts';
import { SqliteLock } from '../lock/sqlite-lock.ts';
import { isoTime, localTime } from '../report/time.ts';
import { lockDir } from '../runner/state.ts';
import { parseDuration, parseTimePoint } from './duration.ts';
import { EXIT } from './exit-codes.ts';
import { parsed, STATE_DIR_HELP } from './flags.ts';
import { printAnswer, withLedger } from './ledger-access.ts';
import { resolveTaskRef } from './task-ref.ts';

export interface PruneFlags {
  olderThan?: string;
  before?: string;
  forgetOnceEffects?: boolean;
  dryRun?: boolean;
  stateDir?: string;
  json?: boolean;
}

function who(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `pid ${process.pid}@${hostname()}`;
  }
}

function pruneLines(r: PruneReport): string[] {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const x = r.removed;
  const lines = [
    `${r.dryRun ? 'dry run: ' : ''}task ${r.task}: ${verb} ${x.runs} run(s) that ended before ${localTime(r.cutoff)}, ` +
      `${x.results} record outcome(s) and ${x.events} history line(s)` +
      (r.span ? ` (runs started ${localTime(r.span.from)} to ${localTime(r.span.to)})` : ''),
  ];
  if (x.effects || x.idempotencyKeys)
    lines.push(`${verb} ${x.effects} completed once effect(s) and ${x.idempotencyKeys} idempotency key(s)`);
  if (r.kept.latestRun) lines.push(`kept the last run ${r.kept.latestRun} (status and --resume read it)`);
  if (r.kept.acceptedRun)
    lines.push(
      `kept the last accepted run ${r.kept.acceptedRun} (the change budgets compare the next plan with it)`,
    );
  if (r.kept.inDoubtRuns.length)
    lines.push(
      `kept ${r.kept.inDoubtRuns.length} run(s) with an effect still in doubt: ${r.kept.inDoubtRuns.join(', ')}`,
    );
  if (r.kept.onceEffects || r.kept.idempotencyKeys)
    lines.push(
      `kept ${r.kept.onceEffects} completed once effect(s) and ${r.kept.idempotencyKeys} idempotency key(s) older than that: ` +
        'they stop a second welcome mail; --forget-once-effects removes them',
    );
  return lines;
}

/**
 * `idem ledger prune <task> --older-than 90d`: removes the runs of a task that
 * ended before the cutoff, with their outcomes and history lines (see
 * src/ledger/retention.ts for how the append-only history allows it). Keeps the
 * last run, runs with an effect in doubt, and the `once` effects unless asked.
 */
export async function pruneCommand(ref: string, flags: PruneFlags): Promise<number> {
  if (Boolean(flags.olderThan) === Boolean(flags.before))
    throw new UsageError('say how old: --older-than 90d, or --before 2026-01-01');
  const now = Date.now();
  const cutoff = flags.olderThan
    ? now - (parsed(flags.olderThan, '--older-than', parseDuration) as number)
    : (parsed(flags.before, '--before', (t) => parseTimePoint(t, now)) as number);
  const target = await resolveTaskRef(ref, flags.stateDir);
  return withLedger(target, target.name, async (open) => {
    const got = await new SqliteLock(lockDir(target.stateDir)).acquire(
      { pid: process.pid, host: hostname(), runId: 'prune', task: target.name, since: now },
      { waitMs: 0 },
    );
    if (!got.acquired) throw new LockHeldError(target.name, got.holder, 'prune after it finishes');
    let report: PruneReport;
    try {
      report = pruneLedger(open.ledger.db, open.path, {
        task: target.name,
        cutoff,
        forgetOnceEffects: Boolean(flags.forgetOnceEffects),
        dryRun: Boolean(flags.dryRun),
        by: who(),
        now,
      });
    } finally {
      await got.handle.release();
    }
    const { span, ...rest } = report;
    printAnswer(
      flags.json,
      () => ({
        ...rest,
        cutoff: isoTime(report.cutoff),
        span: span ? { from: isoTime(span.from), to: isoTime(span.to) } : null,
        ledger: open.path,
      }),
      (style) => [...pruneLines(report), style.dim(`ledger ${open.path}`)],
    );
    return EXIT.ok;
  });
}

export function registerLedger(program: Command, action: (code: Promise<number>) => void): void {
  const ledger = program.command('ledger').description('look after the ledger: retention');
  ledger
    .command('prune')
    .description('remove runs that ended before a cutoff, with their outcomes and history lines')
    .argument('<task>', 'a task file or a task name')
    .option('--older-than <age>', 'runs that ended longer ago than this: 90d, 12w')
    .option('--before <date>', 'runs that ended before this date: 2026-01-01')
    .option(
      '--forget-once-effects',
      'also forget completed once effects and idempotency keys older than the cutoff (a record processed again gets its effect again)',
    )
    .option('--dry-run', 'count what would go; remove nothing')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--json', 'one JSON document (docs/schemas/prune.schema.json)')
    .addHelpText(
      'after',
      `
Always kept: the last run (status and --resume read it), the last run that went through (the change
budgets compare the next plan with it), runs with a once effect still in doubt, and, without
--forget-once-effects, every once effect (they stop a second welcome mail). Takes the task's
lock: exit 75 while a run holds it. The file does not shrink; SQLite reuses the freed pages.

Examples:
  $ idem ledger prune tasks/provision-users.ts --older-than 90d --dry-run
  $ idem ledger prune provision-users --state-dir /var/lib/idem --older-than 90d`,
    )
    .action((ref: string, flags: PruneFlags) => action(pruneCommand(ref, flags)));
}
