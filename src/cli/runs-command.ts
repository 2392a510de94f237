import type { Command } from 'commander';
import { runLines } from '../report/ledger-format.ts';
import { runJson } from '../report/ledger-json.ts';
import { styleFor } from '../report/style.ts';
import { localTime } from '../report/time.ts';
import { parseTimePoint } from './duration.ts';
import { EXIT } from './exit-codes.ts';
import { parsed, positiveInt, STATE_DIR_HELP } from './flags.ts';
import { openExistingLedger, requireTask } from './ledger-access.ts';
import { stdout } from './output.ts';
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
  const open = openExistingLedger(target, target.name);
  try {
    requireTask(open, target, target.name);
    const runs = open.reader
      .runs(target.name, { limit, ...(since !== undefined ? { since } : {}) })
      .map((run) => runJson(run, open.reader.countsOf(run)));
    if (flags.json) {
      stdout.write(`${JSON.stringify({ task: target.name, ledger: open.path, runs })}\n`);
      return EXIT.ok;
    }
    const style = styleFor(stdout, process.env);
    const lines = runs.flatMap((r) => runLines(r, style));
    const range = since === undefined ? '' : ` since ${localTime(since)}`;
    if (runs.length === 0) lines.push(`no runs of task ${target.name}${range}`);
    lines.push(
      style.dim(`${runs.length} run(s) of task ${target.name}${range}, newest first · ledger ${open.path}`),
    );
    stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  } finally {
    await open.ledger.close();
  }
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
