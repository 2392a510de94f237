import type {
  Acceptance,
  Departure,
  EffectId,
  EffectRecord,
  Ledger,
  LedgerEvent,
  OutcomeBatch,
  PlannedRecord,
  RunFilter,
  RunInfo,
  RunUpdate,
} from '../core/ledger.ts';
import { EFFECT_LINES, settledUndone } from '../core/ledger.ts';
import { type LineRange, linesIn } from '../core/line-ranges.ts';
import { type Counts, countOutcomes, isFinal, type RecordResult } from '../core/outcome.ts';
import type { EffectState } from '../core/step.ts';

const effectKey = (id: EffectId) => `${id.task}\0${id.key}\0${id.effect}`;
const byLineThenSlot = (a: { line: number; slot: string }, b: { line: number; slot: string }) =>
  a.line - b.line || (a.slot < b.slot ? -1 : a.slot > b.slot ? 1 : 0);

/** The in-memory twin of the ledger, for unit tests: plain maps, no policy of its own. */
export class MemoryLedger implements Ledger {
  readonly location = ':memory:';
  readonly runs = new Map<string, RunInfo>();
  readonly results = new Map<string, Map<string, RecordResult>>();
  readonly history: LedgerEvent[] = [];
  readonly effects = new Map<string, EffectRecord>();
  readonly idempotencyKeys = new Map<string, string>();
  readonly plans = new Map<string, Map<string, PlannedRecord>>();
  readonly acceptances = new Map<string, Acceptance>();
  readonly departures = new Map<string, Departure>();
  readonly finished = new Map<string, LineRange[]>();
  readonly keys = new Map<string, Uint32Array>();

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
    for (const { runId, first, last } of batch.finished ?? []) {
      const ranges = this.finished.get(runId) ?? [];
      this.finished.set(runId, ranges);
      ranges.push([first, last]);
    }
    for (const { runId, record } of batch.planned ?? []) {
      const plan = this.plans.get(runId) ?? new Map<string, PlannedRecord>();
      this.plans.set(runId, plan);
      plan.set(record.slot, structuredClone(record));
    }
  }

  async planned(
    runId: string,
    after: { line: number; slot: string } | undefined,
    limit: number,
  ): Promise<PlannedRecord[]> {
    const all = [...(this.plans.get(runId)?.values() ?? [])].sort(byLineThenSlot);
    const start = after ? all.findIndex((p) => byLineThenSlot(p, after) > 0) : 0;
    return (start < 0 ? [] : all.slice(start, start + limit)).map((p) => structuredClone(p));
  }

  async plannedSlot(runId: string, slot: string): Promise<PlannedRecord | undefined> {
    const p = this.plans.get(runId)?.get(slot);
    return p && structuredClone(p);
  }

  async planProgress(runId: string): Promise<{ done: number; planned: { total: number; done: number } }> {
    const rows = [...(this.results.get(runId)?.values() ?? [])].filter((r) => isFinal(r.outcome));
    const pruned = rows.filter((r) => r.line === 0).length;
    const finished = new Set(rows.map((r) => r.slot));
    const plan = [...(this.plans.get(runId)?.keys() ?? [])];
    return {
      done: linesIn(this.finished.get(runId) ?? []) + pruned,
      planned: { total: plan.length, done: plan.filter((s) => finished.has(s)).length },
    };
  }

  async recordAcceptance(a: Acceptance): Promise<void> {
    this.acceptances.set(`${a.task}\0${a.planHash}`, structuredClone(a));
  }

  async findAcceptance(task: string, planHash: string): Promise<Acceptance | undefined> {
    const a = this.acceptances.get(`${task}\0${planHash}`);
    return a && structuredClone(a);
  }

  async listDepartures(task: string): Promise<Departure[]> {
    return [...this.departures.values()].filter((d) => d.task === task).map((d) => structuredClone(d));
  }

  async putDeparture(task: string, key: string, departure: Departure | null): Promise<void> {
    if (departure) this.departures.set(`${task}\0${key}`, structuredClone(departure));
    else this.departures.delete(`${task}\0${key}`);
  }

  async getResult(runId: string, slot: string): Promise<RecordResult | undefined> {
    const r = this.results.get(runId)?.get(slot);
    return r && structuredClone(r);
  }

  async countResults(runId: string): Promise<Counts> {
    return countOutcomes(this.results.get(runId)?.values() ?? [], linesIn(this.finished.get(runId) ?? []));
  }

  async finishedLines(runId: string): Promise<LineRange[]> {
    return [...(this.finished.get(runId) ?? [])];
  }

  async putRunKeys(runId: string, hashes: Uint32Array): Promise<void> {
    this.keys.set(runId, hashes.slice());
  }

  async runKeys(runId: string, visit: (chunk: Uint32Array) => void): Promise<boolean> {
    const keys = this.keys.get(runId);
    if (keys) visit(keys.slice());
    return keys !== undefined;
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

  async effectHistory(id: EffectId): Promise<boolean> {
    const runs = new Set([...this.runs.values()].filter((r) => r.task === id.task).map((r) => r.id));
    const last = this.history.findLast(
      (e) => runs.has(e.runId) && e.key === id.key && e.step === id.effect && EFFECT_LINES.has(e.kind),
    );
    return last !== undefined && !settledUndone(last);
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
