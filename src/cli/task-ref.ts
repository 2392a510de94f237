import { existsSync } from 'node:fs';
import { stateDirFor } from '../runner/state.ts';
import { loadTask } from './load-task.ts';

/** A state folder, and how it was chosen (for a message that says where idem looked). */
export interface StatePlace {
  stateDir: string;
  how: string;
}

/** The state folder as `idem run` picks it, with the reason, for messages. */
export function statePlace(
  taskFile: string | undefined,
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): StatePlace {
  const stateDir = stateDirFor(taskFile, flag, env);
  if (flag) return { stateDir, how: `--state-dir ${flag}` };
  if (env.IDEM_STATE_DIR) return { stateDir, how: `IDEM_STATE_DIR=${env.IDEM_STATE_DIR}` };
  if (taskFile) return { stateDir, how: `.idem/ next to the task file ${taskFile}` };
  return {
    stateDir,
    how: `.idem/ in the working directory ${process.cwd()}: no --state-dir, no IDEM_STATE_DIR`,
  };
}

/** A task named on the command line: its name, its file if given one, its state folder. */
export interface TaskRef extends StatePlace {
  name: string;
  taskFile?: string;
}

/**
 * Commands take a task file (its name and its state folder come from it) or a
 * bare task name (state folder from --state-dir / IDEM_STATE_DIR / ./.idem).
 */
export async function resolveTaskRef(ref: string, stateDirFlag: string | undefined): Promise<TaskRef> {
  if (/\.(ts|mts|js|mjs)$/.test(ref) || existsSync(ref)) {
    const { task, path } = await loadTask(ref);
    return { name: task.name, taskFile: path, ...statePlace(path, stateDirFlag) };
  }
  return { name: ref, ...statePlace(undefined, stateDirFlag) };
}
