import type { EffectRecord, Ledger, LedgerEvent, RunInfo } from '../core/ledger.ts';
import {
  type Counts,
  countOutcome,
  emptyCounts,
  type RecordResult,
  type RunStatus,
} from '../core/outcome.ts';

/** The in-memory twin of the ledger, for unit tests of the engine. */
export class MemoryLedger implements Ledger {
  readonly location = ':memory:';
  readonly runs = new Map<string, RunInfo>();
  readonly results = new Map<string, Map<string, RecordResult>>();
  readonly events: LedgerEvent[] = [];
  readonly effects = new Map<string, EffectRecord>();
  readonly idempotencyKeys = new Map<string, string>();

  async startRun(run: RunInfo): Promise<void> {
    if (this.runs.has(run.id)) throw new Error(`run ${run.id} exists`);
    this.runs.set(run.id, { ...run });
    this.results.set(run.id, new Map());
  }

  async reopenRun(runId: string, pid: number, host: string): Promise<void> {
    const run = this.mustRun(runId);
    Object.assign(run, { status: 'running', pid, host });
    delete run.endedAt;
    this.events.push({ runId, key: '', kind: 'resumed', detail: `pid ${pid} on ${host}`, at: Date.now() });
  }

  async finishRun(runId: string, status: RunStatus, counts: Counts, message?: string): Promise<void> {
    Object.assign(this.mustRun(runId), {
      status,
      counts,
      endedAt: Date.now(),
      ...(message ? { message } : {}),
    });
  }

  async findUnfinishedRun(task: string): Promise<RunInfo | undefined> {
    const runs = [...this.runs.values()].filter((r) => r.task === task && !r.dryRun);
    const last = runs[runs.length - 1];
    if (!last) return undefined;
    return ['succeeded', 'completed-with-failures', 'refused'].includes(last.status) ? undefined : last;
  }

  async getRun(runId: string): Promise<RunInfo | undefined> {
    return this.runs.get(runId);
  }

  async getResult(runId: string, slot: string): Promise<RecordResult | undefined> {
    return this.results.get(runId)?.get(slot);
  }

  async countResults(runId: string): Promise<Counts> {
    const counts = emptyCounts();
    for (const r of this.results.get(runId)?.values() ?? []) countOutcome(counts, r);
    return counts;
  }

  async writeResult(runId: string, result: RecordResult): Promise<void> {
    this.mustRun(runId);
    this.results.get(runId)?.set(result.slot, structuredClone(result));
  }

  async appendEvent(event: LedgerEvent): Promise<void> {
    this.events.push({ ...event });
  }

  async flush(): Promise<void> {}

  async getEffect(task: string, key: string, effect: string): Promise<EffectRecord | undefined> {
    return this.effects.get(`${task}\0${key}\0${effect}`);
  }

  async effectIntent(
    task: string,
    key: string,
    effect: string,
    runId: string,
    detail?: string,
  ): Promise<void> {
    const id = `${task}\0${key}\0${effect}`;
    if (this.effects.get(id)?.state === 'done') return;
    this.effects.set(id, {
      task,
      key,
      effect,
      state: 'intent',
      runId,
      intentAt: Date.now(),
      ...(detail ? { detail } : {}),
    });
    this.events.push({ runId, key, step: effect, kind: 'effect-intent', at: Date.now() });
  }

  async effectDone(task: string, key: string, effect: string, runId: string, detail?: string): Promise<void> {
    const id = `${task}\0${key}\0${effect}`;
    const now = Date.now();
    const prev = this.effects.get(id);
    this.effects.set(id, {
      task,
      key,
      effect,
      state: 'done',
      runId: prev?.runId ?? runId,
      intentAt: prev?.intentAt ?? now,
      doneAt: now,
      ...(detail ? { detail } : prev?.detail ? { detail: prev.detail } : {}),
    });
    this.events.push({ runId, key, step: effect, kind: 'effect-done', at: now });
  }

  async effectClear(task: string, key: string, effect: string): Promise<void> {
    this.effects.delete(`${task}\0${key}\0${effect}`);
  }

  async listInDoubt(task: string): Promise<EffectRecord[]> {
    return [...this.effects.values()].filter((e) => e.task === task && e.state === 'intent');
  }

  async claimIdempotencyKey(
    _task: string,
    _key: string,
    idempotencyKey: string,
    payloadHash: string,
  ): Promise<string> {
    const prev = this.idempotencyKeys.get(idempotencyKey);
    if (prev !== undefined) return prev;
    this.idempotencyKeys.set(idempotencyKey, payloadHash);
    return payloadHash;
  }

  async close(): Promise<void> {}

  private mustRun(runId: string): RunInfo {
    const run = this.runs.get(runId);
    if (!run) throw new Error(`no run ${runId}`);
    return run;
  }
}
