/**
 * The `fs` connector: folders, files and lines under a base folder the task
 * declares. Paths from record values cannot leave it.
 *
 * @example
 * import { defineTask, csv, fs } from 'idem';
 * export default defineTask({
 *   name: 'homes',
 *   source: csv('accounts.csv'),
 *   key: 'login',
 *   connect: (setup) => ({ fs: fs.root(`${setup.taskDir}/../srv`) }),
 *   steps: (r) => [
 *     fs.ensureDir(`homes/${r.login}`, { mode: 0o750 }),
 *     fs.ensureFile(`homes/${r.login}/.profile`, `user = "${r.login}"\n`),
 *     fs.ensureLine('access.list', `${r.login} ${r.role}`, { match: new RegExp(`^${r.login} `) }),
 *   ],
 * });
 */
export { writeAtomic } from './atomic-write.ts';
export { type EnsureAbsentOptions, ensureAbsent } from './ensure-absent.ts';
export { type EnsureDirOptions, ensureDir } from './ensure-dir.ts';
export { type EnsureFileOptions, ensureFile } from './ensure-file.ts';
export { type EnsureLineOptions, ensureLine } from './ensure-line.ts';
export { type FsContext, type FsRoot, root } from './root.ts';
export type { FileContent, Template } from './template.ts';
