import { kindOf } from '../core/errors.ts';
import type { RunSummary } from '../core/reporter.ts';

/** Exit codes, documented in the README. Decided here and nowhere else. */
export const EXIT = {
  /** Every record ok or changed. */
  ok: 0,
  /** A bug in idem. */
  internal: 1,
  /** Usage, configuration or input error found before any record was processed. */
  usage: 2,
  /** Finished, but some records are failed, invalid or in-doubt. */
  failures: 3,
  /** Stopped; resume later: the circuit breaker, a target or the ledger that could not be used. */
  aborted: 4,
  /** With --detailed-exitcode only: success, and changes were made (or are pending in a dry run). */
  changes: 5,
  /** Refused by a guard before any change (a budget, the deletion guard): a person must look. */
  refused: 6,
  /** The lock is held by another run. */
  locked: 75,
  sigint: 130,
  /** The standard output's reader went away (`| head`): the run stopped as on SIGINT. */
  sigpipe: 141,
  sigterm: 143,
} as const;

/** The exit code of a run that ended with a summary. */
export function exitCodeFor(
  s: RunSummary,
  opts: { detailedExitcode: boolean; signal?: 'SIGINT' | 'SIGTERM' | 'SIGPIPE' | undefined },
): number {
  switch (s.status) {
    case 'interrupted':
      return opts.signal === 'SIGTERM'
        ? EXIT.sigterm
        : opts.signal === 'SIGPIPE'
          ? EXIT.sigpipe
          : EXIT.sigint;
    case 'refused':
      return EXIT.refused;
    case 'crashed':
    case 'superseded':
    case 'aborted':
      return EXIT.aborted;
    case 'completed-with-failures':
      return EXIT.failures;
    case 'running':
      return EXIT.internal;
    case 'succeeded':
    case 'planned':
      return opts.detailedExitcode && s.counts.changed > 0 ? EXIT.changes : EXIT.ok;
  }
}

/** The exit code of a command that ended with an error, from the error's kind. */
export function exitCodeForError(err: unknown): number {
  if (err instanceof ExitError) return err.code;
  switch (kindOf(err)) {
    case 'usage':
      return EXIT.usage;
    case 'locked':
      return EXIT.locked;
    case 'refused':
      return EXIT.refused;
    case 'unavailable':
    case 'ledger':
      return EXIT.aborted;
    default:
      return EXIT.internal;
  }
}

/** An error that carries its exit code; only the CLI entry turns it into `process.exit`. */
export class ExitError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}
