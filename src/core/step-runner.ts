import pRetry from 'p-retry';
import type { Clock } from './clock.ts';
import { type Diff, formatChange } from './diff.ts';
import {
  type ErrorClass,
  errorMessage,
  InternalError,
  isInDoubt,
  isInvalid,
  PermanentError,
} from './errors.ts';
import type { Ledger } from './ledger.ts';
import type { Reporter } from './reporter.ts';
import type { Step, StepEnv } from './step.ts';
import type { RetryPolicy } from './task.ts';

/** How one step of one record ended. */
export type StepResult =
  | { kind: 'ok'; attempts: number }
  | { kind: 'changed'; diff: Diff; attempts: number }
  | { kind: 'absorbed'; diff: Diff; attempts: number }
  | { kind: 'pending'; diff: Diff; attempts: number }
  | { kind: 'failed'; error: unknown; errorClass: ErrorClass; attempts: number }
  | { kind: 'invalid'; error: unknown; attempts: number }
  | { kind: 'in-doubt'; error: unknown; attempts: number };

export interface StepRunContext {
  runId: string;
  dryRun: boolean;
  retry: RetryPolicy;
  classify(err: unknown, step: Step): ErrorClass;
  ledger: Ledger;
  reporter: Reporter;
  clock: Clock;
  /** Aborted when in-flight work must stop (after the grace period of an interrupt). */
  signal: AbortSignal;
  redact(text: string): string;
  /** Called before a destructive diff is applied; throws to refuse it. */
  beforeDestructive?(diff: Diff, key: string, step: Step): void;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new InternalError(`a step threw a non-error value: ${String(err)}`);
}

/**
 * Runs one step for one record: check, then (unless a dry run) apply and a
 * verifying re-check. Transient and ambiguous errors are retried with backoff,
 * and every retry starts from `check`, so an apply is never repeated blindly.
 * A retry whose check finds the work done after an apply attempt that failed
 * is `absorbed`.
 */
export async function runStep<R, C>(
  step: Step<R, C>,
  record: R,
  ctx: C,
  baseEnv: Omit<StepEnv, 'attempt' | 'step'>,
  run: StepRunContext,
  budgetEndsAt: number,
): Promise<StepResult> {
  let attempts = 0;
  let applyTried: Diff | undefined;
  let applied: Diff | undefined;
  const key = baseEnv.key;

  const attempt = async (attemptNumber: number): Promise<StepResult> => {
    attempts = attemptNumber;
    const env: StepEnv = { ...baseEnv, step: step.name, attempt: attemptNumber };
    const diff = (await step.check(record, ctx, env)) ?? undefined;
    if (!diff || diff.changes.length === 0) {
      if (applied) return { kind: 'changed', diff: applied, attempts };
      if (applyTried) {
        await run.ledger.appendEvent({
          runId: run.runId,
          key,
          step: step.name,
          kind: 'absorbed',
          attempt: attemptNumber,
          detail: 'the retry found the work already done',
          at: run.clock.now(),
        });
        return { kind: 'absorbed', diff: applyTried, attempts };
      }
      return { kind: 'ok', attempts };
    }
    if (run.dryRun) return { kind: 'pending', diff, attempts };
    // Charged once per step: a retry re-applies the same deletion, it does not add one.
    if (!applyTried) run.beforeDestructive?.(diff, key, step as Step);
    applyTried = diff;
    await run.ledger.appendEvent({
      runId: run.runId,
      key,
      step: step.name,
      kind: 'apply',
      attempt: attemptNumber,
      detail: run.redact(diff.changes.map(formatChange).join('; ')),
      at: run.clock.now(),
    });
    await step.apply(record, ctx, diff, env);
    applied = diff;
    if (step.verify !== false) {
      const left = await step.check(record, ctx, env);
      if (left && left.changes.length > 0) {
        throw new PermanentError(
          `step ${step.name} did not converge: after apply it still reports ${left.changes.map(formatChange).join(', ')}`,
        );
      }
    }
    return { kind: 'changed', diff, attempts };
  };

  const retriable = (err: unknown) => {
    if (isInvalid(err) || isInDoubt(err)) return false;
    const cls = run.classify(err, step);
    return cls === 'transient' || cls === 'ambiguous';
  };

  try {
    const remaining = Math.max(0, budgetEndsAt - run.clock.now());
    return await pRetry(
      async (n) => {
        try {
          return await attempt(n);
        } catch (err) {
          throw asError(err);
        }
      },
      {
        retries: Math.max(0, run.retry.attempts - 1),
        factor: run.retry.factor,
        minTimeout: run.retry.minDelayMs,
        maxTimeout: run.retry.maxDelayMs,
        randomize: run.retry.jitter,
        maxRetryTime: remaining,
        signal: run.signal,
        unref: false,
        shouldRetry: ({ error }) => retriable(error) && !run.signal.aborted,
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          if (!retriable(error) || retriesLeft <= 0 || run.signal.aborted) return;
          const message = run.redact(errorMessage(error));
          await run.ledger.appendEvent({
            runId: run.runId,
            key,
            step: step.name,
            kind: 'retry',
            attempt: attemptNumber,
            detail: `${run.classify(error, step)}: ${message}`,
            at: run.clock.now(),
          });
          const retryAfter = (error as { retryAfterMs?: unknown }).retryAfterMs;
          const delayMs =
            typeof retryAfter === 'number' && retryAfter > 0 ? retryAfter : run.retry.minDelayMs;
          run.reporter.retrying({ key, step: step.name, attempt: attemptNumber, error: message, delayMs });
          if (typeof retryAfter === 'number' && retryAfter > 0) {
            const cap = Math.max(0, budgetEndsAt - run.clock.now());
            await run.clock.sleep(Math.min(retryAfter, cap), run.signal);
          }
        },
      },
    );
  } catch (err) {
    if (isInvalid(err)) return { kind: 'invalid', error: err, attempts: Math.max(attempts, 1) };
    if (isInDoubt(err)) return { kind: 'in-doubt', error: err, attempts: Math.max(attempts, 1) };
    return {
      kind: 'failed',
      error: err,
      errorClass: run.classify(err, step),
      attempts: Math.max(attempts, 1),
    };
  }
}
