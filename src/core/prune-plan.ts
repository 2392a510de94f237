import { formatChange } from './diff.ts';
import type { EngineDeps } from './engine.ts';
import { errorMessage, UsageError } from './errors.ts';
import { allowedDeletes, deletionsOf, describeLimit } from './guard.ts';
import { prepareRecord } from './prepare.ts';
import type { StepEnv } from './step.ts';
import type { DeleteLimit, PruneRecord } from './task.ts';

/** The keys to prune, and the guard's verdict, before anything is deleted. */
export interface PrunePlan {
  keys: string[];
  /** How many entries the target holds now (the base of a percentage limit). */
  population: number;
  deletions: number;
  /** Set when the guard refuses: the message to print; nothing is deleted. */
  refusal?: string;
}

const SHOW = 20;

/**
 * Plans the prune phase: reads every key of the input, lists what the target
 * holds, and checks (read-only) the prune steps of each key the input lacks.
 * When the planned deletions pass the limit, the whole run is refused before
 * any step runs.
 */
export async function planPrune<R, C>(
  deps: EngineDeps<R, C>,
  ctx: C,
  runId: string,
  limit: DeleteLimit,
): Promise<PrunePlan> {
  const { task, source, reporter, redactor } = deps;
  const prune = task.prune;
  if (!prune) return { keys: [], population: 0, deletions: 0 };
  const inputKeys = new Set<string>();
  const keyless: number[] = [];
  for await (const rec of source.records()) {
    const p = prepareRecord(task, rec);
    if (p.key !== undefined) inputKeys.add(p.key);
    else keyless.push(rec.line);
  }
  if (keyless.length > 0) {
    // A row we cannot read may well be a person who is still there: never prune then.
    const lines = keyless.slice(0, SHOW).join(', ') + (keyless.length > SHOW ? ', ...' : '');
    return {
      keys: [],
      population: 0,
      deletions: 0,
      refusal:
        `refused: ${keyless.length} input row(s) have no readable key (line ${lines}), so the prune phase cannot ` +
        'tell who is gone; nothing was changed. Fix those lines in the input and run again.',
    };
  }
  const keys: string[] = [];
  let population = 0;
  for await (const key of (await prune.existing(ctx)) as AsyncIterable<string> | Iterable<string>) {
    population++;
    if (!inputKeys.has(key)) keys.push(key);
  }
  const allowed = allowedDeletes(limit, population);
  let deletions = 0;
  const planned: string[] = [];
  for (const key of keys) {
    const record: PruneRecord = { key };
    for (const step of prune.steps(key, ctx)) {
      const env: StepEnv = {
        task: task.name,
        key,
        step: step.name,
        runId,
        attempt: 1,
        signal: new AbortController().signal,
        effects: {
          get: async () => undefined,
          intent: async () => {
            throw new UsageError('a prune plan cannot run effects');
          },
          done: async () => {},
          abandon: async () => {},
          claimIdempotencyKey: async () => {},
        },
        redact: (t) => redactor.redact(t),
        note: () => {},
      };
      let diff: Awaited<ReturnType<typeof step.check>>;
      try {
        diff = await step.check(record, ctx, env);
      } catch (err) {
        throw new Error(`checking ${key} (step ${step.name}): ${errorMessage(err)}`, { cause: err });
      }
      if (!diff) continue;
      const n = deletionsOf(diff, step.destructive);
      deletions += n;
      if (n > 0) planned.push(`${key}: ${diff.changes.map(formatChange).join(', ')}`);
    }
  }
  if (deletions <= allowed) return { keys, population, deletions };
  for (const line of planned.slice(0, SHOW)) reporter.warn(`would delete ${redactor.redact(line)}`);
  if (planned.length > SHOW) reporter.warn(`... and ${planned.length - SHOW} more`);
  const pct = population > 0 ? ((deletions / population) * 100).toFixed(1) : '100';
  return {
    keys,
    population,
    deletions,
    refusal:
      `refused by the deletion guard: the prune would delete ${deletions} of ${population} entries (${pct}%), ` +
      `over maxDeletes ${describeLimit(limit)} (${allowed} allowed); nothing was changed. ` +
      `Check the input (${inputKeys.size} keys read from ${source.description}); if the deletions are intended, ` +
      `raise the limit with --max-deletes.`,
  };
}
