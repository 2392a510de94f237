import { dirname } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import type { RunInfo } from '../core/ledger.ts';
import { OUTCOMES, type Outcome } from '../core/outcome.ts';
import { recordLines } from '../report/format.ts';
import { runLines } from '../report/ledger-format.ts';
import { recordJson } from '../report/ledger-json.ts';
import { EXIT } from './exit-codes.ts';
import { STATE_DIR_HELP } from './flags.ts';
import { printAnswer, runView, withLedger } from './ledger-access.ts';
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
  return withLedger(place, target?.name, async (open) => {
    let run: RunInfo | undefined;
    if (runRef === 'last') {
      if (!target) throw new UsageError('`idem show last` needs --task <task>: the last run of which task?');
      run = await open.ledger.latestRun(target.name);
    } else run = open.reader.run(runRef);
    if (!run || (target && run.task !== target.name)) {
      throw new UsageError(
        `no run ${runRef}${target ? ` of task ${target.name}` : ''} in the ledger ${open.path} (${place.how}); ` +
          'list the runs with idem runs <task>',
      );
    }
    const all = flags.verbose || filter !== undefined;
    const live = { outcomes: ['changed', 'failed', 'invalid', 'in-doubt'] as Outcome[], absorbed: true };
    const records = open.reader.results(run.id, filter ?? (all ? {} : live));
    const shown = await runView(open, run);
    const { dryRun, inputPath, pid, host, task, options } = run;
    const taskDir = typeof options.taskFile === 'string' ? dirname(options.taskFile) : undefined;
    printAnswer(
      flags.json,
      () => ({ ledger: open.path, run: shown, records: records.map(recordJson) }),
      (style) => [
        `run of task ${task}, input ${inputPath}, pid ${pid} on ${host}`,
        ...runLines(shown, style),
        '',
        ...records.flatMap((r) => recordLines(r, style, { dryRun, taskDir, stack: Boolean(flags.verbose) })),
        ...(records.length === 0
          ? [style.dim(all ? 'no records match' : 'no record changed or failed')]
          : []),
      ],
    );
    return EXIT.ok;
  });
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
