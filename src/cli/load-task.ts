import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorMessage, UsageError } from '../core/errors.ts';
import type { TaskDefinition } from '../core/task.ts';

let hooked = false;

/** Registers tsx (TypeScript without a build step) and the `idem` import alias, once. */
async function installLoaders(): Promise<void> {
  if (hooked) return;
  hooked = true;
  const tsx = await import('tsx/esm/api');
  tsx.register();
  // Registered after tsx so that it runs first and sees tsx's answer.
  const entry = new URL('../index.js', import.meta.url).href;
  register(new URL('./resolve-hook.js', import.meta.url), { data: { entry } });
}

/** Loads a task file (TypeScript or JavaScript) and checks its default export. */
export async function loadTask(file: string): Promise<{ task: TaskDefinition<any, any>; path: string }> {
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`task file ${path} does not exist`);
  await installLoaders();
  let mod: { default?: unknown };
  try {
    mod = await import(pathToFileURL(path).href);
  } catch (err) {
    throw new UsageError(`cannot load task file ${path}: ${errorMessage(err)}`, { cause: err });
  }
  const task = mod.default as TaskDefinition<any, any> | undefined;
  const problems: string[] = [];
  if (!task || typeof task !== 'object')
    problems.push('it has no default export; use `export default defineTask({...})`');
  else {
    if (typeof task.name !== 'string' || !task.name) problems.push('`name` is missing');
    if (!task.source || typeof task.source.open !== 'function')
      problems.push('`source` is missing (e.g. csv(path))');
    if (typeof task.key !== 'string' && typeof task.key !== 'function') problems.push('`key` is missing');
    if (!Array.isArray(task.steps) && typeof task.steps !== 'function') problems.push('`steps` is missing');
  }
  if (problems.length > 0) throw new UsageError(`task file ${path} is not a task: ${problems.join('; ')}`);
  return { task: task as TaskDefinition<any, any>, path };
}
