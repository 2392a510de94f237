import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../src/core/clock.ts';
import { added } from '../../src/core/diff.ts';
import { classifyWith, TransientError } from '../../src/core/errors.ts';
import { Journal } from '../../src/core/journal.ts';
import type { Step } from '../../src/core/step.ts';
import { runStep, type StepResult } from '../../src/core/step-runner.ts';
import { DEFAULT_RETRY, type RetryPolicy } from '../../src/core/task.ts';
import { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import { MemoryReporter } from '../../src/report/memory-reporter.ts';
import { makeEnv } from '../support/step-env.ts';

/** A clock whose sleeps return at once and are recorded: time moves only when the runner sleeps. */
class RecordingClock implements Clock {
  t = 1_000_000;
  readonly sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
  }
  schedule(): () => void {
    return () => {};
  }
}

/** A step whose apply throws `fail(n)` on attempt n until it returns nothing; the write lands after. */
function flaky(fail: (attempt: number) => Error | undefined) {
  let written = false;
  let applies = 0;
  const step: Step<unknown, unknown> = {
    name: 'put',
    check: () => (written ? undefined : { changes: [added('v', 'v1')] }),
    apply: (_r, _c, _d, env) => {
      applies++;
      const err = fail(env.attempt);
      if (err) throw err;
      written = true;
    },
  };
  return {
    step,
    get applies() {
      return applies;
    },
  };
}

async function run(
  step: Step<unknown, unknown>,
  retry: Partial<RetryPolicy>,
): Promise<{ result: StepResult; clock: RecordingClock; reporter: MemoryReporter }> {
  const clock = new RecordingClock();
  const reporter = new MemoryReporter();
  const ledger = new MemoryLedger();
  const policy = { ...DEFAULT_RETRY, jitter: false, ...retry };
  const result = await runStep(
    step,
    undefined,
    undefined,
    makeEnv({ key: 'k1' }),
    {
      runId: 'r1',
      dryRun: false,
      retry: policy,
      classify: (err, s) => classifyWith(s.classify)(err),
      journal: new Journal(ledger, clock, ledger.location),
      reporter,
      clock,
      signal: new AbortController().signal,
      redact: (t) => t,
      beforeApply: () => {},
    },
    clock.now() + policy.maxRetryTimeMs,
  );
  return { result, clock, reporter };
}

const announced = (r: MemoryReporter) => r.retries.map((n) => n.delayMs);

describe('step runner: the wait announced is the wait taken', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('the backoff grows by the factor from attempt 1 on, up to maxDelayMs; each wait is announced, then slept once', async () => {
    // No hidden wait besides the clock's: p-retry sets no timer of its own.
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const s = flaky((n) => (n < 4 ? new TransientError('busy') : undefined));
    const { result, clock, reporter } = await run(s.step, {
      attempts: 5,
      minDelayMs: 20,
      factor: 3,
      maxDelayMs: 150,
    });
    expect(result).toMatchObject({ kind: 'changed', attempts: 4 });
    expect(announced(reporter)).toEqual([20, 60, 150]);
    expect(clock.sleeps).toEqual([20, 60, 150]);
    expect(timers.mock.calls.filter(([, ms]) => (ms ?? 0) > 0)).toEqual([]);
  });

  it("a server's Retry-After is the wait, announced as such, and still uses up an attempt", async () => {
    const busy = () => Object.assign(new TransientError('429 too many requests'), { retryAfterMs: 1000 });
    const s = flaky(() => busy());
    const { result, clock, reporter } = await run(s.step, { attempts: 3, minDelayMs: 20 });
    expect(result).toMatchObject({ kind: 'failed', attempts: 3 });
    expect(s.applies).toBe(3);
    expect(announced(reporter)).toEqual([1000, 1000]);
    expect(clock.sleeps).toEqual([1000, 1000]);
  });

  it("a backoff past the record's time budget is cut to what is left, and the attempt it announced follows", async () => {
    const s = flaky((n) => (n < 3 ? new TransientError('busy') : undefined));
    // Attempt 2's backoff (20 s) is past the 1.5 s budget: 1,480 ms are left after the first wait.
    const { result, clock, reporter } = await run(s.step, {
      attempts: 5,
      minDelayMs: 20,
      factor: 1000,
      maxDelayMs: 60_000,
      maxRetryTimeMs: 1500,
    });
    expect(result).toMatchObject({ kind: 'changed', attempts: 3 });
    expect(announced(reporter)).toEqual([20, 1480]);
    expect(clock.sleeps).toEqual([20, 1480]);
    // The budget spent, nothing more is tried.
    const spent = flaky(() => new TransientError('busy'));
    const over = await run(spent.step, { attempts: 5, minDelayMs: 20, factor: 1000, maxRetryTimeMs: 1500 });
    expect(over.result).toMatchObject({ kind: 'failed', attempts: 3 });
    expect(over.clock.sleeps).toEqual([20, 1480]);
  });

  it('a step error p-retry will not retry (a TypeError) is not announced as retried, and ends within the attempts', async () => {
    // Classified transient and carrying a Retry-After: p-retry still gives up on a TypeError at once.
    const typeError = () => Object.assign(new TypeError('x is not a function'), { retryAfterMs: 10 });
    let calls = 0;
    const s = flaky(() => (++calls < 50 ? typeError() : new Error('the 50th attempt: far past the bound')));
    const step = { ...s.step, classify: () => 'transient' as const };
    const { result, reporter } = await run(step, { attempts: 5, minDelayMs: 20 });
    expect(result.kind).toBe('failed');
    expect(result.attempts).toBeLessThanOrEqual(5);
    // Every announced retry happened: one fewer announcement than attempts.
    expect(reporter.retries).toHaveLength(result.attempts - 1);
  });
});
