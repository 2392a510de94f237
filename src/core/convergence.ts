import type { OutcomeStore, RunStore } from './ledger.ts';
import { NON_CONVERGING, type RecordResult, type StepDiff } from './outcome.ts';

/** How flapping records are found: the same step changing the same field on each of the last `runs` runs. */
export interface ConvergencePolicy {
  /** Runs, this one included. @default 3 */
  runs: number;
}

export const DEFAULT_CONVERGENCE: ConvergencePolicy = { runs: 3 };

const fieldsOf = (diff: StepDiff[]) =>
  new Map(diff.flatMap((d) => d.changes.map((c) => [`${d.step}\0${c.field}`, c] as const)));

/**
 * Watches for records that never converge: a value written on every run (a
 * password compared in clear, a value the server normalises, two rules
 * fighting over a group). A changed record whose same step changed the same
 * field on each of the previous runs gets a `non-converging:` warning with the
 * values of each run (secrets stay masked: diffs are stored masked).
 */
export class ConvergenceWatch {
  private constructor(
    private readonly store: OutcomeStore,
    private readonly previous: string[],
    private readonly runs: number,
  ) {}

  /** The watch for a run: the previous real runs of the task that reached records. */
  static async open(
    store: OutcomeStore & RunStore,
    task: string,
    runId: string,
    policy: ConvergencePolicy | false,
  ): Promise<ConvergenceWatch | undefined> {
    if (policy === false || policy.runs < 2) return undefined;
    const recent = await store.listRuns({ task, limit: policy.runs + 10 });
    const previous = recent
      .filter((r) => r.id !== runId && !r.dryRun && r.status !== 'refused' && r.status !== 'planned')
      .slice(0, policy.runs - 1)
      .map((r) => r.id);
    return previous.length === policy.runs - 1
      ? new ConvergenceWatch(store, previous, policy.runs)
      : undefined;
  }

  /** Whether a result can be flagged at all: only a change can repeat. */
  concerns(result: RecordResult): boolean {
    return result.outcome === 'changed';
  }

  /** The result, with a warning when it changed the same way on every one of the last runs. */
  async annotate(result: RecordResult): Promise<RecordResult> {
    if (!this.concerns(result)) return result;
    let common = fieldsOf(result.diff);
    const seen: StepDiff[][] = [];
    for (const runId of this.previous) {
      if (common.size === 0) return result;
      const before = await this.store.getResult(runId, result.slot);
      if (before?.outcome !== 'changed') return result;
      const fields = fieldsOf(before.diff);
      common = new Map([...common].filter(([k]) => fields.has(k)));
      seen.push(before.diff);
    }
    if (common.size === 0) return result;
    const warnings = [...common.keys()].map((k) => {
      const [step, field] = k.split('\0') as [string, string];
      const values = [result.diff, ...seen].reverse().map((diff) => describe(fieldsOf(diff).get(k)));
      return `${NON_CONVERGING} step ${step} changed ${field} on each of the last ${this.runs} runs (${values.join('; ')}): a value written every run, normalised by the target, or fought over by another writer`;
    });
    return { ...result, warnings: [...(result.warnings ?? []), ...warnings] };
  }
}

function describe(change: { from?: unknown; to?: unknown; op: string } | undefined): string {
  if (!change) return '?';
  const v = (x: unknown) => (x === undefined ? '∅' : typeof x === 'string' ? x : JSON.stringify(x));
  return `${v(change.from)} -> ${v(change.to)}`;
}
