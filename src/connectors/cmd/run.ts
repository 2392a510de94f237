import { isAbsolute, resolve } from 'node:path';
import { added, type Diff } from '../../core/diff.ts';
import { kindOf, PermanentError, TransientError } from '../../core/errors.ts';
import type { Step, StepEnv } from '../../core/step.ts';
import { type CommandSpec, execCommand, showCommand, tail } from './exec.ts';
import { pathExists } from './path-exists.ts';

/**
 * A read-only command whose exit code says whether the work is needed.
 * @example check: { command: 'getent', args: ['passwd', r.login], done: [0], needed: [2] }
 */
export interface CheckCommand extends Omit<CommandSpec, 'timeout' | 'input'> {
  /** @default the timeout of the command it guards */
  timeout?: number;
  /** Exit codes meaning "already done, nothing to do". @default [0] */
  done?: number[];
  /**
   * Exit codes meaning "the work is needed"; any other code that is not in
   * `done` fails the step. @default every code not in `done`
   */
  needed?: number[];
}

/**
 * Options for {@link run}.
 * @example cmd.run({ command: 'setquota', args: ['-u', '--', r.login, '10G'], timeout: 10_000 })
 */
export interface RunOptions extends CommandSpec {
  /** The step's name in the output and the ledger. @default `run <command>` */
  name?: string;
  /**
   * Guard: run only when this read-only command says the work is needed.
   * @example check: { command: 'id', args: ['-u', '--', r.login] } // exit 0: the user exists
   */
  check?: CheckCommand;
  /** Guard: run only when this path does not exist (relative to `cwd`). @example creates: `/home/${r.login}` */
  creates?: string;
  /** Guard: run only when this path exists (relative to `cwd`). */
  removes?: string;
  /** Exit codes that mean success. @default [0] */
  okExitCodes?: number[];
  /** Exit codes that mean "try again later" (a busy tool). @default [] */
  transientExitCodes?: number[];
}

/**
 * The diff of a command step: the command line that will run, and why.
 * @example { changes: [added('run', 'useradd -m -- ada')], reason: '/home/ada does not exist' }
 */
export interface RunDiff extends Diff {
  reason: string;
}

/**
 * Runs a command, never through a shell, guarded like Ansible's `command`:
 * by a read-only `check` command, or by `creates` / `removes` paths. Its output
 * (secrets redacted) is attached to the record's outcome.
 *
 * A command with no guard cannot tell whether its work is done: it runs, and
 * is reported `changed`, on every run. That is honest, not a bug; add a guard
 * to make it idempotent.
 *
 * It needs nothing from the task's context: any task may run commands.
 *
 * @example
 * cmd.run({
 *   command: 'useradd',
 *   args: ['-m', '-c', r.name, '--', r.login],
 *   check: { command: 'id', args: ['-u', '--', r.login] },
 *   timeout: 30_000,
 * })
 */
export function run(opts: RunOptions): Step<unknown, unknown, RunDiff> {
  const shown = showCommand(opts);
  const name = opts.name ?? `run ${opts.command}`;
  const guarded = Boolean(opts.check || opts.creates || opts.removes);
  const at = (p: string) => (isAbsolute(p) ? p : resolve(opts.cwd ?? process.cwd(), p));

  const why = async (env: StepEnv): Promise<string | undefined> => {
    if (opts.creates !== undefined && (await pathExists(at(opts.creates)))) return undefined;
    if (opts.removes !== undefined && !(await pathExists(at(opts.removes)))) return undefined;
    if (opts.check) {
      const c = opts.check;
      const spec = { ...c, timeout: c.timeout ?? opts.timeout };
      const { exitCode, output } = await execCommand(spec, env.signal).catch((err) => {
        // A read-only check that timed out can simply run again; one that cannot start cannot.
        const message = `check ${showCommand(c)}: ${(err as Error).message}`;
        if (kindOf(err) === 'permanent') {
          throw new PermanentError(message, { cause: err });
        }
        throw new TransientError(message, { cause: err });
      });
      const done = c.done ?? [0];
      if (done.includes(exitCode)) return undefined;
      if (c.needed && !c.needed.includes(exitCode)) {
        throw new PermanentError(
          `check ${showCommand(c)} exited ${exitCode}, which is neither "done" (${done.join(', ')}) nor "needed" (${c.needed.join(', ')}): ${env.redact(tail(output, 500))}`,
        );
      }
      return `check exited ${exitCode}`;
    }
    if (opts.creates !== undefined) return `${opts.creates} does not exist`;
    if (opts.removes !== undefined) return `${opts.removes} exists`;
    return 'no guard: runs every time';
  };

  return {
    name,
    verify: guarded,
    async check(_record, _ctx, env) {
      const reason = await why(env);
      if (reason === undefined) return undefined;
      return { changes: [added('run', shown)], reason };
    },
    async apply(_record, _ctx, _diff, env) {
      const { exitCode, output } = await execCommand(opts, env.signal);
      const text = env.redact(tail(output));
      if (text) env.note(`$ ${env.redact(shown)}\n${text}`);
      if ((opts.okExitCodes ?? [0]).includes(exitCode)) return;
      const message = `${env.redact(shown)} exited ${exitCode}${text ? `: ${env.redact(tail(output, 500))}` : ''}`;
      if (opts.transientExitCodes?.includes(exitCode)) throw new TransientError(message);
      throw new PermanentError(message);
    },
  };
}
