import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { errorMessage, isUsageError } from '../core/errors.ts';
import { registerDoubts } from './doubts-command.ts';
import { EXIT, ExitError } from './exit-codes.ts';
import { registerResolve } from './resolve-command.ts';
import { registerRun } from './run-command.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** Turns an outcome of a command into an exit code. The only place that calls process.exit. */
async function finish(code: Promise<number>): Promise<never> {
  let exit: number;
  try {
    exit = await code;
  } catch (err) {
    if (err instanceof ExitError) {
      process.stderr.write(`${err.message}\n`);
      exit = err.code;
    } else if (isUsageError(err)) {
      process.stderr.write(`idem: ${errorMessage(err)}\n`);
      exit = EXIT.usage;
    } else {
      process.stderr.write(
        `idem: internal error (a bug in idem, please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      exit = EXIT.internal;
    }
  }
  process.exitCode = exit;
  // Let stdout drain before leaving (NDJSON piped to another process).
  await new Promise<void>((r) => process.stdout.write('', () => r()));
  process.exit(exit);
}

export function buildProgram(): Command {
  const program = new Command('idem')
    .description('Batch automation that is safe to run twice: check, apply what differs, verify, remember.')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  $ idem run tasks/onboard-accounts.ts --dry-run   # preview what would change
  $ idem run tasks/onboard-accounts.ts             # apply it; run again and it changes nothing
  $ idem run tasks/provision-users.ts --resume     # continue after a crash
  $ idem doubts tasks/onboard-accounts.ts          # effects that may or may not have happened`,
    );
  const act = (code: Promise<number>) => {
    void finish(code);
  };
  registerRun(program, act);
  registerDoubts(program, act);
  registerResolve(program, act);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
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
    throw err;
  }
}
