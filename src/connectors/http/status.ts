import { PermanentError, TransientError } from '../../core/errors.ts';

/** Statuses worth retrying: the request was not processed, or the server asks to come back. */
const TRANSIENT_STATUS = new Set([408, 412, 429, 502, 503, 504]);

/**
 * `Retry-After` in ms: delta-seconds or an HTTP date; `undefined` when absent
 * or unreadable.
 *
 * @example parseRetryAfter('2') // 2000
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * A transient HTTP failure; the engine waits `retryAfterMs` (from `Retry-After`) before the retry.
 * @example if (err instanceof http.HttpTransientError && err.status === 429) ...
 */
export class HttpTransientError extends TransientError {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'HttpTransientError';
  }
}

/**
 * A permanent HTTP failure (a 4xx other than 408/412/429, a 500, a redirect).
 * @example classify: (err) => (err instanceof http.HttpPermanentError && err.status === 409 ? 'transient' : undefined)
 */
export class HttpPermanentError extends PermanentError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'HttpPermanentError';
  }
}

/**
 * Turns a non-2xx response into its error: 408, 412 (someone changed the
 * resource since our GET), 429, 502, 503 and 504 are transient, honouring
 * `Retry-After`; every other status is permanent.
 */
export function statusError(
  method: string,
  url: string,
  status: number,
  headers: Headers,
  body: string,
): HttpTransientError | HttpPermanentError {
  const excerpt = body.trim().replace(/\s+/g, ' ').slice(0, 300);
  const message = `${method} ${url} answered ${status}${excerpt ? `: ${excerpt}` : ''}`;
  if (TRANSIENT_STATUS.has(status)) {
    return new HttpTransientError(message, status, parseRetryAfter(headers.get('retry-after')));
  }
  if (status >= 300 && status < 400) {
    const to = headers.get('location');
    return new HttpPermanentError(
      `${message}; redirects are not followed${to ? ` (to ${to}); point the URL at the final address` : ''}`,
      status,
    );
  }
  return new HttpPermanentError(message, status);
}
