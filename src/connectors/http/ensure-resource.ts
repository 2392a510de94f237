import { added, type Change, type Diff, modified, removed } from '../../core/diff.ts';
import { PermanentError } from '../../core/errors.ts';
import { stableStringify } from '../../core/hash.ts';
import type { Step } from '../../core/step.ts';
import { clientOf, type HttpClient, type HttpContext } from './client.ts';

/**
 * Options for {@link ensureResource}.
 * @example http.ensureResource({ url: urlPath`users/${r.login}`, desired: { mail: r.mail }, mode: 'merge' })
 */
export interface EnsureResourceOptions {
  /** The step's name in the output and the ledger. @default `PUT <url>` */
  name?: string;
  /** The resource, GET and PUT alike. Build it with `urlPath` from record values. */
  url: string;
  /**
   * The JSON fields it must have. Leave out fields the server never returns
   * (a password): a GET could never confirm them.
   */
  desired: Record<string, unknown>;
  /**
   * `merge`: only the fields in `desired` are managed, others are kept.
   * `exact`: fields not in `desired` are removed.
   * @default 'merge'
   */
  mode?: 'merge' | 'exact';
  /** Fields whose values are never printed. */
  secret?: string[];
  /** Extra headers for both requests. */
  headers?: Record<string, string>;
  /** The client to use instead of `ctx.http`. */
  client?: HttpClient;
}

/**
 * The diff of {@link ensureResource}: what to PUT and the ETag it was computed from.
 * @example { changes: [modified('mail', 'a@x', 'b@x')], create: false, body: { mail: 'b@x' }, etag: '"v3"' }
 */
export interface ResourceDiff extends Diff {
  create: boolean;
  body: Record<string, unknown>;
  etag?: string;
}

const same = (a: unknown, b: unknown) => stableStringify(a) === stableStringify(b);

/**
 * {@link ensureResource} through its own client, `opts.client`, instead of
 * `ctx.http`: the step needs nothing from the task's context.
 * @example http.ensureResource({ url: urlPath`/users/${r.login}`, desired: { mail: r.mail }, client: hr })
 */
export function ensureResource(
  opts: EnsureResourceOptions & { client: HttpClient },
): Step<unknown, unknown, ResourceDiff>;
/**
 * A JSON resource made to hold the desired fields, through `ctx.http`: a GET
 * checks (404: it is created), a PUT applies. When the GET gave an ETag the
 * PUT carries `If-Match`, so a resource changed in between is not overwritten:
 * the server answers 412, and the retry checks again. Reports `+field`,
 * `~field: a -> b` and (exact mode) `-field`.
 *
 * @example
 * http.ensureResource({ url: urlPath`/users/${r.login}`, desired: { name: r.name, mail: r.mail } })
 */
export function ensureResource(opts: EnsureResourceOptions): Step<unknown, HttpContext, ResourceDiff>;
export function ensureResource(opts: EnsureResourceOptions): Step<unknown, unknown, ResourceDiff> {
  const name = opts.name ?? `PUT ${opts.url}`;
  const secret = new Set(opts.secret ?? []);
  const hide = (field: string) => ({ secret: secret.has(field) });
  return {
    name,
    async check(_record, ctx, env) {
      const http = clientOf(ctx, opts.client, name);
      const res = await http.request(
        { method: 'GET', url: opts.url, ...(opts.headers ? { headers: opts.headers } : {}) },
        env.signal,
        [404, 410],
      );
      if (res.status === 404 || res.status === 410) {
        const changes = Object.entries(opts.desired).map(([f, v]) => added(f, v, hide(f)));
        return { changes, create: true, creates: 1, body: { ...opts.desired } };
      }
      const current = res.json();
      if (typeof current !== 'object' || current === null || Array.isArray(current)) {
        throw new PermanentError(`GET ${opts.url} did not answer a JSON object`);
      }
      const cur = current as Record<string, unknown>;
      const changes: Change[] = [];
      for (const [f, v] of Object.entries(opts.desired)) {
        if (!(f in cur) || cur[f] === null) {
          if (v !== null && v !== undefined) changes.push(added(f, v, hide(f)));
        } else if (!same(cur[f], v)) changes.push(modified(f, cur[f], v, hide(f)));
      }
      if (opts.mode === 'exact') {
        for (const f of Object.keys(cur)) if (!(f in opts.desired)) changes.push(removed(f, cur[f], hide(f)));
      }
      if (changes.length === 0) return undefined;
      const body = opts.mode === 'exact' ? { ...opts.desired } : { ...cur, ...opts.desired };
      const etag = res.headers.get('etag');
      return { changes, create: false, body, ...(etag ? { etag } : {}) };
    },
    async apply(_record, ctx, diff, env) {
      const http = clientOf(ctx, opts.client, name);
      const headers = { ...opts.headers, ...(diff.etag ? { 'if-match': diff.etag } : {}) };
      await http.request({ method: 'PUT', url: opts.url, headers, body: diff.body }, env.signal);
    },
  };
}
