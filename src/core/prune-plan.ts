import { deletionRefusal, keylessRefusal, pruneCandidates, SHOW } from './deletion-plan.ts';
import { formatChange } from './diff.ts';
import { errorMessage, UsageError } from './errors.ts';
import { deletionsOf } from './guard.ts';
import { prepareRecord } from './prepare.ts';
import type { EngineDeps } from './run-options.ts';
import type { Step, StepEnv } from './step.ts';
import type { DeleteLimit, PruneRecord, PruneSpec } from './task.ts';

/** The keys to prune, and the guard's verdict, before anything is deleted. */
export interface PrunePlan {
  keys: string[];
  /** How many entries the target holds now (the base of a percentage limit). */
  population: number;
  /** Set when the guard refuses: the message to print; nothing is deleted. */
  refusal?: string;
}

/**
 * Plans the prune phase: reads every key of the input, lists what the target
 * holds, and checks (read-only) the prune steps of each key the input lacks.
 * When the planned deletions pass the limit, the whole run is refused before
 * any step runs.
 */
export async function planPrune<R, C>(
  deps: EngineDeps<R, C>,
  ctx: C,
  prune: PruneSpec<C>,
  runId: string,
  limit: DeleteLimit,
): Promise<PrunePlan> {
  const { task, source, reporter, redactor } = deps;
  const inputKeys = new Set<string>();
  const keyless: number[] = [];
  for await (const rec of source.records()) {
    const key = prepareRecord(task, rec).key;
    if (key !== undefined) inputKeys.add(key);
    else keyless.push(rec.line);
  }
  const blind = keylessRefusal(keyless);
  if (blind) return { keys: [], population: 0, refusal: blind };
  const existing: string[] = [];
  for await (const key of (await prune.existing(ctx)) as AsyncIterable<string> | Iterable<string>) {
    existing.push(key);
  }
  const { keys, population } = pruneCandidates(inputKeys, existing);
  let deletions = 0;
  const planned: string[] = [];
  for (const key of keys) {
    for (const step of prune.steps(key, ctx)) {
      const diff = await checkPruneStep(
        step,
        { key },
        ctx,
        planEnv(task.name, key, step.name, runId, redactor.redact.bind(redactor)),
      );
      if (!diff) continue;
      const n = deletionsOf(diff, step.destructive);
      deletions += n;
      if (n > 0) planned.push(`${key}: ${diff.changes.map(formatChange).join(', ')}`);
    }
  }
  const refusal = deletionRefusal({
    deletions,
    population,
    limit,
    inputKeys: inputKeys.size,
    input: source.description,
  });
  if (refusal) {
    for (const line of planned.slice(0, SHOW)) reporter.warn(`would delete ${redactor.redact(line)}`);
    if (planned.length > SHOW) reporter.warn(`... and ${planned.length - SHOW} more`);
  }
  return { keys, population, ...(refusal ? { refusal } : {}) };
}

async function checkPruneStep<C>(step: Step<PruneRecord, C>, record: PruneRecord, ctx: C, env: StepEnv) {
  try {
    return await step.check(record, ctx, env);
  } catch (err) {
    throw new Error(`checking ${record.key} (step ${step.name}): ${errorMessage(err)}`, { cause: err });
  }
}

/** A read-only step environment: a plan may check, never run an effect. */
function planEnv(
  task: string,
  key: string,
  step: string,
  runId: string,
  redact: (t: string) => string,
): StepEnv {
  return {
    task,
    key,
    step,
    runId,
    attempt: 1,
    signal: new AbortController().signal,
    pending: [],
    effects: {
      get: async () => undefined,
      firstTime: async () => 'run' as const,
      intent: async () => {
        throw new UsageError('a prune plan cannot run effects');
      },
      done: async () => {},
      abandon: async () => {},
      claimIdempotencyKey: async () => {},
    },
    redact,
    note: () => {},
  };
}
