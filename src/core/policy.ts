import { type ChangeBudget, resolveBudget } from './gate.ts';
import type { EngineOptions } from './run-options.ts';
import {
  DEFAULT_PRUNE_LIMIT,
  DEFAULT_RETRY,
  type DeleteLimit,
  type PruneSpec,
  type RetryPolicy,
  type SetupContext,
  type TaskDefinition,
} from './task.ts';

/** Everything a run decides up front from the task and the options. */
export interface RunPolicy<C> {
  dryRun: boolean;
  /** Continue the last unfinished run (never for a dry run). */
  resume: boolean;
  /** Refuse to resume a run whose input changed, instead of superseding it. */
  strictResume: boolean;
  concurrency: number;
  retry: RetryPolicy;
  breaker: number;
  /** The prune phase, if the task has one in this configuration. */
  prune: PruneSpec<C> | undefined;
  /** One deletion limit for the prune plan and for every deletion applied. */
  deleteLimit: DeleteLimit | undefined;
  /** Plan every record, gate the plan, then apply it. */
  planFirst: boolean;
  /** Plan and gate only (`idem plan`). */
  planOnly: boolean;
  /** The change budgets the plan is checked against; undefined when the task has none. */
  budget: Required<ChangeBudget> | undefined;
}

/** The task's `prune`, which may depend on the run's setup (its environment). */
export function pruneOf<C>(task: TaskDefinition<any, C>, setup: SetupContext): PruneSpec<C> | undefined {
  return typeof task.prune === 'function' ? (task.prune(setup) ?? undefined) : task.prune;
}

/** Options win over the task, the task over the defaults. Pure. */
export function resolvePolicy<C>(
  task: TaskDefinition<any, C>,
  opts: EngineOptions,
  prune: PruneSpec<C> | undefined,
): RunPolicy<C> {
  const dryRun = opts.dryRun ?? false;
  return {
    dryRun,
    resume: Boolean(opts.resume || opts.strictResume) && !dryRun,
    strictResume: opts.strictResume ?? false,
    concurrency: Math.max(1, opts.concurrency ?? task.concurrency ?? 4),
    retry: { ...DEFAULT_RETRY, ...task.retry, ...opts.retry },
    breaker: opts.breaker ?? task.breaker ?? 5,
    prune,
    deleteLimit: opts.maxDeletes ?? task.maxDeletes ?? (prune ? DEFAULT_PRUNE_LIMIT : undefined),
    // A task has the default budgets unless it says `budget: false`; plan-first with or without them on demand.
    planFirst: task.budget !== false || Boolean(opts.planFirst || opts.planOnly),
    planOnly: Boolean(opts.planOnly),
    budget:
      task.budget === false && !opts.budget
        ? undefined
        : resolveBudget(task.budget || undefined, opts.budget),
  };
}
