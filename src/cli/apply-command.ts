import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import { readPlanFile } from '../runner/plan-file.ts';
import { whoAmI } from '../runner/run.ts';
import { IDEM_VERSION } from '../runner/version.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';
import { fileDigest } from './file-digest.ts';
import type { CliOverrides } from './main.ts';
import { executeRun, type RunFlags } from './run-command.ts';

/** The flags of `idem apply`. */
export type ApplyFlags = Pick<
  RunFlags,
  'input' | 'stateDir' | 'json' | 'verbose' | 'quiet' | 'concurrency' | 'wait' | 'grace'
>;

/**
 * `idem apply FILE`: applies exactly a plan saved by `idem plan`. Refused
 * whole when the plan file was edited, or its task file, idem version or input
 * changed; record by record, a record whose target changed since the plan is
 * refused and listed, the others are applied. Applying it again is a no-op.
 */
export async function applyCommand(
  file: string,
  flags: ApplyFlags,
  overrides: CliOverrides = {},
): Promise<number> {
  const plan = await readPlanFile(file);
  const h = plan.header;
  const digest = await fileDigest(h.taskFile).catch(() => undefined);
  if (digest !== h.taskDigest) {
    throw new UsageError(
      `plan ${file}: the task file ${h.taskFile} ${digest ? 'changed' : 'is gone'} since the plan was made; make the plan again with idem plan`,
    );
  }
  if (h.idemVersion !== IDEM_VERSION) {
    throw new UsageError(
      `plan ${file} was made by idem ${h.idemVersion}, this is ${IDEM_VERSION}; make the plan again with idem plan`,
    );
  }
  const { summary, signal } = await executeRun(
    h.taskFile,
    { ...flags, input: flags.input ?? h.input },
    overrides,
    {
      applyPlan: {
        hash: h.summary.hash,
        inputDigest: h.inputDigest,
        records: plan.records,
        appliedBy: whoAmI(),
      },
    },
  );
  const code = exitCodeFor(summary, { detailedExitcode: false, signal });
  if (code === EXIT.ok && summary.counts.drifted > 0) {
    process.stderr.write(
      `idem: ${summary.counts.drifted} record(s) no longer match plan ${h.summary.hash.slice(0, 12)} and were not applied (listed above); make a new plan for them\n`,
    );
    return EXIT.failures;
  }
  return code;
}

export function registerApply(
  program: Command,
  action: (code: Promise<number>) => void,
  overrides: CliOverrides = {},
): void {
  program
    .command('apply')
    .description(
      'apply exactly a plan saved by idem plan; records whose target changed since are refused and listed',
    )
    .argument('<plan-file>', 'the file idem plan --out wrote')
    .option(
      '--input <file>',
      'the input the plan was made from (default: the path the plan names); must be unchanged',
    )
    .option(
      '--state-dir <dir>',
      'ledger and lock folder (default: $IDEM_STATE_DIR, else .idem/ next to the task file)',
    )
    .option('--concurrency <n>', 'records applied at once')
    .option('--wait <duration>', 'wait this long for the lock instead of exiting 75')
    .option('--grace <duration>', 'on SIGINT/SIGTERM, how long in-flight records may finish (default 10s)')
    .option('--json', 'NDJSON records and a summary on stdout')
    .option('-v, --verbose', 'also print records that needed no change')
    .option('-q, --quiet', 'print only problems and the counts')
    .addHelpText(
      'after',
      `
Exit codes: 0 applied, 3 some records no longer matched the plan (not applied) or failed, 2 the plan file,
its task file, idem's version or the input changed (nothing applied), 75 lock held.

Examples:
  $ idem plan tasks/provision-users.ts --out tonight.plan && less tonight.plan
  $ idem apply tonight.plan
  $ idem apply tonight.plan --json > applied.ndjson`,
    )
    .action((file: string, flags: ApplyFlags) => action(applyCommand(file, flags, overrides)));
}
