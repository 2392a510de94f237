import { AmbiguousError, PermanentError, TransientError } from '../../core/errors.ts';

/**
 * A program and its arguments. Never run through a shell.
 * @example const spec: CommandSpec = { command: 'useradd', args: ['-m', '--', r.login], timeout: 30_000 };
 */
export interface CommandSpec {
  /** The program: a name looked up in PATH, or a path. */
  command: string;
  /**
   * Its arguments, passed as they are (no shell, no globbing, no splitting).
   * Put record values after `--` when the program supports it, so that a value
   * starting with `-` cannot become an option.
   * @example args: ['-m', '-s', '/bin/bash', '--', r.login]
   */
  args?: readonly string[];
  /** Extra environment variables (added to idem's own environment). */
  env?: Record<string, string>;
  /** Working folder. @default the current folder */
  cwd?: string;
  /** Kill it after this many ms. */
  timeout: number;
  /** Text written to its stdin (stdin is empty otherwise). */
  input?: string;
}

/**
 * How a command ended.
 * @example const { exitCode, output }: CommandResult = await execCommand(spec, env.signal);
 */
export interface CommandResult {
  exitCode: number;
  /** stdout and stderr, interleaved as they came. */
  output: string;
}

const MAX_NOTE = 4000;

/**
 * How a command line is shown: quoted for reading, never for a shell.
 * @example showCommand({ command: 'useradd', args: ['-c', 'Ada L', '--', 'ada'] }) // "useradd -c 'Ada L' -- ada"
 */
export function showCommand(spec: Pick<CommandSpec, 'command' | 'args'>): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return [spec.command, ...(spec.args ?? [])].map(quote).join(' ');
}

/** The tail of a long output, so a note stays readable. */
export function tail(text: string, max = MAX_NOTE): string {
  return text.length <= max ? text : `…${text.slice(-max)}`;
}

/**
 * Runs a command with execa (`shell: false`) and returns its exit code and
 * output. A program that cannot start is a permanent error; a timeout is
 * ambiguous (it may have done part of its work); an abort of the run is transient.
 *
 * @example
 * const { exitCode } = await execCommand({ command: 'getent', args: ['passwd', '--', r.login], timeout: 5000 }, env.signal);
 */
export async function execCommand(spec: CommandSpec, signal: AbortSignal): Promise<CommandResult> {
  const args = [...(spec.args ?? [])];
  if ([spec.command, ...args].some((a) => typeof a !== 'string' || a.includes('\0'))) {
    throw new PermanentError(`command ${spec.command}: arguments must be strings without NUL bytes`);
  }
  // execa is loaded when a task first runs a command, not by every task.
  const { execa } = await import('execa');
  const r = await execa(spec.command, args, {
    shell: false,
    reject: false,
    all: true,
    timeout: spec.timeout,
    cancelSignal: signal,
    extendEnv: true,
    ...(spec.env ? { env: spec.env } : {}),
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
    ...(spec.input !== undefined ? { input: spec.input } : { stdin: 'ignore' as const }),
  });
  const output = typeof r.all === 'string' ? r.all : '';
  const shown = showCommand(spec);
  if (r.timedOut) {
    throw new AmbiguousError(
      `${shown} timed out after ${spec.timeout} ms; it may have done part of its work`,
    );
  }
  if (r.isCanceled) throw new TransientError(`${shown} was cancelled`);
  if (r.exitCode === undefined) {
    if (r.signal) throw new AmbiguousError(`${shown} was killed by ${r.signal}`);
    throw new PermanentError(`${shown} could not be run: ${r.shortMessage ?? r.message}`, { cause: r.cause });
  }
  return { exitCode: r.exitCode, output };
}
