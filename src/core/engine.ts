import { closeRun } from './close-run.ts';
import { connectTask } from './connect.ts';
import { ConvergenceWatch, DEFAULT_CONVERGENCE } from './convergence.ts';
import { errorMessage, UsageError } from './errors.ts';
import { Lifecycle } from './lifecycle.ts';
import { type ActiveRun, openRun, resumable, scanInput } from './open-run.ts';
import { enterApplyPhase, planAndGate } from './plan-first.ts';
import { pruneOf, resolvePolicy } from './policy.ts';
import { type PrunePlan, planPrune } from './prune-plan.ts';
import { Reconciler } from './reconciler.ts';
import { RecordProcessor } from './record-processor.ts';
import type { RunSummary } from './reporter.ts';
import type { EngineDeps, EngineOptions, SavedPlan } from './run-options.ts';
import type { Stop } from './run-status.ts';
import { settleCrashedRuns } from './runs.ts';
import type { SourceScan } from './source.ts';
import { stepContexts } from './step-context.ts';

/**
 * Runs a task over its records, in order: resolve the policy → scan the input →
 * settle crashed runs → find the run to resume → connect → open the run → plan
 * deletions → reconcile (plan every record, gate the plan, apply it; or one
 * pass when the task has no budgets) → close the run. Record failures are
 * outcomes, not exceptions; it throws only for problems found before any
 * record ran (a `UsageError`, an `UnavailableError`, a `LedgerError`).
 */
export async function runTask<R, C>(deps: EngineDeps<R, C>, opts: EngineOptions): Promise<RunSummary> {
  const startedAt = deps.clock.now();
  const policy = resolvePolicy(deps.task, opts, pruneOf(deps.task, deps.setup));
  const scan = await scanInput(deps);
  // Whoever holds the lock may say so: a run still `running` now was left by a process that died.
  await settleCrashedRuns(deps.ledger, deps.clock, deps.task.name);
  if (opts.applyPlan) return applySavedPlan(deps, opts, scan, opts.applyPlan, startedAt);
  const previous = policy.resume ? await resumable(deps, policy, opts, scan.digest) : undefined;
  const ctx = await connectTask(deps);
  const active = await openRun(deps, opts, policy, scan, previous, startedAt);
  await rememberEffects(deps, active, opts);
  const lifecycle = await Lifecycle.open(
    policy.prune,
    deps.ledger,
    active.effects,
    deps.clock,
    active.run.id,
  );
  if (lifecycle) active.policy = { ...policy, prune: lifecycle.effective() };
  const applying = active.run.phase === 'apply';
  let prune: PrunePlan | undefined;
  if (active.policy.prune && !applying) {
    const planned = await planDeletions(deps, ctx, active);
    if ('stop' in planned) return closeRun(deps, active, { stopped: () => planned.stop });
    prune = planned;
  }
  const reconciler = await reconcilerFor(deps, ctx, active, opts, prune?.population ?? scan.count, lifecycle);
  const total = await announce(deps, active, reconciler, scan.count + (prune?.keys.length ?? 0), {
    nothingToResume: policy.resume && previous === undefined,
  });
  const end = {
    stopped: () => reconciler.stopped(),
    progress: () => reconciler.progress(total),
    counts: reconciler.counts,
  };
  if (!policy.planFirst) {
    await reconciler.records(deps.source, policy.dryRun);
    const keys = policy.dryRun ? undefined : reconciler.keyHashes();
    if (keys) await deps.ledger.putRunKeys(active.run.id, keys);
    if (prune && active.policy.prune) await reconciler.prune(prune.keys, active.policy.prune, policy.dryRun);
    return closeRun(deps, active, { ...end, progress: end.progress() });
  }
  if (!applying) {
    const verdict = await planAndGate(deps, active, reconciler, prune, scan, opts);
    const { plan, note } = verdict;
    const extra = { ...(plan ? { plan } : {}), ...(note ? { note } : {}) };
    if (verdict.refused) return closeRun(deps, active, { stopped: () => verdict.stop, ...extra });
    if (verdict.stop) return closeRun(deps, active, { ...end, progress: end.progress(), ...extra });
    if (verdict.skip) return closeRun(deps, active, { stopped: () => undefined, planned: false, ...extra });
    if (policy.dryRun) return closeRun(deps, active, { ...end, progress: end.progress(), ...extra });
    if (policy.planOnly)
      return closeRun(deps, active, { stopped: end.stopped, counts: end.counts, planned: true, ...extra });
    await enterApplyPhase(deps, active);
    await reconciler.applyPlan(deps.source, active.policy.prune, { strict: false, resumed: active.resumed });
    return closeRun(deps, active, { ...end, progress: end.progress(), ...extra });
  }
  await reconciler.applyPlan(deps.source, active.policy.prune, { strict: false, resumed: true });
  return closeRun(deps, active, { ...end, progress: end.progress() });
}

/**
 * `idem apply`: exactly a saved plan. Its records go into this run's plan, each
 * is checked again before its apply, and one whose target changed since the
 * plan is refused (and listed), never applied blind. Applying it twice is a no-op.
 */
async function applySavedPlan<R, C>(
  deps: EngineDeps<R, C>,
  opts: EngineOptions,
  scan: SourceScan,
  saved: SavedPlan,
  startedAt: number,
): Promise<RunSummary> {
  if (saved.inputDigest !== scan.digest) {
    throw new UsageError(
      `the input ${deps.source.description} is not the one plan ${saved.hash.slice(0, 12)} was made from ` +
        `(sha256 ${saved.inputDigest.slice(0, 12)}… then, ${scan.digest.slice(0, 12)}… now); make a new plan with idem plan`,
    );
  }
  const policy = { ...resolvePolicy(deps.task, opts, pruneOf(deps.task, deps.setup)), planFirst: true };
  const ctx = await connectTask(deps);
  const active = await openRun(deps, opts, { ...policy, dryRun: false }, scan, undefined, startedAt);
  for await (const record of saved.records()) await active.journal.planned(active.run.id, record);
  await enterApplyPhase(deps, active);
  await deps.ledger.recordAcceptance({
    task: deps.task.name,
    planHash: saved.hash,
    runId: active.run.id,
    acceptedBy: saved.appliedBy,
    acceptedAt: deps.clock.now(),
    reasons: ['applied as a saved plan (idem apply)'],
  });
  const { planned } = await deps.ledger.planProgress(active.run.id);
  const reconciler = await reconcilerFor(deps, ctx, active, opts, scan.count);
  deps.reporter.runStarted({
    runId: active.run.id,
    task: deps.task.name,
    total: planned.total,
    dryRun: false,
    resumed: false,
  });
  await reconciler.applyPlan(deps.source, policy.prune, { strict: true, resumed: false });
  return closeRun(deps, active, {
    stopped: () => reconciler.stopped(),
    progress: reconciler.progress(planned.total),
    counts: reconciler.counts,
  });
}

/**
 * What the `once` rules must know: whether the ledger has any earlier real run of
 * the task (if not, it was created fresh, moved, lost or rebuilt, and effects for
 * records the target already holds are held in doubt or adopted, never repeated).
 */
async function rememberEffects<R, C>(
  deps: EngineDeps<R, C>,
  active: ActiveRun<C>,
  opts: EngineOptions,
): Promise<void> {
  const runs = await deps.ledger.listRuns({ task: deps.task.name, limit: 50 });
  const earlier = active.resumed || runs.some((r) => r.id !== active.run.id && !r.dryRun);
  active.effects.remember({ fresh: !earlier, dryRun: active.policy.dryRun, adoptedBy: opts.adoptEffects });
}

/** The record loop of this run, with its processor, step contexts and convergence watch. */
async function reconcilerFor<R, C>(
  deps: EngineDeps<R, C>,
  ctx: C,
  active: ActiveRun<C>,
  opts: EngineOptions,
  population: number,
  lifecycle?: Lifecycle<C>,
): Promise<Reconciler<R, C>> {
  const convergence = active.policy.dryRun
    ? undefined
    : await ConvergenceWatch.open(
        deps.ledger,
        deps.task.name,
        active.run.id,
        deps.task.convergence ?? DEFAULT_CONVERGENCE,
      );
  const contexts = stepContexts(deps, active, opts, population);
  const { journal, effects, policy } = active;
  const processor = new RecordProcessor({
    task: deps.task,
    ctx,
    ...contexts,
    journal,
    effects,
    clock: deps.clock,
    redactor: deps.redactor,
  });
  const reconciler = new Reconciler({
    task: deps.task,
    runId: active.run.id,
    resumed: active.resumed,
    processor,
    journal,
    results: deps.ledger,
    reporter: deps.reporter,
    concurrency: policy.concurrency,
    records: population,
    breaker: policy.breaker,
    stopSignal: opts.stopSignal ?? new AbortController().signal,
    convergence,
    // A dry run or a plan only looks: the ledger's leavers stay as they are.
    lifecycle: policy.dryRun || policy.planOnly ? undefined : lifecycle,
  });
  journal.onFailure = (err) => reconciler.ledgerFailed(err);
  return reconciler;
}

/**
 * Tells the reporter the run starts, with how many records it goes through. A
 * resumed apply phase goes through the plan's records; what the run finished
 * before it stopped counts as already done.
 */
async function announce<R, C>(
  deps: EngineDeps<R, C>,
  active: ActiveRun<C>,
  reconciler: Reconciler<R, C>,
  records: number,
  extra: { nothingToResume: boolean },
): Promise<number> {
  let total = records;
  if (active.run.phase === 'apply') {
    const { done, planned } = await deps.ledger.planProgress(active.run.id);
    reconciler.countAlreadyDone(done);
    total = done - planned.done + planned.total;
  }
  const { run, policy, resumed } = active;
  deps.reporter.runStarted({
    runId: run.id,
    task: deps.task.name,
    total,
    dryRun: policy.dryRun,
    resumed,
    ...(extra.nothingToResume ? { nothingToResume: true } : {}),
  });
  return total;
}

/** The prune plan, or why the run stops before anything changes: the guard refused, or no plan could be made. */
async function planDeletions<R, C>(
  deps: EngineDeps<R, C>,
  ctx: C,
  active: ActiveRun<C>,
): Promise<PrunePlan | { stop: Stop }> {
  const { policy, run } = active;
  try {
    const plan = await planPrune(deps, ctx, policy.prune!, run.id, policy.deleteLimit!);
    return plan.refusal ? { stop: { status: 'refused', message: plan.refusal } } : plan;
  } catch (err) {
    const why = deps.redactor.redact(errorMessage(err));
    return {
      stop: {
        status: 'aborted',
        message: `aborted: planning the prune phase failed, nothing was changed: ${why}`,
      },
    };
  }
}
