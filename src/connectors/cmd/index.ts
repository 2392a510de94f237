/**
 * The `cmd` connector: programs run with execa, never through a shell, guarded
 * by a check command or by `creates` / `removes` paths.
 *
 * @example
 * import { cmd } from 'idem';
 * steps: (r) => [
 *   cmd.run({ command: 'useradd', args: ['-m', '--', r.login], creates: `/home/${r.login}`, timeout: 30_000 }),
 * ]
 */
export { type CheckCommand, type RunDiff, type RunOptions, run } from './run.ts';
