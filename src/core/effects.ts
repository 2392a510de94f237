import type { Clock } from './clock.ts';
import { PermanentError } from './errors.ts';
import type { Journal } from './journal.ts';
import {
  type EffectId,
  type EffectRecord,
  type LedgerEvent,
  type OnceStore,
  resolvedDetail,
} from './ledger.ts';
import type { EffectState, EffectStore } from './step.ts';

/** What a run knows of the ledger's memory of effects. */
export interface EffectMemory {
  /** The ledger has no earlier real run of the task: it was created fresh, moved, lost or rebuilt. */
  fresh: boolean;
  dryRun: boolean;
  /** `--adopt-effects`: who adopts the existing population's effects as done. */
  adoptedBy?: string | undefined;
}

/** How a held effect's intent detail begins. */
const HELD = 'held: ';

/**
 * The rules for `once` effects, in one place for every ledger: an intent is
 * written durably before the effect and never over a completed one; a
 * completion keeps the intent's run and time; forgetting an intent (the
 * effect certainly did not happen, or an operator says so) leaves a history line.
 */
export class Effects {
  /** What this run knows of the ledger's memory (see `firstTime`). */
  private memory: EffectMemory = { fresh: false, dryRun: false };

  constructor(
    private readonly store: OnceStore,
    private readonly journal: Journal,
    private readonly clock: Clock,
    readonly task: string,
  ) {}

  /** Tells the rules what the run knows: a ledger with no earlier run of the task, a dry run, an adoption. */
  remember(memory: EffectMemory): void {
    this.memory = memory;
  }

  /**
   * An effect the ledger has no record of, for a record the target already holds
   * (no earlier step of it had anything to do): in a ledger that looks lost or
   * rebuilt (no earlier run of the task; or the history says the effect was
   * intended or done) it is held in doubt, or adopted as done; else it runs.
   */
  private async firstTime(
    runId: string,
    key: string,
    effect: string,
    targetHeld: boolean,
  ): Promise<'run' | 'held' | 'adopted'> {
    if (!targetHeld) return 'run';
    const lost = this.memory.fresh || (await this.store.effectHistory(this.id(key, effect)));
    if (!lost) return 'run';
    if (this.memory.dryRun) return this.memory.adoptedBy ? 'adopted' : 'held';
    const id = this.id(key, effect);
    if (this.memory.adoptedBy) {
      const detail = `adopted by ${this.memory.adoptedBy}: the target already held ${key} and the ledger had no record of ${effect}`;
      const event = this.line(runId, key, effect, 'resolved', detail);
      await this.store.putEffect(
        id,
        { ...id, state: 'done', runId, intentAt: event.at, doneAt: event.at, detail },
        event,
      );
      return 'adopted';
    }
    const detail = `${HELD}the ledger had no record of ${effect}, yet the target already held ${key}`;
    const event = this.line(runId, key, effect, 'effect-intent', detail);
    await this.store.putEffect(id, { ...id, state: 'intent', runId, intentAt: event.at, detail }, event);
    return 'held';
  }

  /** With `--adopt-effects`: an effect held in doubt by an earlier run is adopted as done too. */
  private async adoptHeld(key: string, effect: string): Promise<boolean> {
    const who = this.memory.adoptedBy;
    if (!who || this.memory.dryRun) return false;
    const held = await this.get(key, effect);
    if (held?.state !== 'intent' || !held.detail?.startsWith(HELD)) return false;
    await this.settle(held, 'done', `${who} (--adopt-effects)`);
    return true;
  }

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
    const event = this.line(
      record.runId,
      record.key,
      record.effect,
      'resolved',
      resolvedDetail(verdict, who),
    );
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

  /**
   * The effect store one record's steps see. `targetHeld` tells whether the
   * target already held the record (no earlier step of it had anything to do).
   */
  forRecord(runId: string, key: string, targetHeld: () => boolean = () => false): EffectStore {
    return new RecordEffects(this, runId, key, targetHeld);
  }

  /** Stores an idempotency key's payload hash; refuses another payload under the same key. */
  async claim(key: string, idempotencyKey: string, payloadHash: string): Promise<void> {
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
  }

  /** The state of an effect as a step sees it (a held one adopted first, with `--adopt-effects`). */
  async stateFor(key: string, effect: string): Promise<EffectState | undefined> {
    if (await this.adoptHeld(key, effect)) return 'done';
    return (await this.get(key, effect))?.state;
  }

  /** See `EffectStore.firstTime`. */
  decideFirstTime(
    runId: string,
    key: string,
    effect: string,
    targetHeld: boolean,
  ): Promise<'run' | 'held' | 'adopted'> {
    return this.firstTime(runId, key, effect, targetHeld);
  }
}

/** One record's view of the effects: one object a record, its methods shared. */
class RecordEffects implements EffectStore {
  constructor(
    private readonly effects: Effects,
    private readonly runId: string,
    private readonly key: string,
    private readonly targetHeld: () => boolean,
  ) {}

  get(effect: string): Promise<EffectState | undefined> {
    return this.effects.stateFor(this.key, effect);
  }
  firstTime(effect: string): Promise<'run' | 'held' | 'adopted'> {
    return this.effects.decideFirstTime(this.runId, this.key, effect, this.targetHeld());
  }
  intent(effect: string, detail?: string): Promise<void> {
    return this.effects.intent(this.runId, this.key, effect, detail);
  }
  done(effect: string, detail?: string): Promise<void> {
    return this.effects.done(this.runId, this.key, effect, detail);
  }
  abandon(effect: string, reason: string): Promise<void> {
    return this.effects.abandon(this.runId, this.key, effect, reason);
  }
  claimIdempotencyKey(idempotencyKey: string, payloadHash: string): Promise<void> {
    return this.effects.claim(this.key, idempotencyKey, payloadHash);
  }
}
