import type {
  EffectId,
  EffectRecord,
  Ledger,
  LedgerEvent,
  OutcomeBatch,
  RunFilter,
  RunInfo,
  RunUpdate,
} from '../core/ledger.ts';
import { type Counts, countOutcome, emptyCounts, type RecordResult } from '../core/outcome.ts';
import type { EffectState } from '../core/step.ts';

const effectKey = (id: EffectId) => `${id.task}\0${id.key}\0${id.effect}`;

/** The in-memory twin of the ledger, for unit tests: plain maps, no policy of its own. */
export class MemoryLedger implements Ledger {
  readonly location = ':memory:';
  readonly runs = new Map<string, RunInfo>();
  readonly results = new Map<string, Map<string, RecordResult>>();
  readonly history: LedgerEvent[] = [];
  readonly effects = new Map<string, EffectRecord>();
  readonly idempotencyKeys = new Map<string, string>();

  async insertRun(run: RunInfo): Promise<void> {
    if (this.runs.has(run.id)) throw new Error(`run ${run.id} exists`);
    this.runs.set(run.id, structuredClone(run));
    this.results.set(run.id, new Map());
  }

  async updateRun(runId: string, update: RunUpdate): Promise<void> {
    const run = this.runs.get(runId);
    if (!run) throw new Error(`no run ${runId}`);
    for (const [field, value] of Object.entries(update)) {
      if (value === null) delete (run as unknown as Record<string, unknown>)[field];
      else if (value !== undefined)
        (run as unknown as Record<string, unknown>)[field] = structuredClone(value);
    }
  }

  async getRun(runId: string): Promise<RunInfo | undefined> {
    const run = this.runs.get(runId);
    return run && structuredClone(run);
  }

  async latestRun(task: string): Promise<RunInfo | undefined> {
    const runs = [...this.runs.values()].filter((r) => r.task === task && !r.dryRun);
    const last = runs[runs.length - 1];
    return last && structuredClone(last);
  }

  async listRuns(filter: RunFilter): Promise<RunInfo[]> {
    const runs = [...this.runs.values()]
      .filter(
        (r) =>
          (filter.task === undefined || r.task === filter.task) &&
          (filter.status === undefined || r.status === filter.status) &&
          (filter.since === undefined || r.startedAt >= filter.since),
      )
      .reverse();
    return runs.slice(0, filter.limit ?? runs.length).map((r) => structuredClone(r));
  }

  async commit(batch: OutcomeBatch): Promise<void> {
    for (const { runId, result } of batch.results) {
      const results = this.results.get(runId);
      if (!results) throw new Error(`no run ${runId}`);
      results.set(result.slot, structuredClone(result));
    }
    for (const e of batch.events) this.history.push(structuredClone(e));
  }

  async getResult(runId: string, slot: string): Promise<RecordResult | undefined> {
    const r = this.results.get(runId)?.get(slot);
    return r && structuredClone(r);
  }

  async countResults(runId: string): Promise<Counts> {
    const counts = emptyCounts();
    for (const r of this.results.get(runId)?.values() ?? []) countOutcome(counts, r);
    return counts;
  }

  async events(filter: { runId?: string; key?: string }): Promise<LedgerEvent[]> {
    return this.history
      .filter(
        (e) =>
          (filter.runId === undefined || e.runId === filter.runId) &&
          (filter.key === undefined || e.key === filter.key),
      )
      .map((e) => structuredClone(e));
  }

  async getEffect(id: EffectId): Promise<EffectRecord | undefined> {
    const e = this.effects.get(effectKey(id));
    return e && structuredClone(e);
  }

  async putEffect(id: EffectId, record: EffectRecord | null, event: LedgerEvent): Promise<void> {
    if (record) this.effects.set(effectKey(id), structuredClone(record));
    else this.effects.delete(effectKey(id));
    this.history.push(structuredClone(event));
  }

  async listEffects(task: string, state: EffectState): Promise<EffectRecord[]> {
    return [...this.effects.values()]
      .filter((e) => e.task === task && e.state === state)
      .sort((a, b) => a.intentAt - b.intentAt)
      .map((e) => structuredClone(e));
  }

  async claimIdempotencyKey(claim: { idempotencyKey: string; payloadHash: string }): Promise<string> {
    const prev = this.idempotencyKeys.get(claim.idempotencyKey);
    if (prev !== undefined) return prev;
    this.idempotencyKeys.set(claim.idempotencyKey, claim.payloadHash);
    return claim.payloadHash;
  }

  async close(): Promise<void> {}
}
