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
  /**
   * Variables to set in the command's environment. The command does not
   * inherit idem's environment: it gets only `PATH`, `HOME`, `LANG`, `LC_*`,
   * `TZ`, `USER`, `LOGNAME`, `SHELL` and `TMPDIR` from it (those that are set),
   * the names in `passEnv`, and these.
   * @example env: { LC_ALL: 'C' }
   */
  env?: Record<string, string>;
  /**
   * Names of idem's own environment variables to pass on besides those; a
   * name ending in `*` passes every variable with that prefix. A secret read
   * through `setup.readSecret` is no longer in idem's environment: pass it in
   * `env` if the command needs it.
   * @example passEnv: ['KRB5CCNAME', 'http_proxy']
   */
  passEnv?: readonly string[];
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
 * The variables a command inherits from idem's environment unless told
 * otherwise: `PATH`, `HOME`, `LANG`, every `LC_*`, `TZ`, `USER`, `LOGNAME`,
 * `SHELL`, `TMPDIR` (and on Windows the few it cannot start without).
 */
export const DEFAULT_PASS_ENV: readonly string[] = [
  'PATH',
  'HOME',
  'LANG',
  'LC_*',
  'TZ',
  'USER',
  'LOGNAME',
  'SHELL',
  'TMPDIR',
  ...(process.platform === 'win32' ? ['SystemRoot', 'ComSpec', 'PATHEXT', 'WINDIR', 'TEMP', 'TMP'] : []),
];

/**
 * The whole environment of a command: the allowed part of `from`, then `spec.env`.
 * @example childEnvironment({ env: { A: '1' } }, { PATH: '/bin', SECRET: 'x' }) // { PATH: '/bin', A: '1' }
 */
export function childEnvironment(
  spec: Pick<CommandSpec, 'env' | 'passEnv'>,
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const names = [...DEFAULT_PASS_ENV, ...(spec.passEnv ?? [])];
  const allowed = (name: string) =>
    names.some((n) => (n.endsWith('*') ? name.startsWith(n.slice(0, -1)) : name === n));
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(from)) {
    if (value !== undefined && allowed(name)) env[name] = value;
  }
  return { ...env, ...spec.env };
}

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
    extendEnv: false,
    env: childEnvironment(spec),
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
