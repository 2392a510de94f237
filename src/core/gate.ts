import type { Diff } from './diff.ts';
import { allowedDeletes, deletionsOf, describeLimit } from './guard.ts';
import type { DeleteLimit } from './task.ts';

/**
 * The change budgets a plan is checked against before its first write. A limit
 * is a count, a percentage of the population, or both (the smaller wins);
 * `false` switches a budget off.
 *
 * @example
 * budget: { creates: { percent: 10 }, attributes: { mail: { percent: 5 } }, shrink: 10 }
 */
export interface ChangeBudget {
  /** Records the plan creates. Needs a last accepted run (a first run creates everything). @default 25% */
  creates?: DeleteLimit | false;
  /** Records the plan modifies. Needs a last accepted run. @default 25% */
  modifications?: DeleteLimit | false;
  /**
   * Records whose one attribute (column, field) the plan modifies, per attribute;
   * `'*'` is every attribute not named. Needs a last accepted run. @default { '*': 20% }
   */
  attributes?: Record<string, DeleteLimit | false>;
  /** Refuse when the record count fell by more than this percentage since the last accepted run. @default 25 */
  shrink?: number | false;
  /**
   * Refuse when more than this percentage of the last accepted run's keys are gone
   * while as many new keys appear (keys reformatted: leading zeros lost, an ID migration). @default 50
   */
  keyChurn?: number | false;
  /** Below this many records, percentage budgets do not apply (a handful of test rows). @default 20 */
  minPopulation?: number;
  /**
   * What to do with an input identical to the last successful run's: reconcile it
   * anyway (the target may have drifted) or skip the run. Either way the recap says so.
   * @default 'reconcile'
   */
  identicalInput?: 'reconcile' | 'skip';
}

/** The budgets a task gets unless it says otherwise: they protect without getting in the way of a normal night. */
export const DEFAULT_BUDGET: Required<ChangeBudget> = {
  creates: { percent: 25 },
  modifications: { percent: 25 },
  attributes: { '*': { percent: 20 } },
  shrink: 25,
  keyChurn: 50,
  minPopulation: 20,
  identicalInput: 'reconcile',
};

/** The task's budget over the defaults, with the command line's over both. */
export function resolveBudget(
  task: ChangeBudget | undefined,
  flags: ChangeBudget = {},
): Required<ChangeBudget> {
  return {
    ...DEFAULT_BUDGET,
    ...task,
    ...flags,
    attributes: { ...DEFAULT_BUDGET.attributes, ...task?.attributes, ...flags.attributes },
  };
}

/** What a plan does to one record, for the gate. */
export type PlanKind = 'create' | 'modify' | 'delete';

/** A record deletes if a step deletes, creates if a step creates, else it modifies. */
export function planKind(diffs: { diff: Diff; destructive?: boolean | undefined }[]): PlanKind {
  if (diffs.some((d) => deletionsOf(d.diff, d.destructive) > 0)) return 'delete';
  if (diffs.some((d) => (d.diff.creates ?? 0) > 0)) return 'create';
  return 'modify';
}

const EXAMPLES = 5;

/** A bounded list of example keys. */
class Examples {
  readonly keys: string[] = [];
  count = 0;
  add(key: string): void {
    this.count++;
    if (this.keys.length < EXAMPLES) this.keys.push(key);
  }
}

/**
 * Counts what a plan does while its records are checked, in constant memory:
 * creates, modifications, deletions, modifications per attribute, with the
 * first keys of each as examples.
 */
export class PlanStats {
  readonly kinds: Record<PlanKind, Examples> = {
    create: new Examples(),
    modify: new Examples(),
    delete: new Examples(),
  };
  readonly attributes = new Map<string, Examples>();
  /** Records of the input, and how many of its keys the last accepted run had (unknown when its keys were not kept). */
  records = 0;
  known: number | undefined;

  observe(key: string, kind: PlanKind, fields: Iterable<string>): void {
    this.kinds[kind].add(key);
    if (kind !== 'modify') return;
    for (const field of new Set(fields)) {
      const ex = this.attributes.get(field) ?? new Examples();
      this.attributes.set(field, ex);
      ex.add(key);
    }
  }

  /** A JSON summary for the recap and a saved plan. */
  summary(): { creates: number; modifications: number; deletions: number } {
    return {
      creates: this.kinds.create.count,
      modifications: this.kinds.modify.count,
      deletions: this.kinds.delete.count,
    };
  }
}

/** The last accepted run, the plan is compared with. */
export interface Baseline {
  runId: string;
  /** Its input's record count. */
  records: number;
  inputDigest: string;
}

/** One budget a plan exceeds. */
export interface Exceeded {
  budget: string;
  message: string;
}

const pct = (n: number, of: number) => (of > 0 ? `${((n / of) * 100).toFixed(1)}%` : '100%');
const eg = (ex: Examples) =>
  ex.keys.length > 0 ? `; e.g. ${ex.keys.join(', ')}${ex.count > ex.keys.length ? ', ...' : ''}` : '';

/** Is `n` over `limit` of `base`? (`base` below the minimum population: only counts apply.) */
function over(n: number, limit: DeleteLimit, base: number, minPopulation: number): number | undefined {
  const effective =
    base < minPopulation ? { ...(limit.count !== undefined ? { count: limit.count } : {}) } : limit;
  const allowed = allowedDeletes(effective, base);
  return n > allowed ? allowed : undefined;
}

/**
 * The budgets a plan exceeds, with numbers and example keys; empty when it may
 * go through. Pure.
 */
export function judgePlan(input: {
  stats: PlanStats;
  budget: Required<ChangeBudget>;
  baseline: Baseline | undefined;
}): Exceeded[] {
  const { stats, budget, baseline } = input;
  const out: Exceeded[] = [];
  if (!baseline) return out;
  const base = Math.max(baseline.records, stats.records);
  const min = budget.minPopulation;
  const since = `since the last accepted run ${baseline.runId}`;
  if (budget.shrink !== false && baseline.records >= min && stats.records < baseline.records) {
    const drop = ((baseline.records - stats.records) / baseline.records) * 100;
    if (drop > budget.shrink) {
      out.push({
        budget: 'shrink',
        message: `the input holds ${stats.records} records, down from ${baseline.records} ${since} (-${drop.toFixed(1)}%, more than the ${budget.shrink}% allowed): a truncated export?`,
      });
    }
  }
  if (
    budget.keyChurn !== false &&
    stats.known !== undefined &&
    baseline.records >= min &&
    stats.records > 0
  ) {
    const gone = baseline.records - stats.known;
    const fresh = stats.records - stats.known;
    const goneShare = (gone / baseline.records) * 100;
    const freshShare = (fresh / stats.records) * 100;
    if (goneShare > budget.keyChurn && freshShare > budget.keyChurn) {
      out.push({
        budget: 'key-churn',
        message:
          `${gone} of the ${baseline.records} keys of the last accepted run ${baseline.runId} are missing while ${fresh} of ` +
          `${stats.records} keys are new: a mass delete plus a mass create (keys reformatted? leading zeros lost?)${eg(stats.kinds.create)}`,
      });
    }
  }
  const counted: [string, DeleteLimit | false, Examples][] = [
    ['creates', budget.creates, stats.kinds.create],
    ['modifications', budget.modifications, stats.kinds.modify],
  ];
  for (const [name, limit, ex] of counted) {
    if (limit === false) continue;
    const allowed = over(ex.count, limit, base, min);
    if (allowed === undefined) continue;
    out.push({
      budget: name,
      message: `${name}: the plan ${name === 'creates' ? 'creates' : 'modifies'} ${ex.count} of ${base} records (${pct(ex.count, base)}), over the budget of ${describeLimit(limit)} (${allowed} allowed)${eg(ex)}`,
    });
  }
  for (const [field, ex] of stats.attributes) {
    const limit = budget.attributes[field] ?? budget.attributes['*'];
    if (!limit) continue;
    const allowed = over(ex.count, limit, base, min);
    if (allowed === undefined) continue;
    out.push({
      budget: `attribute ${field}`,
      message: `attribute ${field}: the plan changes it on ${ex.count} of ${base} records (${pct(ex.count, base)}), over the budget of ${describeLimit(limit)} (${allowed} allowed)${eg(ex)}`,
    });
  }
  return out;
}
