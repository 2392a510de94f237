import { type Baseline, judgePlan, PlanStats } from './gate.ts';
import type { ActiveRun } from './open-run.ts';
import { PlanDigest } from './plan-digest.ts';
import type { PrunePlan } from './prune-plan.ts';
import type { Reconciler } from './reconciler.ts';
import type { PlanSummary } from './reporter.ts';
import type { EngineDeps, EngineOptions } from './run-options.ts';
import type { Stop } from './run-status.ts';
import { lastAcceptedRun } from './runs.ts';
import type { SourceScan } from './source.ts';

/** How the plan phase ended: the plan, and whether the run goes on to apply it. */
export interface PlanVerdict {
  plan?: PlanSummary;
  /** The run stops here: refused by the gate, or stopped while planning (`interrupted`, `aborted`). */
  stop?: Stop;
  /** The stop is the gate's refusal: nothing is left to resume. */
  refused?: boolean;
  /** Why the run was skipped (the input is identical to the last accepted run's and the task asks to skip). */
  note?: string;
  skip?: boolean;
}

/**
 * The plan phase and the gate: every record (and key to prune) is checked,
 * what it would change is counted and stored as the plan, and the plan is
 * checked against the change budgets and the last accepted run before any
 * write. A plan past a budget is refused, unless `--accept` names its hash.
 */
export async function planAndGate<R, C>(
  deps: EngineDeps<R, C>,
  active: ActiveRun<C>,
  reconciler: Reconciler<R, C>,
  prune: PrunePlan | undefined,
  scan: SourceScan,
  opts: EngineOptions,
): Promise<PlanVerdict> {
  const { policy, run } = active;
  const last = await lastAcceptedRun(deps.ledger, deps.task.name, run.id);
  const baseline: Baseline | undefined = last && {
    runId: last.id,
    records: last.records ?? 0,
    inputDigest: last.inputDigest,
  };
  const identical = baseline && baseline.inputDigest === scan.digest ? baseline.runId : undefined;
  const note = identical ? `the input is identical to the last accepted run ${identical}'s` : undefined;
  if (identical && policy.budget?.identicalInput === 'skip') {
    return { skip: true, note: `${note}: skipped, as the task asks (budget.identicalInput: 'skip')` };
  }
  const stats = new PlanStats();
  stats.records = scan.count;
  const digest = new PlanDigest();
  const phase = { stats, digest, dryRun: policy.dryRun, baseline };
  const baselineKeys = baseline !== undefined && (await loadBaselineKeys(deps, reconciler, baseline));
  await reconciler.plan(deps.source, phase);
  await compareKeys(deps, active, reconciler, stats, baselineKeys ? baseline : undefined);
  if (prune && policy.prune) await reconciler.planPrune(prune.keys, policy.prune, phase);
  const stopped = reconciler.stopped();
  if (stopped) return { stop: stopped };
  const hash = digest.hash({
    task: deps.task.name,
    inputDigest: scan.digest,
    taskDigest: opts.taskDigest,
    idemVersion: opts.idemVersion,
  });
  const exceeded = policy.budget ? judgePlan({ stats, budget: policy.budget, baseline }) : [];
  const plan: PlanSummary = {
    hash,
    ...stats.summary(),
    exceeded: exceeded.map((e) => e.budget),
    ...(identical ? { identicalTo: identical } : {}),
  };
  // An identical input is said in the plan (`identicalTo`); the run's message stays for why it stopped.
  if (exceeded.length === 0 || policy.planOnly) return { plan };
  if (opts.accept && opts.accept.length >= 12 && hash.startsWith(opts.accept.toLowerCase())) {
    const who = opts.acceptedBy ?? 'an operator';
    if (!policy.dryRun) {
      await deps.ledger.recordAcceptance({
        task: deps.task.name,
        planHash: hash,
        runId: run.id,
        acceptedBy: who,
        acceptedAt: deps.clock.now(),
        reasons: exceeded.map((e) => e.message),
      });
    }
    return { plan: { ...plan, acceptedBy: who } };
  }
  return {
    plan,
    refused: true,
    stop: {
      status: 'refused',
      message: refusal(
        exceeded.map((e) => e.message),
        hash,
        opts.accept,
      ),
    },
  };
}

/**
 * Loads the last accepted run's keys (kept as hashes in the ledger) into the
 * record pass's key set, before the pass: each key of the input found among them
 * is counted as known as it is read. False if that run's keys were not kept.
 */
async function loadBaselineKeys<R, C>(
  deps: EngineDeps<R, C>,
  reconciler: Reconciler<R, C>,
  baseline: Baseline,
): Promise<boolean> {
  reconciler.expectKnownKeys(baseline.records);
  return deps.ledger.runKeys(baseline.runId, (chunk) => reconciler.addKnownKeys(chunk));
}

/**
 * Keeps the input's keys for the next night and counts how many the last
 * accepted run had (`loadBaselineKeys`). A run that did not read every key, or
 * a baseline whose keys were not kept, leaves the comparison out.
 */
async function compareKeys<R, C>(
  deps: EngineDeps<R, C>,
  active: ActiveRun<C>,
  reconciler: Reconciler<R, C>,
  stats: PlanStats,
  baseline: Baseline | undefined,
): Promise<void> {
  const known = reconciler.knownKeys();
  const keys = reconciler.keyHashes();
  if (!keys) return;
  if (!active.policy.dryRun && !active.policy.planOnly) await deps.ledger.putRunKeys(active.run.id, keys);
  if (!baseline) return;
  stats.known = known.met;
  baseline.records = known.loaded;
}

/** The refusal: every budget exceeded, the plan's hash, and how to let exactly this plan through once. */
function refusal(reasons: string[], hash: string, accepted: string | undefined): string {
  const lines = [
    `refused by the change budgets before any write: nothing was changed.`,
    ...reasons.map((r) => `  - ${r}`),
  ];
  if (accepted)
    lines.push(
      `  the plan is not the one accepted with --accept ${accepted}: it changed since (its hash is now ${hash})`,
    );
  lines.push(
    `Check the input first. If this plan is intended, apply exactly this plan once with: --accept ${hash}`,
  );
  return lines.join('\n');
}

/** Moves a plan-first run to its apply phase, in the ledger, so that a resume continues there. */
export async function enterApplyPhase<R, C>(deps: EngineDeps<R, C>, active: ActiveRun<C>): Promise<void> {
  // The whole plan is committed before the first write: it is the intent mark a resume relies on.
  await active.journal.flush();
  await deps.ledger.updateRun(active.run.id, { status: 'running', phase: 'apply' });
  active.run.phase = 'apply';
}
