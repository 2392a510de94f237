import { existsSync } from 'node:fs';
import { stateDirFor } from '../runner/state.ts';
import { loadTask } from './load-task.ts';

/**
 * `doubts` and `resolve` take a task file (its name and its state folder come
 * from it) or a bare task name (state folder from --state-dir / IDEM_STATE_DIR / ./.idem).
 */
export async function resolveTaskRef(ref: string, stateDirFlag: string | undefined) {
  if (/\.(ts|mts|js|mjs)$/.test(ref) || existsSync(ref)) {
    const { task, path } = await loadTask(ref);
    return { name: task.name, stateDir: stateDirFor(path, stateDirFlag, process.env) };
  }
  return { name: ref, stateDir: stateDirFor(undefined, stateDirFlag, process.env) };
}
