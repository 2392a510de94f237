import type { Reporter } from '../core/reporter.ts';
import { HumanReporter, type Verbosity } from './human-reporter.ts';
import { JsonReporter } from './json-reporter.ts';
import { Progress } from './progress.ts';
import { styleFor } from './style.ts';

/** A stream the reporters write to, and what they may ask of it. */
export interface OutStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** What decides how a run is shown. */
export interface ReporterChoice {
  /** NDJSON on stdout; human lines on stderr. */
  json: boolean;
  verbosity: Verbosity;
  stdout: OutStream;
  stderr: OutStream;
  env: Record<string, string | undefined>;
  /** The task's folder: an unexpected error in a step points at the task's file and line. */
  taskDir?: string;
  /** The real terminal stream behind `stderr`, for the live progress line. @default stderr */
  terminal?: NodeJS.WriteStream;
}

/**
 * Picks the renderer, as listr2 does: a live progress line only on a real
 * terminal of known width and never in CI or cron; colour only on a TTY and
 * never with NO_COLOR; NDJSON records on stdout with `--json`.
 */
export async function chooseReporter(c: ReporterChoice): Promise<{
  reporter: Reporter;
  human: HumanReporter;
  progress?: Progress;
}> {
  const humanOut = c.json ? c.stderr : c.stdout;
  const live = c.stderr.isTTY === true && (c.stderr.columns ?? 0) > 0 && c.verbosity !== 'quiet' && !c.env.CI;
  const progress = live ? await Progress.on(c.terminal ?? (c.stderr as NodeJS.WriteStream)) : undefined;
  const human = new HumanReporter({
    out: humanOut,
    err: c.stderr,
    style: styleFor(humanOut, c.env),
    verbosity: c.verbosity,
    records: !c.json,
    ...(c.taskDir ? { taskDir: c.taskDir } : {}),
    ...(progress ? { progress } : {}),
  });
  const reporter = c.json ? new JsonReporter(c.stdout, human) : human;
  return { reporter, human, ...(progress ? { progress } : {}) };
}
