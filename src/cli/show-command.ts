import { dirname } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import { OUTCOMES, type Outcome } from '../core/outcome.ts';
import { recordLines } from '../report/format.ts';
import { runLines } from '../report/ledger-format.ts';
import { recordJson, runJson } from '../report/ledger-json.ts';
import { styleFor } from '../report/style.ts';
import { EXIT } from './exit-codes.ts';
import { STATE_DIR_HELP } from './flags.ts';
import { openExistingLedger, requireTask } from './ledger-access.ts';
import { stdout } from './output.ts';
import { resolveTaskRef, type StatePlace, statePlace } from './task-ref.ts';

export interface ShowFlags {
  task?: string;
  stateDir?: string;
  json?: boolean;
  outcome?: string;
  verbose?: boolean;
}

/** `--outcome changed,failed`: outcomes, and `absorbed` for records a retry found done. */
function outcomeFilter(text: string | undefined): { outcomes: Outcome[]; absorbed: boolean } | undefined {
  if (text === undefined) return undefined;
  const words = text
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean);
  const wrong = words.filter((w) => w !== 'absorbed' && !OUTCOMES.includes(w as Outcome));
  if (wrong.length > 0 || words.length === 0)
    throw new UsageError(
      `--outcome takes ${[...OUTCOMES, 'absorbed'].join(', ')} (comma-separated), not "${text}"`,
    );
  return {
    outcomes: words.filter((w): w is Outcome => w !== 'absorbed'),
    absorbed: words.includes('absorbed'),
  };
}

/**
 * `idem show <run-id>`: a run and its records with their diffs and errors, in
 * the live output's format. By default what the live output shows (every
 * record but the no-ops); `-v` all of them, `--outcome` those named.
 */
export async function showCommand(runRef: string, flags: ShowFlags): Promise<number> {
  const filter = outcomeFilter(flags.outcome);
  const target = flags.task ? await resolveTaskRef(flags.task, flags.stateDir) : undefined;
  const place: StatePlace = target ?? statePlace(undefined, flags.stateDir);
  const open = openExistingLedger(place, target?.name);
  try {
    if (target) requireTask(open, place, target.name);
    let run = runRef === 'last' ? undefined : open.reader.run(runRef);
    if (runRef === 'last') {
      if (!target) throw new UsageError('`idem show last` needs --task <task>: the last run of which task?');
      run = await open.ledger.latestRun(target.name);
    }
    if (!run || (target && run.task !== target.name)) {
      throw new UsageError(
        `no run ${runRef}${target ? ` of task ${target.name}` : ''} in the ledger ${open.path} (${place.how}); ` +
          'list the runs with idem runs <task>',
      );
    }
    const all = flags.verbose || filter !== undefined;
    const records = open.reader.results(
      run.id,
      filter ?? (all ? {} : { outcomes: ['changed', 'failed', 'invalid', 'in-doubt'], absorbed: true }),
    );
    const shown = runJson(run, open.reader.countsOf(run));
    if (flags.json) {
      stdout.write(
        `${JSON.stringify({ ledger: open.path, run: shown, records: records.map(recordJson) })}\n`,
      );
      return EXIT.ok;
    }
    const style = styleFor(stdout, process.env);
    const taskFile = typeof run.options.taskFile === 'string' ? run.options.taskFile : undefined;
    const lines = [
      `run of task ${run.task}, input ${run.inputPath}, pid ${run.pid} on ${run.host}`,
      ...runLines(shown, style),
      '',
    ];
    for (const r of records)
      lines.push(
        ...recordLines(r, style, {
          dryRun: run.dryRun,
          taskDir: taskFile ? dirname(taskFile) : undefined,
          stack: Boolean(flags.verbose),
        }),
      );
    if (records.length === 0) lines.push(style.dim(all ? 'no records match' : 'no record changed or failed'));
    stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  } finally {
    await open.ledger.close();
  }
}

export function registerShow(program: Command, action: (code: Promise<number>) => void): void {
  program
    .command('show')
    .description("a run's records with their diffs and errors, as the live output showed them")
    .argument('<run-id>', 'a run id (r-…), or `last` with --task')
    .option('--task <task>', 'the task file or name (finds the ledger as idem run does)')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--outcome <list>', `only these outcomes, comma-separated: ${OUTCOMES.join(', ')}, absorbed`)
    .option('-v, --verbose', 'every record, no-ops included, and the stack of an unexpected error')
    .option('--json', 'one JSON document (docs/schemas/show.schema.json)')
    .addHelpText(
      'after',
      `
Examples:
  $ idem show last --task tasks/provision-users.ts
  $ idem show r-20261124-010003-1a2b --state-dir /var/lib/idem --outcome failed,in-doubt
  $ idem show r-20261124-010003-1a2b --state-dir /var/lib/idem --json | jq '.records[].key'`,
    )
    .action((runRef: string, flags: ShowFlags) => action(showCommand(runRef, flags)));
}
