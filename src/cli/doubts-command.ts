import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { SqliteLedger } from '../ledger/sqlite-ledger.ts';
import { ledgerPath } from '../runner/state.ts';
import { EXIT } from './exit-codes.ts';
import { resolveTaskRef } from './task-ref.ts';

/** `idem doubts <task>`: the records whose `once` effect may or may not have happened. */
export async function doubtsCommand(
  ref: string,
  opts: { stateDir?: string; json?: boolean },
): Promise<number> {
  const { name, stateDir } = await resolveTaskRef(ref, opts.stateDir);
  const path = ledgerPath(stateDir);
  if (!existsSync(path)) {
    process.stdout.write(opts.json ? '' : `no ledger at ${path}: task ${name} has never run there\n`);
    return EXIT.ok;
  }
  const ledger = new SqliteLedger(path);
  try {
    const doubts = await ledger.listEffects(name, 'intent');
    for (const d of doubts) {
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ type: 'in-doubt', task: d.task, key: d.key, effect: d.effect, runId: d.runId, intentAt: new Date(d.intentAt).toISOString() })}\n`,
        );
      } else {
        process.stdout.write(
          `in-doubt ${d.key}: effect ${d.effect} (intent recorded ${new Date(d.intentAt).toISOString()} in run ${d.runId}, no completion)\n`,
        );
      }
    }
    if (!opts.json) {
      process.stdout.write(
        doubts.length === 0
          ? `no in-doubt effects for task ${name}\n`
          : `${doubts.length} in-doubt; check each by hand, then: idem resolve ${ref} <key> --effect <name> --done (it happened) or --retry (it did not)\n`,
      );
    }
    return doubts.length > 0 ? EXIT.failures : EXIT.ok;
  } finally {
    await ledger.close();
  }
}

export function registerDoubts(program: Command, action: (code: Promise<number>) => void): void {
  program
    .command('doubts')
    .description('list records whose once-effect may or may not have happened (intent without completion)')
    .argument('<task>', 'a task file, or a task name with --state-dir')
    .option(
      '--state-dir <dir>',
      'ledger folder (default: $IDEM_STATE_DIR, else .idem/ next to the task file)',
    )
    .option('--json', 'one NDJSON line per in-doubt effect')
    .addHelpText(
      'after',
      `
Exit code 3 when there are in-doubt effects, 0 when there are none.

Examples:
  $ idem doubts tasks/onboard-accounts.ts
  $ idem doubts onboard-accounts --state-dir /var/lib/idem --json`,
    )
    .action((ref: string, opts) => action(doubtsCommand(ref, opts)));
}
