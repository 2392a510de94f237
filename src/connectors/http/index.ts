/**
 * The `http` connector, over Node's fetch: GET-checked PUTs, and POSTs sent
 * once with a deterministic Idempotency-Key.
 *
 * @example
 * import { http } from 'idem';
 * connect: (setup) => ({ http: http.client({ baseUrl: 'https://api.example.com/' }) }),
 * steps: (r) => [
 *   http.ensureResource({ url: http.urlPath`/users/${r.login}`, desired: { mail: r.mail } }),
 *   http.post({ url: '/invites', body: { login: r.login } }),
 * ]
 */
export {
  client,
  type HttpClient,
  type HttpClientOptions,
  type HttpContext,
  type HttpRequest,
  type HttpResponse,
} from './client.ts';
export { type EnsureResourceOptions, ensureResource, type ResourceDiff } from './ensure-resource.ts';
export { type PostOptions, post } from './post.ts';
export { HttpPermanentError, HttpTransientError } from './status.ts';
export { urlPath } from './url-path.ts';
