import { added, type Diff } from './diff.ts';
import { InDoubtError } from './errors.ts';
import type { Step, StepEnv } from './step.ts';

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
          `effect ${name} for ${env.key} may or may not have happened (intent recorded, no completion); ` +
            `check by hand, then run: idem resolve <task-file> ${env.key} --effect ${name} --done|--retry`,
          name,
        );
      }
      return { changes: [added(`once:${name}`)] };
    },
    async apply(record, ctx, _diff, env) {
      await env.effects.intent(name);
      await effect(record, ctx, env);
      await env.effects.done(name);
    },
  };
}
