import { classifyWith } from './errors.ts';
import { allowedDeletes, DeletionBudget, deletionsOf, describeLimit } from './guard.ts';
import type { ActiveRun } from './open-run.ts';
import type { EngineDeps, EngineOptions } from './run-options.ts';
import type { StepRunContext } from './step-runner.ts';

/**
 * What every step of the run shares: retry bounds, classifiers, and the checks
 * before an apply (the deletion guard; a ledger that can no longer record).
 * Two of them: one that only checks (a dry run, a plan), one that applies.
 */
export function stepContexts<R, C>(
  deps: EngineDeps<R, C>,
  active: ActiveRun<C>,
  opts: EngineOptions,
  population: number,
): { check: StepRunContext; apply: StepRunContext } {
  const { policy, journal } = active;
  const limit = policy.deleteLimit;
  const budget = new DeletionBudget(
    allowedDeletes(limit, population),
    limit ? describeLimit(limit) : 'unlimited',
  );
  const apply: StepRunContext = {
    runId: active.run.id,
    dryRun: policy.dryRun,
    retry: policy.retry,
    journal,
    reporter: deps.reporter,
    clock: deps.clock,
    signal: opts.killSignal ?? new AbortController().signal,
    redact: (t) => deps.redactor.redact(t),
    classify: (err, step) => classifyWith(step.classify, deps.task.classify)(err),
    beforeApply: (diff, key, step, firstTry) => {
      // Nothing is applied that the ledger could not record.
      if (journal.failed) throw journal.failed;
      if (firstTry) budget.take(deletionsOf(diff, step.destructive), `step ${step.name} of ${key}`);
    },
  };
  return { check: { ...apply, dryRun: true }, apply };
}
