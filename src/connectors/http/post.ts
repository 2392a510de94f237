import { added, type Diff } from '../../core/diff.ts';
import { sha256, stableStringify } from '../../core/hash.ts';
import { once } from '../../core/once.ts';
import type { Step } from '../../core/step.ts';
import { clientOf, type HttpClient, type HttpContext } from './client.ts';

/**
 * Options for {@link post}.
 * @example http.post({ url: 'invites', body: { mail: r.mail }, accept: [409] })
 */
export interface PostOptions {
  /** The step's name; it also names the effect in the ledger. Keep it stable. @default `POST <url>` */
  name?: string;
  url: string;
  /** The JSON payload. */
  body: unknown;
  headers?: Record<string, string>;
  /**
   * The Idempotency-Key to send. By default it is a hash of (task, record
   * key, step name): the same on every retry and every rerun.
   */
  idempotencyKey?: string;
  /** Statuses that also mean success (409 when "already exists" is fine). @default 2xx only */
  accept?: number[];
  /** The client to use instead of `ctx.http`. */
  client?: HttpClient;
}

/**
 * The default Idempotency-Key of a POST step: a hash of (task, record key,
 * step name), the same on every retry and every rerun. The payload's hash is
 * not mixed into the key but bound to it in the ledger: a changed payload
 * under the same key is refused, rather than turned into a fresh key, which
 * the server would take for a new request.
 *
 * @example deriveIdempotencyKey('onboard', 'u42', 'POST /invites') // 'idem-3f0c…' (32 hex digits)
 */
export function deriveIdempotencyKey(task: string, key: string, step: string): string {
  return `idem-${sha256(stableStringify(['idem/http.post/v1', task, key, step])).slice(0, 32)}`;
}

/**
 * {@link post} through its own client, `opts.client`, instead of `ctx.http`:
 * the step needs nothing from the task's context.
 * @example http.post({ url: '/invites', body: { mail: r.mail }, client: crm })
 */
export function post(opts: PostOptions & { client: HttpClient }): Step<unknown, unknown, Diff>;
/**
 * A POST through `ctx.http` that cannot be checked by a GET, sent at most once
 * per record across runs (a `once` effect), with a deterministic
 * `Idempotency-Key` header (IETF draft) so that re-sending it is safe: a retry
 * after a timeout, or a rerun after a crash between the send and its
 * completion, re-sends the same key (a re-sendable effect never ends
 * `in-doubt`). The key's payload hash is kept in the ledger; the same key with
 * another payload is a permanent error, not a silent re-send. Once done, a
 * rerun sends nothing, even if the payload has changed since: a POST creates
 * something once; keep it in line with {@link ensureResource}.
 *
 * @example
 * http.post({ url: '/invites', body: { mail: r.mail, team: r.team } })
 */
export function post(opts: PostOptions): Step<unknown, HttpContext, Diff>;
export function post(opts: PostOptions): Step<unknown, unknown, Diff> {
  const name = opts.name ?? `POST ${opts.url}`;
  const payloadHash = sha256(stableStringify(opts.body ?? null));
  const effect = once<unknown, unknown>(
    name,
    async (_record, ctx, env) => {
      const key = opts.idempotencyKey ?? deriveIdempotencyKey(env.task, env.key, env.step);
      await env.effects.claimIdempotencyKey(key, payloadHash);
      const http = clientOf(ctx, opts.client, name);
      const res = await http.request(
        {
          method: 'POST',
          url: opts.url,
          headers: { ...opts.headers, 'idempotency-key': key },
          body: opts.body,
        },
        env.signal,
        opts.accept ?? [],
      );
      env.note(`POST ${opts.url} -> ${res.status} (Idempotency-Key ${key})`);
    },
    { resendable: true },
  );
  return {
    ...effect,
    async check(record, ctx, env) {
      const diff = await effect.check(record, ctx, env);
      if (!diff) return diff;
      const resend = (await env.effects.get(name)) === 'intent';
      return { changes: [added('POST', resend ? `${opts.url} (re-send, same Idempotency-Key)` : opts.url)] };
    },
  };
}
