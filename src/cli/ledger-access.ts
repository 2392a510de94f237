import { existsSync } from 'node:fs';
import { UsageError } from '../core/errors.ts';
import type { RunInfo } from '../core/ledger.ts';
import { LedgerReader } from '../ledger/ledger-reader.ts';
import { SqliteLedger } from '../ledger/sqlite-ledger.ts';
import { type RunJson, runJson } from '../report/ledger-json.ts';
import { type Style, styleFor } from '../report/style.ts';
import { ledgerPath } from '../runner/state.ts';
import { stdout } from './output.ts';
import type { StatePlace } from './task-ref.ts';

/** An existing ledger, open for a command: the core's roles and the read side. */
export interface OpenLedger {
  ledger: SqliteLedger;
  reader: LedgerReader;
  path: string;
}

/** What to try next, given how the folder was chosen. */
function whereToLook(place: StatePlace): string {
  return place.how.startsWith('--state-dir')
    ? 'is that the folder the runs use (their --state-dir or IDEM_STATE_DIR)?'
    : 'pass --state-dir <dir> (the folder the runs use) or set IDEM_STATE_DIR, or name the task file (its runs keep .idem/ beside it)';
}

/**
 * The ledger file of a state folder. A folder without one is not an all-clear:
 * it is a usage error (exit 2) that says where idem looked and why there.
 */
export function existingLedgerFile(place: StatePlace, task?: string): string {
  const path = ledgerPath(place.stateDir);
  if (!existsSync(path)) {
    throw new UsageError(
      `no ledger at ${path}${task ? `, so no record of task ${task} there` : ''}: looked in ${place.stateDir} (${place.how}); ${whereToLook(place)}`,
    );
  }
  return path;
}

/** Opens the ledger of a state folder, which must exist (see {@link existingLedgerFile}). */
export function openExistingLedger(place: StatePlace, task?: string): OpenLedger {
  const path = existingLedgerFile(place, task);
  const ledger = new SqliteLedger(path);
  return { ledger, reader: new LedgerReader(ledger.db, path), path };
}

/** Throws unless the ledger knows the task, naming the tasks it does know. */
export function requireTask(open: OpenLedger, place: StatePlace, task: string): void {
  const known = open.reader.tasks();
  if (known.includes(task)) return;
  throw new UsageError(
    `task ${task} has never run with the ledger ${open.path} (${place.how}); ` +
      (known.length ? `it holds the tasks ${known.join(', ')}` : 'it holds no runs') +
      `; ${whereToLook(place)}`,
  );
}

/**
 * Runs a command's reading of the ledger: opens it (it must exist), checks
 * that it knows the task when one is named, and closes it afterwards.
 */
export async function withLedger<T>(
  place: StatePlace,
  task: string | undefined,
  fn: (open: OpenLedger) => Promise<T>,
): Promise<T> {
  const open = openExistingLedger(place, task);
  try {
    if (task) requireTask(open, place, task);
    return await fn(open);
  } finally {
    await open.ledger.close();
  }
}

/**
 * A run as the commands show it: the counts it recorded when it ended, or, for
 * a run that never ended (crashed, running), the outcomes committed so far.
 */
export async function runView(open: OpenLedger, run: RunInfo): Promise<RunJson> {
  if (run.counts) return runJson(run, { counts: run.counts, partial: false });
  return runJson(run, { counts: await open.ledger.countResults(run.id), partial: true });
}

/** A command's answer: one JSON document with --json, else the human lines (coloured on a TTY). */
export function printAnswer(
  json: boolean | undefined,
  doc: () => unknown,
  human: (style: Style) => string[],
): void {
  if (json) stdout.write(`${JSON.stringify(doc())}\n`);
  else stdout.write(`${human(styleFor(stdout, process.env)).join('\n')}\n`);
}
