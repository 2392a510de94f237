import type { Command } from 'commander';
import { isoTime, localTime } from '../report/time.ts';
import { EXIT } from './exit-codes.ts';
import { STATE_DIR_HELP } from './flags.ts';
import { withLedger } from './ledger-access.ts';
import { stdout } from './output.ts';
import { resolveTaskRef } from './task-ref.ts';

/**
 * `idem doubts <task>`: the records whose `once` effect may or may not have
 * happened. No ledger there, or a task that never ran there, is an error
 * (exit 2) naming where it looked, never a false all-clear.
 */
export async function doubtsCommand(
  ref: string,
  opts: { stateDir?: string; json?: boolean },
): Promise<number> {
  const target = await resolveTaskRef(ref, opts.stateDir);
  return withLedger(target, target.name, async (open) => {
    const doubts = await open.ledger.listEffects(target.name, 'intent');
    const lines = doubts.map((d) =>
      opts.json
        ? JSON.stringify({
            type: 'in-doubt',
            task: d.task,
            key: d.key,
            effect: d.effect,
            runId: d.runId,
            intentAt: isoTime(d.intentAt),
          })
        : `in-doubt ${d.key}: effect ${d.effect} (intent recorded ${localTime(d.intentAt)} in run ${d.runId}, no completion)`,
    );
    if (!opts.json)
      lines.push(
        doubts.length === 0
          ? `no in-doubt effects for task ${target.name} (ledger ${open.path})`
          : `${doubts.length} in-doubt; check each by hand, then: idem resolve ${ref} <key> --effect <name> --done (it happened) or --retry (it did not)`,
      );
    if (lines.length > 0) stdout.write(`${lines.join('\n')}\n`);
    return doubts.length > 0 ? EXIT.failures : EXIT.ok;
  });
}

export function registerDoubts(program: Command, action: (code: Promise<number>) => void): void {
  program
    .command('doubts')
    .description('list records whose once-effect may or may not have happened (intent without completion)')
    .argument('<task>', 'a task file, or a task name with --state-dir')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--json', 'one NDJSON line per in-doubt effect')
    .addHelpText(
      'after',
      `
Exit code 3 when there are in-doubt effects, 0 when there are none, 2 when there is no ledger there or
the task never ran with it (the message says where it looked).

Examples:
  $ idem doubts tasks/onboard-accounts.ts
  $ idem doubts onboard-accounts --state-dir /var/lib/idem --json`,
    )
    .action((ref: string, opts) => action(doubtsCommand(ref, opts)));
}
