import type { Clock } from './clock.ts';
import type { Effects } from './effects.ts';
import { UsageError } from './errors.ts';
import type { Departure, PlanStore } from './ledger.ts';
import type { RecordResult } from './outcome.ts';
import type { PruneSpec } from './task.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The soft-delete lifecycle of a prune phase, over the ledger's leavers: a key
 * the input no longer lists is disabled and remembered; after the grace period
 * (days or runs) it is deleted; a key that comes back within it is forgotten
 * as a leaver (the task's steps re-enable it), with the `once` effects the
 * task names cleared so that they run again (by default none: no second welcome mail).
 */
export class Lifecycle<C> {
  private constructor(
    private readonly spec: PruneSpec<C> & { lifecycle: NonNullable<PruneSpec<C>['lifecycle']> },
    private readonly store: PlanStore,
    private readonly effects: Effects,
    private readonly clock: Clock,
    private readonly runId: string,
    private readonly leavers: Map<string, Departure>,
  ) {}

  static async open<C>(
    spec: PruneSpec<C> | undefined,
    store: PlanStore,
    effects: Effects,
    clock: Clock,
    runId: string,
  ): Promise<Lifecycle<C> | undefined> {
    if (!spec?.lifecycle) return undefined;
    const { graceDays, graceRuns } = spec.lifecycle;
    if (graceDays === undefined && graceRuns === undefined) {
      throw new UsageError(
        `task ${effects.task}: prune.lifecycle needs graceDays or graceRuns (how long a leaver stays disabled)`,
      );
    }
    const leavers = new Map((await store.listDepartures(effects.task)).map((d) => [d.key, d]));
    return new Lifecycle({ ...spec, lifecycle: spec.lifecycle }, store, effects, clock, runId, leavers);
  }

  /** Whether a leaver's grace period is over: it is deleted now, not disabled. */
  private due(d: Departure): boolean {
    const { graceDays, graceRuns } = this.spec.lifecycle;
    if (graceDays !== undefined && this.clock.now() - d.disabledAt >= graceDays * DAY_MS) return true;
    return graceRuns !== undefined && d.runsSince >= graceRuns;
  }

  /** The prune spec this run uses: disable, or delete after the grace period. */
  effective(): PruneSpec<C> {
    return {
      existing: (ctx) => this.spec.existing(ctx),
      steps: (key, ctx) => {
        const d = this.leavers.get(key);
        return d && this.due(d) ? this.spec.lifecycle.delete(key, ctx) : this.spec.steps(key, ctx);
      },
    };
  }

  /** Before a record of the input runs: a leaver back within the grace period gets its named effects again. */
  async beforeRecord(key: string): Promise<void> {
    if (!this.leavers.has(key)) return;
    for (const name of this.spec.lifecycle.resendOnRehire ?? []) {
      const effect = await this.effects.get(key, name);
      if (effect) await this.effects.settle(effect, 'retry', `the lifecycle: ${key} came back`);
    }
  }

  /** After a record or a prune key finished: the ledger's leavers follow what was done. */
  async after(result: RecordResult, prune: boolean): Promise<void> {
    if (result.outcome !== 'changed' && result.outcome !== 'ok') return;
    const key = result.key;
    const known = this.leavers.get(key);
    if (!prune) {
      if (known) await this.forget(key);
      return;
    }
    if (known && this.due(known)) {
      await this.forget(key);
    } else if (known) {
      await this.store.putDeparture(this.effects.task, key, { ...known, runsSince: known.runsSince + 1 });
    } else {
      const d: Departure = {
        task: this.effects.task,
        key,
        disabledAt: this.clock.now(),
        runId: this.runId,
        runsSince: 1,
      };
      this.leavers.set(key, d);
      await this.store.putDeparture(this.effects.task, key, d);
    }
  }

  private async forget(key: string): Promise<void> {
    this.leavers.delete(key);
    await this.store.putDeparture(this.effects.task, key, null);
  }
}
