import { accessSync, constants } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { sqliteFault } from '../ledger/sqlite-fault.ts';
import { assertPrivateFile, ensurePrivateDir } from '../ledger/state-trust.ts';
import { lockFileName } from '../lock/sqlite-lock.ts';

/** The state folder: --state-dir, else IDEM_STATE_DIR, else `.idem/` next to the task file. */
export function stateDirFor(
  taskFile: string | undefined,
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
): string {
  if (flag) return resolve(flag);
  if (env.IDEM_STATE_DIR) return resolve(env.IDEM_STATE_DIR);
  if (taskFile) return join(dirname(resolve(taskFile)), '.idem');
  return resolve('.idem');
}

export const ledgerPath = (stateDir: string) => join(stateDir, 'ledger.db');
export const lockDir = (stateDir: string) => join(stateDir, 'locks');

/** The lock file of a task in the state folder. */
export const lockFile = (stateDir: string, task: string) => join(lockDir(stateDir), lockFileName(task));

/**
 * Checks the state folder before a run's lock and ledger use it, as ssh checks
 * `~/.ssh` (state-trust.ts): created 0700 when missing, else owned by this user,
 * writable by no one else, no symlink, in a parent others cannot write; the same
 * for `locks/` and the task's lock files; and writable (not a read-only mount).
 * Every fault is one line: exit 2 (`usage`), or 4 for a full disk.
 */
export function prepareStateDir(stateDir: string, task: string): void {
  try {
    ensurePrivateDir(stateDir);
    accessSync(stateDir, constants.W_OK | constants.X_OK);
    ensurePrivateDir(lockDir(stateDir));
    assertPrivateFile(lockFile(stateDir, task));
    assertPrivateFile(`${lockFile(stateDir, task)}.json`);
  } catch (err) {
    throw sqliteFault(err, ledgerPath(stateDir), { what: 'prepare the state folder', atOpen: true });
  }
}
