import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorMessage, UsageError } from '../core/errors.ts';
import type { TaskDefinition } from '../core/task.ts';
import { standaloneTask } from './standalone-task.ts';

let hooked = false;

/** Where compiled task files are kept: `$XDG_CACHE_HOME/idem/tasks`, else `~/.cache/idem/tasks`; none without a home. */
function compileCache(): string | undefined {
  const base =
    process.env.XDG_CACHE_HOME || (process.env.HOME ? join(process.env.HOME, '.cache') : undefined);
  return base ? join(base, 'idem', 'tasks') : undefined;
}

/** What `import 'idem'` means in a task: this very installation, the CLI's own module instances. */
const ENTRIES = {
  idem: new URL('../index.js', import.meta.url).href,
  'idem/testing': new URL('../testing.js', import.meta.url).href,
};

/**
 * Registers the task hooks (TypeScript task files compiled by esbuild, the
 * `idem` import alias), once. idem's own modules are loaded by then, natively:
 * the hooks only ever see a task and what it imports.
 */
async function installLoaders(): Promise<void> {
  if (hooked) return;
  hooked = true;
  register(new URL('./task-hooks.js', import.meta.url), {
    data: { entries: ENTRIES, cacheDir: compileCache() },
  });
}

/**
 * The URL to import for a task: its standalone module when it imports only idem
 * and builtins (no hooks, no loader thread: see standalone-task.ts), else the
 * file itself, through the hooks.
 */
async function taskUrl(path: string): Promise<{ url: string; standalone: boolean }> {
  const standalone = await standaloneTask(path, ENTRIES, compileCache()).catch(() => undefined);
  if (standalone) return { url: standalone, standalone: true };
  await installLoaders();
  return { url: pathToFileURL(path).href, standalone: false };
}

/**
 * Imports the task. A cached module can be removed between its check and its
 * import (another run pruned the cache as it wrote its own entry: Node says
 * ERR_MODULE_NOT_FOUND when it resolves, ENOENT when it reads): the task is then
 * compiled again, in memory, once.
 */
async function importTask(url: string, standalone: boolean, path: string): Promise<{ default?: unknown }> {
  try {
    return await import(url);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const gone =
      standalone && url.startsWith('file:') && (code === 'ERR_MODULE_NOT_FOUND' || code === 'ENOENT');
    if (!gone) throw err;
    const again = await standaloneTask(path, ENTRIES, undefined);
    if (!again) throw err;
    return await import(again);
  }
}

/** Loads a task file (TypeScript or JavaScript) and checks its default export. */
export async function loadTask(file: string): Promise<{ task: TaskDefinition<any, any>; path: string }> {
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`task file ${path} does not exist`);
  const { url, standalone } = await taskUrl(path);
  let mod: { default?: unknown };
  try {
    // A standalone task imports idem: its modules load first, before source maps are on, as
    // the CLI's own did. With them on, Node reads and parses every module's .map file as it
    // loads it (71 for tasks/provision-users.ts, 30-40 ms of CPU), and the stack frames of
    // idem's code would name src/ files that an installed package does not have.
    if (standalone) await import(ENTRIES.idem);
    // A task's stack traces name its .ts lines (the compiled code carries an inline source map).
    process.setSourceMapsEnabled(true);
    mod = await importTask(url, standalone, path);
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
