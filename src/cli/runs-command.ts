import type { Command } from 'commander';
import { runLines } from '../report/ledger-format.ts';
import { localTime } from '../report/time.ts';
import { parseTimePoint } from './duration.ts';
import { EXIT } from './exit-codes.ts';
import { parsed, positiveInt, STATE_DIR_HELP } from './flags.ts';
import { printAnswer, runView, withLedger } from './ledger-access.ts';
import { resolveTaskRef } from './task-ref.ts';

export interface RunsFlags {
  stateDir?: string;
  json?: boolean;
  limit?: string;
  since?: string;
}

/** `idem runs <task>`: the task's runs, newest first, with status, counts and duration. */
export async function runsCommand(ref: string, flags: RunsFlags): Promise<number> {
  const limit = positiveInt(flags.limit, '--limit') ?? 20;
  const since = parsed(flags.since, '--since', (t) => parseTimePoint(t, Date.now()));
  const target = await resolveTaskRef(ref, flags.stateDir);
  return withLedger(target, target.name, async (open) => {
    const found = open.reader.runs(target.name, { limit, ...(since !== undefined ? { since } : {}) });
    const runs = await Promise.all(found.map((run) => runView(open, run)));
    const range = since === undefined ? '' : ` since ${localTime(since)}`;
    printAnswer(
      flags.json,
      () => ({ task: target.name, ledger: open.path, runs }),
      (style) => [
        ...runs.flatMap((r) => runLines(r, style)),
        ...(runs.length === 0 ? [`no runs of task ${target.name}${range}`] : []),
        style.dim(`${runs.length} run(s) of task ${target.name}${range}, newest first · ledger ${open.path}`),
      ],
    );
    return EXIT.ok;
  });
}

export function registerRuns(program: Command, action: (code: Promise<number>) => void): void {
  program
    .command('runs')
    .description("a task's runs, newest first: id, start (local time), duration, status, counts")
    .argument('<task>', 'a task file or a task name')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--limit <n>', 'at most this many runs (default 20)')
    .option('--since <when>', 'only runs started since then: an age (7d, 12h) or a date (2026-11-01)')
    .option('--json', 'one JSON document (docs/schemas/runs.schema.json)')
    .addHelpText(
      'after',
      `
Examples:
  $ idem runs tasks/provision-users.ts --since 7d
  $ idem runs provision-users --state-dir /var/lib/idem --limit 3 --json`,
    )
    .action((ref: string, flags: RunsFlags) => action(runsCommand(ref, flags)));
}
