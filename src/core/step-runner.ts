import pRetry, { type Options as RetryOptions } from 'p-retry';
import type { Clock } from './clock.ts';
import { type Diff, formatChange } from './diff.ts';
import { type ErrorClass, errorMessage, InternalError, kindOf, PermanentError } from './errors.ts';
import type { Journal } from './journal.ts';
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
  | { kind: 'in-doubt'; error: unknown; attempts: number }
  | { kind: 'stopped'; error: unknown; attempts: number };

/** What every step of a run shares. */
export interface StepRunContext {
  runId: string;
  dryRun: boolean;
  retry: RetryPolicy;
  classify(err: unknown, step: Step): ErrorClass;
  journal: Journal;
  reporter: Reporter;
  clock: Clock;
  /** Aborted when in-flight work must stop (after the grace period of an interrupt). */
  signal: AbortSignal;
  redact(text: string): string;
  /** Called before every apply; throws to refuse it (the deletion guard, a ledger that cannot record). */
  beforeApply(diff: Diff, key: string, step: Step, firstTry: boolean): void;
}

/** Errors that end a record without a retry, whatever a classifier says. */
const FINAL_KINDS = new Set(['invalid', 'in-doubt', 'refused', 'ledger', 'usage', 'locked', 'internal']);

/**
 * One step of one record across its attempts: check, then (unless a dry run)
 * apply and a verifying re-check. Every retry starts from `check`, so an apply
 * is never repeated blindly; a retry whose check finds the work done after an
 * apply attempt that failed is `absorbed`.
 */
class StepAttempts<R, C> {
  attempts = 0;
  private applyTried: Diff | undefined;
  private applied: Diff | undefined;

  constructor(
    private readonly step: Step<R, C>,
    private readonly record: R,
    private readonly ctx: C,
    private readonly baseEnv: Omit<StepEnv, 'attempt' | 'step'>,
    private readonly run: StepRunContext,
    private readonly onFirstApply: ((diff: Diff) => void) | undefined,
  ) {}

  get key(): string {
    return this.baseEnv.key;
  }

  async attempt(n: number): Promise<StepResult> {
    this.attempts = n;
    const b = this.baseEnv;
    // Spelled out, not spread: one allocation of a fixed shape on the hot path of every step.
    const env: StepEnv = {
      task: b.task,
      key: b.key,
      step: this.step.name,
      runId: b.runId,
      attempt: n,
      signal: b.signal,
      effects: b.effects,
      pending: b.pending,
      redact: b.redact,
      note: b.note,
    };
    const checked = this.step.check(this.record, this.ctx, env);
    // A check against memory (a snapshot, a no-op) answers at once: no extra turn of the event loop.
    const diff = (isPromise(checked) ? await checked : checked) ?? undefined;
    if (!diff || diff.changes.length === 0) return this.nothingLeft(n);
    if (this.run.dryRun) return { kind: 'pending', diff, attempts: n };
    // The guard charges a deletion once per step: a retry re-applies it, it does not add one.
    this.run.beforeApply(diff, this.baseEnv.key, this.step as Step, this.applyTried === undefined);
    if (this.applyTried === undefined) this.onFirstApply?.(diff);
    this.applyTried = diff;
    await this.history('apply', n, this.run.redact(diff.changes.map(formatChange).join('; ')));
    await this.step.apply(this.record, this.ctx, diff, env);
    this.applied = diff;
    if (this.step.verify !== false) {
      const left = await this.step.check(this.record, this.ctx, env);
      if (left && left.changes.length > 0) {
        throw new PermanentError(
          `step ${this.step.name} did not converge: after apply it still reports ${left.changes.map(formatChange).join(', ')}`,
        );
      }
    }
    return { kind: 'changed', diff, attempts: n };
  }

  private async nothingLeft(n: number): Promise<StepResult> {
    if (this.applied) return { kind: 'changed', diff: this.applied, attempts: n };
    if (!this.applyTried) return { kind: 'ok', attempts: n };
    await this.history('absorbed', n, 'the retry found the work already done');
    return { kind: 'absorbed', diff: this.applyTried, attempts: n };
  }

  history(kind: 'apply' | 'absorbed' | 'retry', attempt: number, detail: string): Promise<void> {
    return this.run.journal.event({
      runId: this.run.runId,
      key: this.baseEnv.key,
      step: this.step.name,
      kind,
      attempt,
      detail,
      at: this.run.clock.now(),
    });
  }
}

/** Runs one step for one record, retrying transient and ambiguous errors with backoff. */
export async function runStep<R, C>(
  step: Step<R, C>,
  record: R,
  ctx: C,
  baseEnv: Omit<StepEnv, 'attempt' | 'step'>,
  run: StepRunContext,
  budgetEndsAt: number,
  onFirstApply?: (diff: Diff) => void,
): Promise<StepResult> {
  const attempts = new StepAttempts(step, record, ctx, baseEnv, run, onFirstApply);
  const retry = new RetryRules(step, run, attempts, budgetEndsAt);
  const failure = (err: unknown): StepResult => {
    const n = Math.max(attempts.attempts, 1);
    const kind = kindOf(err);
    if (kind === 'invalid' || kind === 'in-doubt') return { kind, error: err, attempts: n };
    if (kind === 'ledger') return { kind: 'stopped', error: err, attempts: n };
    return { kind: 'failed', error: err, errorClass: run.classify(err, step), attempts: n };
  };
  // Nearly every step succeeds at once: the first attempt runs without p-retry.
  try {
    return await attempts.attempt(1);
  } catch (err) {
    const error = asError(err);
    if (!retry.again(error, 1)) return failure(error);
    await retry.failed(error, 1);
  }
  try {
    return await pRetry(async (n) => {
      try {
        return await attempts.attempt(n + 1);
      } catch (err) {
        throw asError(err);
      }
    }, retry.options());
  } catch (err) {
    return failure(err);
  }
}

/**
 * The backoff after failed attempt `n` (from 1): `minDelayMs × factor^(n-1)`,
 * times 1 to 2 with jitter, at most `maxDelayMs`.
 */
function backoffMs(retry: RetryPolicy, n: number): number {
  const base = retry.minDelayMs * retry.factor ** (n - 1) * (retry.jitter ? 1 + Math.random() : 1);
  return Math.min(retry.maxDelayMs, Math.round(base));
}

function isPromise<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new InternalError(`a step threw a non-error value: ${String(err)}`);
}

/**
 * When and how a step is retried: transient and ambiguous errors, within the
 * attempts and the time of the retry policy. A server's `Retry-After` (an
 * error's `retryAfterMs`) is the delay itself, not added to the backoff.
 * Attempt 1 runs before p-retry, which takes over from attempt 2.
 */
class RetryRules<R, C> {
  constructor(
    private readonly step: Step<R, C>,
    private readonly run: StepRunContext,
    private readonly attempts: StepAttempts<R, C>,
    private readonly budgetEndsAt: number,
  ) {}

  private retriable(err: unknown): boolean {
    const kind = kindOf(err);
    if (kind !== undefined && FINAL_KINDS.has(kind)) return false;
    const cls = this.run.classify(err, this.step);
    return cls === 'transient' || cls === 'ambiguous';
  }

  private retryAfterOf(err: unknown): number | undefined {
    const ms = (err as { retryAfterMs?: unknown }).retryAfterMs;
    return typeof ms === 'number' && ms > 0 ? ms : undefined;
  }

  /** Whether attempt `n` failing with `error` gets another attempt. */
  again(error: unknown, n: number): boolean {
    const left = this.budgetEndsAt - this.run.clock.now();
    return this.retriable(error) && !this.run.signal.aborted && n < this.run.retry.attempts && left > 0;
  }

  /**
   * Attempt `n` failed and will be retried: a history line, the reporter told
   * the wait, and the wait itself (the server's `Retry-After`, or the backoff),
   * here and never in p-retry, so the wait announced is the wait taken.
   */
  async failed(error: unknown, n: number): Promise<void> {
    const { run, step } = this;
    const message = run.redact(errorMessage(error));
    await this.attempts.history('retry', n, `${run.classify(error, step)}: ${message}`);
    const left = Math.max(0, this.budgetEndsAt - run.clock.now());
    const delayMs = Math.min(this.retryAfterOf(error) ?? backoffMs(run.retry, n), left);
    run.reporter.retrying({ key: this.attempts.key, step: step.name, attempt: n, error: message, delayMs });
    await run.clock.sleep(delayMs, run.signal);
  }

  /**
   * p-retry's options from attempt 2 on (its attempt `n` is the step's attempt
   * `n + 1`). It counts the attempts; the time budget is `again`'s, and the wait
   * is `failed`'s, taken once the retry is decided: p-retry's own timeouts are zero.
   */
  options(): RetryOptions {
    const { run } = this;
    return {
      retries: Math.max(0, run.retry.attempts - 2),
      minTimeout: 0,
      maxTimeout: 0,
      signal: run.signal,
      unref: false,
      // Every retry uses up one of p-retry's count, which ends where `again` does.
      shouldRetry: async ({ error, attemptNumber }) => {
        if (!this.again(error, attemptNumber + 1)) return false;
        await this.failed(error, attemptNumber + 1);
        return true;
      },
    };
  }
}
