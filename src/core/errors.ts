/**
 * The one error vocabulary. Every error idem makes or recognises carries one
 * {@link ErrorKind}, and the kind alone decides what happens next:
 *
 * | kind          | who    | what idem does                                              |
 * | ------------- | ------ | ----------------------------------------------------------- |
 * | `transient`   | target | retried, each retry starting from `check`                   |
 * | `ambiguous`   | target | a write may have landed: retried the same way; a retry that finds it done is `absorbed` |
 * | `permanent`   | target | the record fails; never retried                              |
 * | `invalid`     | input  | the record ends `invalid`; never retried                     |
 * | `in-doubt`    | effect | a `once` effect may have happened: the record ends `in-doubt` |
 * | `refused`     | guard  | the run stops before the change; exit 4                      |
 * | `usage`       | operator | a mistake in flags, config or input found before any record: exit 2 |
 * | `unavailable` | target | the target cannot be reached when the task connects: exit 4  |
 * | `ledger`      | idem's state | the ledger cannot be read or written: the run stops at once, exit 4 |
 * | `locked`      | another run | the task's lock is held: exit 75, try again later           |
 * | `internal`    | idem   | our bug: exit 1                                              |
 */
export type ErrorKind =
  | 'transient'
  | 'ambiguous'
  | 'permanent'
  | 'invalid'
  | 'in-doubt'
  | 'refused'
  | 'usage'
  | 'unavailable'
  | 'ledger'
  | 'locked'
  | 'internal';

/**
 * The kinds a classifier may give a target's error: they decide whether a step is retried.
 * @example const cls: ErrorClass = 'transient';
 */
export type ErrorClass = 'transient' | 'permanent' | 'ambiguous';

/**
 * Tells the class of an error, or `undefined` to let the next classifier decide.
 * @example const classify: Classifier = (err) => ((err as { status?: number }).status === 429 ? 'transient' : undefined);
 */
export type Classifier = (err: unknown) => ErrorClass | undefined;

const KIND = Symbol.for('idem.errorKind');

/** The kind an error carries, or `undefined` for an error idem did not make. */
export function kindOf(err: unknown): ErrorKind | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  return (err as { [KIND]?: ErrorKind })[KIND];
}

/**
 * An error with a kind. Connectors subclass it (`ldap.LdapError`) or throw the
 * named subclasses below.
 *
 * @example
 * throw new IdemError('transient', 'the API answered 503');
 */
export class IdemError extends Error {
  readonly [KIND]: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this[KIND] = kind;
    this.name = NAMES[kind];
  }

  /** What kind of failure this is. */
  get kind(): ErrorKind {
    return this[KIND];
  }
}

const NAMES: Record<ErrorKind, string> = {
  transient: 'TransientError',
  ambiguous: 'AmbiguousError',
  permanent: 'PermanentError',
  invalid: 'InvalidRecordError',
  'in-doubt': 'InDoubtError',
  refused: 'GuardRefusal',
  usage: 'UsageError',
  unavailable: 'UnavailableError',
  ledger: 'LedgerError',
  locked: 'LockHeldError',
  internal: 'InternalError',
};

/**
 * A fault worth retrying: busy, unavailable, timed out before anything was sent.
 * @example throw new TransientError('the relay is busy; try again');
 */
export class TransientError extends IdemError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('transient', message, options);
  }
}

/**
 * A fault that a retry cannot fix: no rights, bad data, missing parent.
 * @example throw new PermanentError(`no write rights on ${dn}`);
 */
export class PermanentError extends IdemError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('permanent', message, options);
  }
}

/**
 * The effect of a write is unknown (a timeout after sending); re-read before retrying.
 * @example throw new AmbiguousError('the connection closed before the reply', { cause: err });
 */
export class AmbiguousError extends IdemError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ambiguous', message, options);
  }
}

/**
 * Thrown by a step when the record's input is unusable (a path escaping its base,
 * say). The record ends `invalid`, not `failed`, and is not retried.
 * @example throw new InvalidRecordError(`home path ${p} leaves /home`);
 */
export class InvalidRecordError extends IdemError {
  constructor(message: string) {
    super('invalid', message);
  }
}

/**
 * Thrown by a step's `check` when a non-repeatable side effect may or may not
 * have happened (a `once` intent without its completion). The record ends `in-doubt`.
 * @example throw new InDoubtError('the mail may have gone out', 'welcome-mail');
 */
export class InDoubtError extends IdemError {
  constructor(
    message: string,
    readonly effect: string,
  ) {
    super('in-doubt', message);
  }
}

/**
 * A mistake of the operator's (usage, config, input) found before any record ran: exit 2.
 * @example throw new UsageError('IDEM_LDAP_BIND_DN is not set');
 */
export class UsageError extends IdemError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('usage', message, options);
  }
}

/** The target could not be reached when the task connected: exit 4, run again later. */
export class UnavailableError extends IdemError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unavailable', message, options);
  }
}

/** The ledger cannot be read or written (disk full, read-only, damaged): the run stops at once. */
export class LedgerError extends IdemError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ledger', message, options);
  }
}

/** Our bug, not the user's: exit 1. */
export class InternalError extends IdemError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('internal', message, options);
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'EBUSY',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
]);

const RETRY_CLASSES = new Set<ErrorKind>(['transient', 'permanent', 'ambiguous']);

/**
 * The last classifier in the chain: our own kinds, Node's socket error codes,
 * `TimeoutError`; anything else is permanent.
 */
export const defaultClassify: Classifier = (err) => {
  if (typeof err !== 'object' || err === null) return 'permanent';
  const kind = kindOf(err);
  if (kind !== undefined) return RETRY_CLASSES.has(kind) ? (kind as ErrorClass) : 'permanent';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return 'transient';
  const name = (err as { name?: unknown }).name;
  if (name === 'TimeoutError') return 'ambiguous';
  const cause = (err as { cause?: unknown }).cause;
  if (cause && cause !== err) {
    const fromCause = defaultClassify(cause);
    if (fromCause !== 'permanent') return fromCause;
  }
  return 'permanent';
};

/** Runs classifiers in order; the first answer wins, `defaultClassify` last. */
export function classifyWith(...classifiers: (Classifier | undefined)[]): (err: unknown) => ErrorClass {
  return (err) => {
    for (const c of classifiers) {
      const r = c?.(err);
      if (r) return r;
    }
    return defaultClassify(err) ?? 'permanent';
  };
}

/** A one-line message for an error, with its causes. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const parts = [err.message];
    let cause = err.cause;
    let depth = 0;
    while (cause && depth < 3) {
      const m = cause instanceof Error ? cause.message : String(cause);
      if (m && !parts.some((p) => p.includes(m))) parts.push(m);
      cause = cause instanceof Error ? cause.cause : undefined;
      depth++;
    }
    return parts.join(': ');
  }
  return String(err);
}
