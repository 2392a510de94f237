import type { Command } from 'commander';
import { historyLine } from '../report/ledger-format.ts';
import { eventJson } from '../report/ledger-json.ts';
import { localTime } from '../report/time.ts';
import { parseTimePoint } from './duration.ts';
import { EXIT } from './exit-codes.ts';
import { parsed, STATE_DIR_HELP } from './flags.ts';
import { printAnswer, withLedger } from './ledger-access.ts';
import { resolveTaskRef } from './task-ref.ts';

export interface HistoryFlags {
  stateDir?: string;
  json?: boolean;
  since?: string;
}

/**
 * `idem history <task> <key>`: every line the append-only history holds for
 * one record, across runs: each attempt, retry, absorbed retry, failure and
 * outcome, the `once` effects and their resolutions, and the runs' own
 * resumptions, crashes and supersessions. The audit trail.
 */
export async function historyCommand(ref: string, key: string, flags: HistoryFlags): Promise<number> {
  const since = parsed(flags.since, '--since', (t) => parseTimePoint(t, Date.now()));
  const target = await resolveTaskRef(ref, flags.stateDir);
  return withLedger(target, target.name, async (open) => {
    const events = open.reader.history(target.name, key, since);
    const range = since === undefined ? '' : ` since ${localTime(since)}`;
    const runs = new Set(events.map((e) => e.runId)).size;
    printAnswer(
      flags.json,
      () => ({ task: target.name, key, ledger: open.path, events: events.map(eventJson) }),
      (style) => [
        ...events.map((e) => historyLine(e, style)),
        style.dim(
          events.length === 0
            ? `no history for ${key} in task ${target.name}${range} · ledger ${open.path}`
            : `${events.length} line(s) over ${runs} run(s) for ${key} in task ${target.name}${range} · ledger ${open.path}`,
        ),
      ],
    );
    return EXIT.ok;
  });
}

export function registerHistory(program: Command, action: (code: Promise<number>) => void): void {
  program
    .command('history')
    .description(
      'the audit trail of one record across runs: attempts, retries, absorbed, crashes, resolutions',
    )
    .argument('<task>', 'a task file or a task name')
    .argument('<key>', 'the record key')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--since <when>', 'only lines since then: an age (7d, 12h) or a date (2026-11-01)')
    .option('--json', 'one JSON document (docs/schemas/history.schema.json)')
    .addHelpText(
      'after',
      `
Examples:
  $ idem history tasks/provision-users.ts ada --since 7d
  $ idem history provision-users ada --state-dir /var/lib/idem --json`,
    )
    .action((ref: string, key: string, flags: HistoryFlags) => action(historyCommand(ref, key, flags)));
}
