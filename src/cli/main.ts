import { Command, CommanderError } from 'commander';
import { errorMessage } from '../core/errors.ts';
import type { Ledger } from '../core/ledger.ts';
import { IDEM_VERSION } from '../runner/version.ts';
import { registerApply } from './apply-command.ts';
import { registerDoubts } from './doubts-command.ts';
import { EXIT, ExitError, exitCodeForError } from './exit-codes.ts';
import { registerHistory } from './history-command.ts';
import { registerInit } from './init-command.ts';
import { registerLedger } from './ledger-command.ts';
import { stderr, stdout } from './output.ts';
import { registerPlan } from './plan-command.ts';
import { registerResolve } from './resolve-command.ts';
import { registerRun } from './run-command.ts';
import { registerRuns } from './runs-command.ts';
import { registerShow } from './show-command.ts';
import { registerStatus } from './status-command.ts';
import { registerUnlock } from './unlock-command.ts';

/** What a test harness may change in a command's wiring (never set in production). */
export interface CliOverrides {
  /** Wraps the ledger a command opens (fault injection, crash points). */
  wrapLedger?: (ledger: Ledger) => Ledger;
}

/** The message an error leaves on stderr: ours plainly, a bug with its stack. */
function describeFailure(err: unknown, code: number): string {
  if (err instanceof ExitError) return err.message;
  if (code !== EXIT.internal) return `idem: ${errorMessage(err)}`;
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return `idem: internal error (a bug in idem, please report it): ${detail}`;
}

/**
 * Turns the outcome of a command into the process's exit. This and the
 * commander errors in `main` are the only places that call `process.exit`.
 */
async function finish(code: Promise<number>): Promise<never> {
  let exit: number;
  try {
    exit = await code;
  } catch (err) {
    exit = exitCodeForError(err);
    stderr.write(`${describeFailure(err, exit)}\n`);
  }
  process.exitCode = exit;
  // Let stdout drain before leaving (NDJSON piped to another process); a closed one has nothing to drain.
  await stdout.drain();
  process.exit(exit);
}

export function buildProgram(overrides: CliOverrides = {}): Command {
  const program = new Command('idem')
    .description('Batch automation that is safe to run twice: check, apply what differs, verify, remember.')
    .version(IDEM_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  $ idem run tasks/onboard-accounts.ts --dry-run   # preview what would change
  $ idem run tasks/onboard-accounts.ts             # apply it; run again and it changes nothing
  $ idem run tasks/provision-users.ts --resume     # continue after a crash
  $ idem status tasks/onboard-accounts.ts          # did last night's run succeed? (exit 3: needs attention)
  $ idem show last --task tasks/onboard-accounts.ts # what it changed, with the diffs
  $ idem history tasks/onboard-accounts.ts ada     # everything that happened to one record
  $ idem doubts tasks/onboard-accounts.ts          # effects that may or may not have happened`,
    );
  const act = (code: Promise<number>) => {
    void finish(code);
  };
  registerRun(program, act, overrides);
  registerPlan(program, act, overrides);
  registerApply(program, act, overrides);
  registerStatus(program, act);
  registerRuns(program, act);
  registerShow(program, act);
  registerHistory(program, act);
  registerDoubts(program, act);
  registerResolve(program, act);
  registerUnlock(program, act);
  registerLedger(program, act);
  registerInit(program, act);
  return program;
}

export async function main(argv: string[], overrides: CliOverrides = {}): Promise<void> {
  const program = buildProgram(overrides);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok =
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help';
      process.exit(ok ? EXIT.ok : EXIT.usage);
    }
    await finish(Promise.reject(err));
  }
}
