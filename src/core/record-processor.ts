import { type Diff, publicChange } from './diff.ts';
import type { EffectHooks, EngineDeps } from './engine.ts';
import { classifyWith, type ErrorClass, errorMessage, isInvalid, PermanentError } from './errors.ts';
import { allowedDeletes, DeletionBudget, deletionsOf, describeLimit } from './guard.ts';
import type { RecordResult, StepDiff } from './outcome.ts';
import type { Prepared } from './prepare.ts';
import type { EffectStore, Step } from './step.ts';
import { runStep, type StepRunContext } from './step-runner.ts';
import type { DeleteLimit, PruneRecord, RetryPolicy } from './task.ts';

export interface ProcessorOptions {
  runId: string;
  dryRun: boolean;
  retry: RetryPolicy;
  killSignal: AbortSignal;
  maxDeletes: DeleteLimit | undefined;
  /** The base of a percentage deletion limit. */
  population: number;
  hooks?: EffectHooks;
}

/** A finished record, and the error that ended it (for the circuit breaker). */
export interface Processed {
  /** Undefined when the record was cut short by an interrupt (it stays unfinished). */
  result: RecordResult | undefined;
  error: unknown;
}

/** Runs the steps of one record (or one prune key) and turns them into one outcome. */
export class RecordProcessor<R, C> {
  private readonly run: StepRunContext;
  private readonly budget: DeletionBudget;

  constructor(
    private readonly deps: EngineDeps<R, C>,
    private readonly ctx: C,
    private readonly opts: ProcessorOptions,
  ) {
    const { task, ledger, reporter, clock, redactor } = deps;
    const limit = opts.maxDeletes;
    this.budget = new DeletionBudget(
      allowedDeletes(limit, opts.population),
      limit ? describeLimit(limit) : 'unlimited',
    );
    this.run = {
      runId: opts.runId,
      dryRun: opts.dryRun,
      retry: opts.retry,
      ledger,
      reporter,
      clock,
      signal: opts.killSignal,
      redact: (t) => redactor.redact(t),
      classify: (err: unknown, step: Step): ErrorClass => classifyWith(step.classify, task.classify)(err),
      beforeDestructive: (diff: Diff, key: string, step: Step) => {
        this.budget.take(deletionsOf(diff, step.destructive), `step ${step.name} of ${key}`);
      },
    };
  }

  /** An outcome reached without running any step (`invalid` input, a `skipped` record). */
  private stepless(
    slot: string,
    key: string,
    prepared: Prepared<R>,
    outcome: 'invalid' | 'skipped',
    reason: string,
  ): RecordResult {
    const now = this.deps.clock.now();
    const why = this.deps.redactor.redact(reason);
    return {
      key,
      slot,
      line: prepared.line,
      outcome,
      absorbed: false,
      diff: [],
      ...(outcome === 'invalid' ? { error: { message: why, class: 'invalid' as const } } : { notes: [why] }),
      attempts: 0,
      inputHash: prepared.inputHash,
      startedAt: now,
      endedAt: now,
    };
  }

  invalid(slot: string, key: string | undefined, prepared: Prepared<R>, reason: string): RecordResult {
    return this.stepless(slot, key ?? `line ${prepared.line}`, prepared, 'invalid', reason);
  }

  async process(slot: string, prepared: Prepared<R> & { kind: 'record' }): Promise<Processed> {
    if (prepared.skip) {
      return {
        result: this.stepless(slot, prepared.key, prepared, 'skipped', prepared.skip),
        error: undefined,
      };
    }
    return this.execute(slot, prepared.key, prepared.line, prepared.inputHash, prepared.record, () => {
      const { steps } = this.deps.task;
      return typeof steps === 'function' ? steps(prepared.record, this.ctx) : steps;
    });
  }

  async prune(key: string): Promise<Processed> {
    const record: PruneRecord = { key };
    return this.execute(key, key, 0, '', record as unknown as R, () => {
      return (this.deps.task.prune?.steps(key, this.ctx) ?? []) as unknown as Step<R, C>[];
    });
  }

  private async execute(
    slot: string,
    key: string,
    line: number,
    inputHash: string,
    record: R,
    buildSteps: () => Step<R, C>[],
  ): Promise<Processed> {
    const { ledger, clock, redactor, task } = this.deps;
    const startedAt = clock.now();
    const notes: string[] = [];
    const diff: StepDiff[] = [];
    let attempts = 0;
    let changed = false;
    let absorbed = false;
    let outcome: RecordResult['outcome'] = 'ok';
    let error: RecordResult['error'];
    let cause: unknown;

    await ledger.appendEvent({ runId: this.opts.runId, key: slot, kind: 'start', at: startedAt });
    const budgetEndsAt = startedAt + this.opts.retry.maxRetryTimeMs;
    const baseEnv = {
      task: task.name,
      key,
      runId: this.opts.runId,
      signal: this.opts.killSignal,
      effects: this.effectsFor(key),
      redact: (t: string) => redactor.redact(t),
      note: (t: string) => {
        notes.push(redactor.redact(t));
      },
    };

    let steps: Step<R, C>[] = [];
    try {
      steps = buildSteps();
    } catch (err) {
      cause = err;
      outcome = isInvalid(err) ? 'invalid' : 'failed';
      error = {
        message: redactor.redact(`building steps: ${errorMessage(err)}`),
        class: isInvalid(err) ? 'invalid' : 'permanent',
      };
    }
    for (const step of steps) {
      const r = await runStep(step, record, this.ctx, baseEnv, this.run, budgetEndsAt);
      attempts += r.attempts;
      if (r.kind === 'ok') continue;
      if (r.kind === 'changed' || r.kind === 'pending' || r.kind === 'absorbed') {
        const wasAbsorbed = r.kind === 'absorbed';
        if (wasAbsorbed) absorbed = true;
        else changed = true;
        const changes = redactor.redactValue(r.diff.changes.map(publicChange));
        diff.push({ step: step.name, changes, ...(wasAbsorbed ? { absorbed: true } : {}) });
        continue;
      }
      cause = r.error;
      const cls = r.kind === 'failed' ? r.errorClass : r.kind;
      outcome = r.kind;
      error = {
        message: redactor.redact(`step ${step.name}: ${errorMessage(r.error)}`),
        class: cls,
        step: step.name,
      };
      if (r.kind === 'failed') {
        await ledger.appendEvent({
          runId: this.opts.runId,
          key: slot,
          step: step.name,
          kind: 'failed',
          attempt: r.attempts,
          detail: `${cls}: ${error.message}`,
          at: clock.now(),
        });
      }
      break;
    }
    if (this.opts.killSignal.aborted && outcome !== 'ok') {
      // Cut short by an interrupt after the grace period: no outcome, so a
      // resume checks this record again.
      await ledger.appendEvent({ runId: this.opts.runId, key: slot, kind: 'interrupted', at: clock.now() });
      return { result: undefined, error: cause };
    }
    if (outcome === 'ok' && changed) outcome = 'changed';
    const result: RecordResult = {
      key,
      slot,
      line,
      outcome,
      absorbed,
      diff,
      attempts,
      inputHash,
      startedAt,
      endedAt: clock.now(),
      ...(error ? { error } : {}),
      ...(notes.length ? { notes } : {}),
    };
    await ledger.appendEvent({
      runId: this.opts.runId,
      key: slot,
      kind: 'done',
      detail: outcome + (absorbed ? ' (absorbed)' : ''),
      at: result.endedAt,
    });
    return { result, error: cause };
  }

  private effectsFor(key: string): EffectStore {
    const { ledger, task, clock } = this.deps;
    const { runId, hooks } = this.opts;
    return {
      get: async (effect) => (await ledger.getEffect(task.name, key, effect))?.state,
      intent: async (effect, detail) => {
        hooks?.beforeIntent?.(effect, key);
        await ledger.effectIntent(task.name, key, effect, runId, detail);
      },
      done: async (effect, detail) => {
        hooks?.beforeDone?.(effect, key);
        await ledger.effectDone(task.name, key, effect, runId, detail);
      },
      abandon: async (effect, reason) => {
        await ledger.effectClear(task.name, key, effect);
        await ledger.appendEvent({
          runId,
          key,
          step: effect,
          kind: 'effect-abandoned',
          detail: reason,
          at: clock.now(),
        });
      },
      claimIdempotencyKey: async (idempotencyKey, payloadHash) => {
        const stored = await ledger.claimIdempotencyKey(task.name, key, idempotencyKey, payloadHash);
        if (stored !== payloadHash) {
          throw new PermanentError(
            `idempotency key ${idempotencyKey} was first sent with another payload ` +
              `(sha256 ${stored.slice(0, 12)}…, now ${payloadHash.slice(0, 12)}…); refusing to re-send a different request under the same key`,
          );
        }
      },
    };
  }
}
