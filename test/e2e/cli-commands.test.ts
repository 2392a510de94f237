/**
 * The CLI loads only the subcommand it runs (main.ts): what the user sees must
 * not depend on it. The help lists every command, a command's own help and a
 * mistyped command read as before.
 */
import { describe, expect, it } from 'vitest';
import { commandsFor } from '../../src/cli/main.ts';
import { idem } from '../support/cli.ts';

const ALL = [
  'run',
  'plan',
  'apply',
  'status',
  'runs',
  'show',
  'history',
  'doubts',
  'resolve',
  'unlock',
  'ledger',
  'init',
];

describe('the subcommands the CLI loads', () => {
  it('loads the one named first, and every one for the help, a flag or an unknown word', () => {
    expect(commandsFor(['node', 'idem', 'run', 'task.ts', '--json'])).toEqual(['run']);
    expect(commandsFor(['node', 'idem', 'ledger', 'prune'])).toEqual(['ledger']);
    for (const argv of [[], ['--help'], ['help', 'run'], ['runx'], ['--version'], ['constructor']]) {
      expect(commandsFor(['node', 'idem', ...argv])).toEqual(ALL);
    }
  });

  it("idem --help lists every command; idem run --help is run's; a mistyped command is a usage error with suggestions", async () => {
    const help = await idem(['--help']);
    expect(help.exitCode).toBe(0);
    const listed = [...String(help.stdout).matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]);
    expect(listed).toEqual([...ALL, 'help']);
    const run = await idem(['run', '--help']);
    expect(run.exitCode).toBe(0);
    expect(String(run.stdout)).toMatch(/^Usage: idem run \[options\] <task-file>/);
    expect(String(run.stdout)).toContain('--dry-run');
    const typo = await idem(['runx']);
    expect(typo.exitCode).toBe(2);
    expect(String(typo.stderr)).toContain("unknown command 'runx'");
    expect(String(typo.stderr)).toContain('run, runs');
  });
});
