import { readFileSync } from 'node:fs';
import { errorMessage, UsageError } from '../core/errors.ts';
import type { Redactor } from '../core/redact.ts';
import type { SetupContext } from '../core/task.ts';

/**
 * The secrets this process took out of its environment, by variable name, so
 * that a second read (a second connection, a second `run()` in one process)
 * still finds them.
 */
const taken = new Map<string, string>();

/**
 * Removes a secret's variable from the environment `connect` sees and from
 * `process.env`, so that no child inherits it. (The kernel's copy of the
 * environment the process started with, `/proc/PID/environ`, cannot be changed
 * from Node: pass secrets as `*_FILE` to keep them out of it.)
 */
function takeOutOfEnvironment(name: string, value: string, env: NodeJS.ProcessEnv): void {
  taken.set(name, value);
  if (env[name] === value) Reflect.deleteProperty(env, name);
  if (process.env[name] === value) delete process.env[name];
}

/** The real SetupContext: env, secrets from env vars or files, LIFO cleanups. */
export function createSetupContext(opts: {
  taskDir: string;
  stateDir: string;
  concurrency: number;
  env: NodeJS.ProcessEnv;
  redactor: Redactor;
  warn: (message: string) => void;
}): { setup: SetupContext; close: () => Promise<string[]> } {
  const cleanups: (() => unknown)[] = [];
  const setup: SetupContext = {
    taskDir: opts.taskDir,
    stateDir: opts.stateDir,
    env: opts.env,
    concurrency: opts.concurrency,
    secret: (value) => opts.redactor.add(value),
    readSecret: ({ env, fileEnv }) => {
      const direct = opts.env[env] || taken.get(env);
      if (direct) {
        takeOutOfEnvironment(env, direct, opts.env);
        return opts.redactor.add(direct);
      }
      const file = fileEnv ? opts.env[fileEnv] : undefined;
      if (file) {
        try {
          return opts.redactor.add(readFileSync(file, 'utf8').replace(/\r?\n$/, ''));
        } catch (err) {
          throw new UsageError(
            `cannot read the secret file ${file} named by ${fileEnv}: ${errorMessage(err)}`,
          );
        }
      }
      throw new UsageError(
        `a secret is missing: set ${env}${fileEnv ? ` or ${fileEnv} (a file holding it)` : ''}`,
      );
    },
    onClose: (fn) => {
      cleanups.push(fn);
    },
    warn: opts.warn,
  };
  const close = async () => {
    const errors: string[] = [];
    while (cleanups.length > 0) {
      const fn = cleanups.pop() as () => unknown;
      try {
        await fn();
      } catch (err) {
        errors.push(errorMessage(err));
      }
    }
    return errors;
  };
  return { setup, close };
}
