/**
 * Error classes. Every failure carries a class that decides what the engine does:
 *
 * - `transient`: retried (check first, then apply again if still needed);
 * - `permanent`: never retried; the record fails;
 * - `ambiguous`: the outcome of a write is unknown (a timeout after sending, a
 *   connection closed before the reply). Retried like a transient error: the retry
 *   re-reads first, and a write found applied counts as `absorbed`.
 */
export type ErrorClass = 'transient' | 'permanent' | 'ambiguous';

/** Tells the class of an error, or `undefined` to let the next classifier decide. */
export type Classifier = (err: unknown) => ErrorClass | undefined;

const CLASS = Symbol.for('idem.errorClass');

/** An error with a known class. Connectors throw these (or set `.idemClass`). */
export class StepError extends Error {
  readonly [CLASS]: ErrorClass;
  constructor(
    readonly errorClass: ErrorClass,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = errorClass === 'permanent' ? 'PermanentError' : 'TransientError';
    this[CLASS] = errorClass;
  }
}

/** A fault worth retrying: busy, unavailable, timed out. */
export class TransientError extends StepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('transient', message, options);
  }
}

/** A fault that a retry cannot fix: no rights, bad data, missing parent. */
export class PermanentError extends StepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('permanent', message, options);
  }
}

/** The effect of a write is unknown; re-read before retrying. */
export class AmbiguousError extends StepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ambiguous', message, options);
    this.name = 'AmbiguousError';
  }
}

/**
 * Thrown by a step when the record's input is unusable (a path escaping its base,
 * say). The record ends `invalid`, not `failed`, and is not retried.
 */
export class InvalidRecordError extends Error {
  readonly idemInvalid = true;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRecordError';
  }
}

/**
 * Thrown by a step's `check` when a non-repeatable side effect may or may not
 * have happened (a `once` intent without its completion). The record ends `in-doubt`.
 */
export class InDoubtError extends Error {
  readonly idemInDoubt = true;
  constructor(
    message: string,
    readonly effect: string,
  ) {
    super(message);
    this.name = 'InDoubtError';
  }
}

/** A mistake of the operator's (usage, config, input) found before any record ran: exit 2. */
export class UsageError extends Error {
  readonly idemUsage = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/** Our bug, not the user's: exit 1. */
export class InternalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InternalError';
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

/** Errors a retry cannot fix, whatever a classifier says. */
export function isInvalid(err: unknown): err is InvalidRecordError {
  return typeof err === 'object' && err !== null && (err as { idemInvalid?: unknown }).idemInvalid === true;
}

export function isInDoubt(err: unknown): err is InDoubtError {
  return typeof err === 'object' && err !== null && (err as { idemInDoubt?: unknown }).idemInDoubt === true;
}

export function isUsageError(err: unknown): err is UsageError {
  return typeof err === 'object' && err !== null && (err as { idemUsage?: unknown }).idemUsage === true;
}

/**
 * The last classifier in the chain: our own error classes, Node's socket error
 * codes, `AbortError`/`TimeoutError`; anything else is permanent.
 */
export const defaultClassify: Classifier = (err) => {
  if (typeof err !== 'object' || err === null) return 'permanent';
  const tagged = (err as { [CLASS]?: ErrorClass })[CLASS] ?? (err as { idemClass?: ErrorClass }).idemClass;
  if (tagged) return tagged;
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
