import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa, type Options } from 'execa';
import { tempDir as makeTempDir } from './temp.ts';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const BIN = join(ROOT, 'bin', 'idem.js');
/** The built CLI with test-only faults (IDEM_CRASH_AT, IDEM_CRASH_AFTER, IDEM_CRASH_IN_COMMIT, IDEM_LEDGER_FAIL_AFTER), see faulty-idem.mjs. */
export const FAULTY_BIN = join(ROOT, 'test', 'support', 'faulty-idem.mjs');

/** Runs the built CLI the way cron would: no TTY, no colour, a fixed environment. */
export function idem(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; bin?: string } & Options = {},
) {
  const { env, bin, ...rest } = opts;
  return execa(process.execPath, [bin ?? BIN, ...args], {
    reject: false,
    cwd: opts.cwd ?? ROOT,
    env: { NO_COLOR: '1', ...env },
    ...rest,
  });
}

/** Parses NDJSON stdout into events. */
export function ndjson(stdout: unknown): Record<string, any>[] {
  return String(stdout)
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

/** A temp folder under the repository's .test-tmp/, removed when the test file ends. */
export function tempDir(prefix = 'idem-e2e-'): string {
  return makeTempDir(prefix);
}

export function writeCsv(dir: string, name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Opens a ledger read-only for assertions. */
export function openLedger(stateDir: string): Database.Database {
  return new Database(join(stateDir, 'ledger.db'), { readonly: true, fileMustExist: true });
}
