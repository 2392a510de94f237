import { added, type Diff } from './diff.ts';
import { errorMessage, InDoubtError, kindOf } from './errors.ts';
import type { Step, StepEnv } from './step.ts';

/** Errors that say the effect never reached the far side: nothing was sent. */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether a failed effect certainly did not happen: the author threw a
 * TransientError or PermanentError (a statement that nothing was done), or the
 * connection was never made. Anything else (a timeout, a dropped connection, an
 * unknown error) may have happened after all, and stays in doubt.
 */
function certainlyNotDone(err: unknown): boolean {
  const kind = kindOf(err);
  if (kind !== undefined) return kind === 'transient' || kind === 'permanent';
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NEVER_CONNECTED.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Options for {@link once}. */
export interface OnceOptions {
  /**
   * The effect is safe to send again (it carries an idempotency key the far side
   * honours). An intent without completion is then retried instead of `in-doubt`.
   * @default false
   */
  resendable?: boolean;
}

/**
 * A side effect that cannot be checked (a mail, a POST with no matching GET).
 * The ledger records the intent durably before the effect and its completion
 * after it, keyed by (task, record key, name) across all runs:
 *
 * - done before: `ok`, never repeated;
 * - an intent without completion (a crash in between): the record is `in-doubt`
 *   until an operator settles it with `idem resolve`;
 * - never seen: the effect runs.
 *
 * When the effect throws a `TransientError` or `PermanentError`, or cannot even
 * connect (ECONNREFUSED, ENOTFOUND), it certainly did not happen: the intent is
 * dropped and the error handled as usual (a transient one is retried). Any other
 * error leaves the record in doubt.
 *
 * @example
 * once('welcome-mail', async (r, ctx) => ctx.mailer.send(r.mail, 'Welcome'))
 */
export function once<R = any, C = any>(
  name: string,
  effect: (record: R, ctx: C, env: StepEnv) => Promise<unknown> | unknown,
  options: OnceOptions = {},
): Step<R, C, Diff> {
  return {
    name,
    async check(_record, _ctx, env) {
      const state = await env.effects.get(name);
      if (state === 'done') return undefined;
      if (state === 'intent') {
        if (options.resendable) return { changes: [added(`once:${name}`, 'resend (idempotent)')] };
        throw new InDoubtError(
          `effect ${name} for ${env.key} may or may not have happened (its intent was recorded, its completion ` +
            `never was); check by hand, then settle it: idem resolve <task> ${env.key} --effect ${name} --done (it ` +
            'happened) or --retry (it did not)',
          name,
        );
      }
      // Safe to send again (an idempotency key the far side honours): nothing to hold.
      const first = options.resendable ? 'run' : await env.effects.firstTime(name);
      if (first === 'adopted') return undefined;
      if (first === 'held') {
        throw new InDoubtError(
          `effect ${name} for ${env.key} is held: the ledger has no record of it, yet the target already holds ` +
            `${env.key}, and the ledger looks lost or rebuilt (no earlier run of this task, or its history says the effect ` +
            `happened). If the population was onboarded before, adopt it: idem run <task> --adopt-effects; or settle ` +
            `this one: idem resolve <task> ${env.key} --effect ${name} --done (it happened) or --retry (send it)`,
          name,
        );
      }
      return { changes: [added(`once:${name}`)] };
    },
    async apply(record, ctx, _diff, env) {
      await env.effects.intent(name);
      try {
        await effect(record, ctx, env);
      } catch (err) {
        if (certainlyNotDone(err)) await env.effects.abandon(name, env.redact(errorMessage(err)));
        throw err;
      }
      await env.effects.done(name);
    },
  };
}
