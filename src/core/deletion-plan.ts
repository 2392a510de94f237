import { allowedDeletes, describeLimit } from './guard.ts';
import type { DeleteLimit } from './task.ts';

/** How many lines of examples a refusal shows. */
export const SHOW = 20;

/** The keys the target holds and the input lacks, and the population they come from. Pure. */
export function pruneCandidates(
  inputKeys: { has(key: string): boolean },
  existing: Iterable<string>,
): { keys: string[]; population: number } {
  const keys: string[] = [];
  let population = 0;
  for (const key of existing) {
    population++;
    if (!inputKeys.has(key)) keys.push(key);
  }
  return { keys, population };
}

/** Rows without a readable key make the prune phase blind: its refusal. Pure. */
export function keylessRefusal(lines: number[]): string | undefined {
  if (lines.length === 0) return undefined;
  // A row we cannot read may well be a person who is still there: never prune then.
  const shown = lines.slice(0, SHOW).join(', ') + (lines.length > SHOW ? ', ...' : '');
  return (
    `refused: ${lines.length} input row(s) have no readable key (line ${shown}), so the prune phase cannot ` +
    'tell who is gone; nothing was changed. Fix those lines in the input and run again.'
  );
}

/** The guard's verdict on planned deletions: `undefined` when they fit the limit. Pure. */
export function deletionRefusal(plan: {
  deletions: number;
  population: number;
  limit: DeleteLimit;
  inputKeys: number;
  input: string;
}): string | undefined {
  const allowed = allowedDeletes(plan.limit, plan.population);
  if (plan.deletions <= allowed) return undefined;
  const pct = plan.population > 0 ? ((plan.deletions / plan.population) * 100).toFixed(1) : '100';
  return (
    `refused by the deletion guard: the prune would delete ${plan.deletions} of ${plan.population} entries (${pct}%), ` +
    `over maxDeletes ${describeLimit(plan.limit)} (${allowed} allowed); nothing was changed. ` +
    `Check the input (${plan.inputKeys} keys read from ${plan.input}); if the deletions are intended, ` +
    'raise the limit with --max-deletes.'
  );
}
