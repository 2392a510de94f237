import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import { writePlanFile } from '../runner/plan-file.ts';
import { IDEM_VERSION } from '../runner/version.ts';
import { EXIT } from './exit-codes.ts';
import { fileDigest } from './file-digest.ts';
import { loadTask } from './load-task.ts';
import type { CliOverrides } from './main.ts';
import { executeRun, type RunFlags } from './run-command.ts';

/** The flags of `idem plan`. */
export interface PlanFlags
  extends Pick<RunFlags, 'input' | 'stateDir' | 'json' | 'verbose' | 'quiet' | 'concurrency' | 'wait'> {
  out: string;
}

/**
 * `idem plan <task> --out FILE`: checks every record (writing nothing to any
 * target), stores the plan in the ledger and saves it to FILE for review, with
 * what the change budgets say of it. `idem apply FILE` applies exactly that plan.
 */
export async function planCommand(
  taskFile: string,
  flags: PlanFlags,
  overrides: CliOverrides = {},
): Promise<number> {
  if (!flags.out) throw new UsageError('idem plan needs --out FILE, where the plan is saved');
  const out = resolve(flags.out);
  const { path } = await loadTask(taskFile);
  let saved = 0;
  const { summary } = await executeRun(taskFile, flags, overrides, {
    planOnly: true,
    afterRun: async (ledger, s) => {
      if (s.status !== 'planned' || !s.plan) return;
      const header = {
        type: 'idem-plan' as const,
        version: 1 as const,
        task: s.task,
        taskFile: path,
        taskDigest: await fileDigest(path),
        idemVersion: IDEM_VERSION,
        input: (await ledger.getRun(s.runId))?.inputPath ?? '',
        inputDigest: (await ledger.getRun(s.runId))?.inputDigest ?? '',
        runId: s.runId,
        createdAt: new Date().toISOString(),
        summary: s.plan,
      };
      saved = await writePlanFile(out, header, ledger);
    },
  });
  if (summary.status !== 'planned' || !summary.plan) {
    process.stderr.write(`idem: no plan was saved: the planning run ended ${summary.status}\n`);
    return summary.status === 'interrupted' ? EXIT.sigint : EXIT.aborted;
  }
  const over =
    summary.plan.exceeded.length > 0
      ? `; it exceeds the change budgets (${summary.plan.exceeded.join(', ')}): applying it is accepting that`
      : '';
  process.stderr.write(
    `idem: plan ${summary.plan.hash.slice(0, 12)} saved to ${out}: ${saved} records to change${over}. Review it, then: idem apply ${flags.out}\n`,
  );
  return EXIT.ok;
}

export function registerPlan(
  program: Command,
  action: (code: Promise<number>) => void,
  overrides: CliOverrides = {},
): void {
  program
    .command('plan')
    .description(
      'check every record and save the plan (per-record diffs, a summary, a hash) for review; writes nothing to any target',
    )
    .argument('<task-file>', 'the task module, e.g. tasks/provision-users.ts')
    .requiredOption('--out <file>', 'where to save the plan (NDJSON)')
    .option('--input <file>', "read records from this file instead of the task's source path")
    .option(
      '--state-dir <dir>',
      'ledger and lock folder (default: $IDEM_STATE_DIR, else .idem/ next to the task file)',
    )
    .option('--concurrency <n>', 'records checked at once')
    .option('--wait <duration>', 'wait this long for the lock instead of exiting 75')
    .option('--json', 'NDJSON records and a summary on stdout')
    .option('-v, --verbose', 'also print records that need no change')
    .option('-q, --quiet', 'print only problems and the counts')
    .addHelpText(
      'after',
      `
The plan binds the input (sha256), the task file (sha256) and this idem's version:
idem apply refuses it when any of them changed.

Examples:
  $ idem plan tasks/provision-users.ts --input /srv/hr/export.csv --out tonight.plan
  $ less tonight.plan                                  # one line per record with its diffs
  $ idem apply tonight.plan --input /srv/hr/export.csv`,
    )
    .action((taskFile: string, flags: PlanFlags) => action(planCommand(taskFile, flags, overrides)));
}
