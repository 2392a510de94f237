import { AmbiguousError, InvalidRecordError, PermanentError, TransientError } from '../../core/errors.ts';
import { statusError } from './status.ts';

/**
 * One request. `body` is sent as JSON.
 * @example const req: HttpRequest = { method: 'PUT', url: urlPath`users/${r.login}`, body: { mail: r.mail } };
 */
export interface HttpRequest {
  method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** Absolute, or relative to the client's `baseUrl`. */
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
}

/**
 * A response with its body read.
 * @example const user = (await ctx.http.request(req, env.signal)).json() as { mail?: string };
 */
export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON; a permanent error if it is not JSON. */
  json(): unknown;
}

/**
 * What the `http` steps talk to. {@link client} is the real one, over Node's fetch.
 *
 * @example
 * const res = await ctx.http.request({ method: 'GET', url: '/users/ada' }, env.signal);
 */
export interface HttpClient {
  /**
   * Sends a request and reads the response. A 2xx or a status in `accept`
   * resolves; any other status throws a classified error (see `statusError`).
   */
  request(req: HttpRequest, signal: AbortSignal, accept?: number[]): Promise<HttpResponse>;
}

/**
 * What a task's `connect` returns so that the `http` steps find their client.
 * @example
 * interface Ctx extends http.HttpContext {}
 * connect: (): Ctx => ({ http: http.client({ baseUrl: 'https://api.example.com/v2/' }) })
 */
export interface HttpContext {
  http: HttpClient;
}

/**
 * Options for {@link client}.
 * @example http.client({ baseUrl: 'https://api.example.com/', timeoutMs: 10_000 })
 */
export interface HttpClientOptions {
  /**
   * Relative URLs (`users/ada` or `/users/ada`) are resolved under it, and must stay there.
   * @example baseUrl: 'https://api.example.com/v2/'
   */
  baseUrl?: string;
  /**
   * Headers sent with every request. Declare tokens secret.
   * @example headers: { authorization: `Bearer ${setup.readSecret({ env: 'API_TOKEN' })}` }
   */
  headers?: Record<string, string>;
  /** Give up on a request after this many ms. @default 30_000 */
  timeoutMs?: number;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * Resolves a URL against the base: an absolute URL is used as it is; a relative
 * one (with or without a leading `/`) goes under the base, and one that would
 * leave it (`../`, `%2e%2e/`) makes the record invalid.
 *
 * @example
 * resolveUrl('/users/ada', 'https://h/api/') // https://h/api/users/ada
 * resolveUrl('../admin', 'https://h/api/')   // throws InvalidRecordError
 */
export function resolveUrl(url: string, baseUrl: string | undefined): URL {
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return new URL(url);
  if (!baseUrl) throw new PermanentError(`URL ${url} is relative, and the HTTP client has no baseUrl`);
  const base = new URL(baseUrl);
  // A leading '/' is relative to the base too ('/users/ada' under https://h/api/), never another host.
  const resolved = new URL(url.replace(/^\/+/, ''), base.href.endsWith('/') ? base : `${base.href}/`);
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  if (resolved.origin !== base.origin || !`${resolved.pathname}/`.startsWith(prefix)) {
    throw new InvalidRecordError(`URL ${JSON.stringify(url)} leaves the base URL ${baseUrl}`);
  }
  return resolved;
}

const isWrite = (method: string) => method !== 'GET';

/**
 * An HTTP client over Node's fetch. Connection failures are transient; for a
 * write, a failure after the request may have been sent (a reset, a timeout)
 * is ambiguous: the engine re-checks before it tries again. There is nothing
 * to close: fetch keeps its connections in one process-wide pool.
 *
 * @example
 * connect: (setup) => ({
 *   http: http.client({ baseUrl: 'https://api.example.com/', headers: { authorization: setup.secret(token) } }),
 * })
 */
export function client(options: HttpClientOptions = {}): HttpClient {
  const doFetch = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;
  return {
    async request(req, signal, accept = []) {
      const url = resolveUrl(req.url, options.baseUrl);
      // Lower-cased, so that a task's `Content-Type` and our default are one header.
      const headers: Record<string, string> = {};
      for (const h of [{ accept: 'application/json' }, options.headers, req.headers]) {
        for (const [k, v] of Object.entries(h ?? {})) headers[k.toLowerCase()] = v;
      }
      if (req.body !== undefined) headers['content-type'] ??= 'application/json';
      const shown = `${req.method} ${url.pathname}${url.search}`;
      let res: Response;
      let text: string;
      try {
        res = await doFetch(url, {
          method: req.method,
          headers,
          redirect: 'manual',
          signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
          ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
        });
        text = await res.text();
      } catch (err) {
        if (signal.aborted) throw new TransientError(`${shown}: cancelled`, { cause: err });
        const timedOut = (err as Error).name === 'TimeoutError';
        const code = (err as { cause?: { code?: string } }).cause?.code;
        const reason = timedOut
          ? `no answer within ${timeoutMs} ms`
          : `${(err as Error).message}${code ? ` (${code})` : ''}`;
        const notSent = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
        if (isWrite(req.method) && !notSent) {
          throw new AmbiguousError(`${shown}: ${reason}; the server may or may not have processed it`, {
            cause: err,
          });
        }
        throw new TransientError(`${shown}: ${reason}`, { cause: err });
      }
      if ((res.status < 200 || res.status > 299) && !accept.includes(res.status)) {
        throw statusError(req.method, `${url.pathname}${url.search}`, res.status, res.headers, text);
      }
      return {
        status: res.status,
        headers: res.headers,
        text,
        json() {
          try {
            return text === '' ? undefined : JSON.parse(text);
          } catch (err) {
            throw new PermanentError(`${shown} answered ${res.status} with a body that is not JSON`, {
              cause: err,
            });
          }
        },
      };
    },
  };
}

/** Finds the step's client: the explicit one, else `ctx.http`. */
export function clientOf(ctx: unknown, explicit: HttpClient | undefined, step: string): HttpClient {
  if (explicit) return explicit;
  const c = (ctx as Partial<HttpContext> | undefined)?.http;
  if (!c || typeof c.request !== 'function') {
    throw new PermanentError(
      `step ${step} needs an HTTP client: return { http: http.client({ baseUrl }) } from the task's connect`,
    );
  }
  return c;
}
