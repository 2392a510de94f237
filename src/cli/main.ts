import { Command, CommanderError } from 'commander';
import { errorMessage } from '../core/errors.ts';
import type { Ledger } from '../core/ledger.ts';
import { IDEM_VERSION } from '../runner/version.ts';
import { EXIT, ExitError, exitCodeForError } from './exit-codes.ts';
import { stderr, stdout } from './output.ts';

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

/** Adds one subcommand (its options, help and action) to the program. */
type Register = (program: Command, action: (code: Promise<number>) => void, overrides: CliOverrides) => void;

/**
 * Each subcommand's module, in the order `--help` lists them. Only the one named
 * on the command line is loaded (all of them for the help and for anything
 * else): `idem run` does not load the modules of the eleven others (about 25 ms
 * of CPU at start-up, measured as the import of main.js against run-command.js).
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  run: async () => (await import('./run-command.ts')).registerRun,
  plan: async () => (await import('./plan-command.ts')).registerPlan,
  apply: async () => (await import('./apply-command.ts')).registerApply,
  status: async () => (await import('./status-command.ts')).registerStatus,
  runs: async () => (await import('./runs-command.ts')).registerRuns,
  show: async () => (await import('./show-command.ts')).registerShow,
  history: async () => (await import('./history-command.ts')).registerHistory,
  doubts: async () => (await import('./doubts-command.ts')).registerDoubts,
  resolve: async () => (await import('./resolve-command.ts')).registerResolve,
  unlock: async () => (await import('./unlock-command.ts')).registerUnlock,
  ledger: async () => (await import('./ledger-command.ts')).registerLedger,
  init: async () => (await import('./init-command.ts')).registerInit,
};

/**
 * The subcommands to load for `argv`: the one it names (its first word, the
 * program taking no options but `--help` and `--version`), else every one.
 */
export function commandsFor(argv: string[]): string[] {
  const first = argv[2];
  return first !== undefined && Object.hasOwn(COMMANDS, first) ? [first] : Object.keys(COMMANDS);
}

/** The program with the subcommands `names` (see `commandsFor`). */
async function buildProgram(overrides: CliOverrides, names: string[]): Promise<Command> {
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
  const registers = await Promise.all(names.map((name) => (COMMANDS[name] as () => Promise<Register>)()));
  for (const register of registers) register(program, act, overrides);
  return program;
}

export async function main(argv: string[], overrides: CliOverrides = {}): Promise<void> {
  const program = await buildProgram(overrides, commandsFor(argv));
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
