import type { Clock } from './clock.ts';
import { PermanentError } from './errors.ts';
import type { Journal } from './journal.ts';
import type { EffectId, EffectRecord, LedgerEvent, OnceStore } from './ledger.ts';
import type { EffectStore } from './step.ts';

/**
 * The rules for `once` effects, in one place for every ledger: an intent is
 * written durably before the effect and never over a completed one; a
 * completion keeps the intent's run and time; forgetting an intent (the
 * effect certainly did not happen, or an operator says so) leaves a history line.
 */
export class Effects {
  constructor(
    private readonly store: OnceStore,
    private readonly journal: Journal,
    private readonly clock: Clock,
    readonly task: string,
  ) {}

  private id(key: string, effect: string): EffectId {
    return { task: this.task, key, effect };
  }

  private line(
    runId: string,
    key: string,
    effect: string,
    kind: LedgerEvent['kind'],
    detail?: string,
  ): LedgerEvent {
    return { runId, key, step: effect, kind, ...(detail ? { detail } : {}), at: this.clock.now() };
  }

  get(key: string, effect: string): Promise<EffectRecord | undefined> {
    return this.store.getEffect(this.id(key, effect));
  }

  listInDoubt(): Promise<EffectRecord[]> {
    return this.store.listEffects(this.task, 'intent');
  }

  async intent(runId: string, key: string, effect: string, detail?: string): Promise<void> {
    const id = this.id(key, effect);
    if ((await this.store.getEffect(id))?.state === 'done') return;
    // The history so far goes first, so that the intent's line follows it.
    await this.journal.flush();
    const event = this.line(runId, key, effect, 'effect-intent', detail);
    const record: EffectRecord = {
      ...id,
      state: 'intent',
      runId,
      intentAt: event.at,
      ...(detail ? { detail } : {}),
    };
    await this.store.putEffect(id, record, event);
  }

  async done(runId: string, key: string, effect: string, detail?: string): Promise<void> {
    await this.complete(runId, key, effect, this.line(runId, key, effect, 'effect-done', detail), detail);
  }

  /** Forgets an intent whose effect certainly did not happen, so a retry may perform it. */
  async abandon(runId: string, key: string, effect: string, reason: string): Promise<void> {
    await this.store.putEffect(
      this.id(key, effect),
      null,
      this.line(runId, key, effect, 'effect-abandoned', reason),
    );
  }

  /** An operator's word on an in-doubt effect (`idem resolve`): it happened, or run it again. */
  async settle(record: EffectRecord, verdict: 'done' | 'retry', who: string): Promise<void> {
    const event = this.line(record.runId, record.key, record.effect, 'resolved', `${verdict} by ${who}`);
    if (verdict === 'done') await this.complete(record.runId, record.key, record.effect, event, undefined);
    else await this.store.putEffect(this.id(record.key, record.effect), null, event);
  }

  private async complete(
    runId: string,
    key: string,
    effect: string,
    event: LedgerEvent,
    detail: string | undefined,
  ): Promise<void> {
    const id = this.id(key, effect);
    const prev = await this.store.getEffect(id);
    const now = event.at;
    const kept = detail ?? prev?.detail;
    await this.store.putEffect(
      id,
      {
        ...id,
        state: 'done',
        runId: prev?.runId ?? runId,
        intentAt: prev?.intentAt ?? now,
        doneAt: now,
        ...(kept ? { detail: kept } : {}),
      },
      event,
    );
  }

  /** The effect store one record's steps see. */
  forRecord(runId: string, key: string): EffectStore {
    return {
      get: async (effect) => (await this.get(key, effect))?.state,
      intent: (effect, detail) => this.intent(runId, key, effect, detail),
      done: (effect, detail) => this.done(runId, key, effect, detail),
      abandon: (effect, reason) => this.abandon(runId, key, effect, reason),
      claimIdempotencyKey: async (idempotencyKey, payloadHash) => {
        const stored = await this.store.claimIdempotencyKey({
          task: this.task,
          key,
          idempotencyKey,
          payloadHash,
          at: this.clock.now(),
        });
        if (stored !== payloadHash) {
          throw new PermanentError(
            `idempotency key ${idempotencyKey} was first sent with another payload ` +
              `(sha256 ${stored.slice(0, 12)}…, now ${payloadHash.slice(0, 12)}…); refusing to re-send a different request under the same key`,
          );
        }
      },
    };
  }
}
