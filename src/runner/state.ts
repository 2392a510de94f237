import { dirname, join, resolve } from 'node:path';

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
