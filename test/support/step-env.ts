import { PermanentError } from '../../src/core/errors.ts';
import { Redactor } from '../../src/core/redact.ts';
import type { EffectState, EffectStore, StepEnv } from '../../src/core/step.ts';

/** An in-memory effect store, for calling steps directly in tests. */
export function memoryEffects(): EffectStore & {
  states: Map<string, EffectState>;
  keys: Map<string, string>;
} {
  const states = new Map<string, EffectState>();
  const keys = new Map<string, string>();
  return {
    states,
    keys,
    async get(effect) {
      return states.get(effect);
    },
    async firstTime() {
      return 'run' as const;
    },
    async intent(effect) {
      states.set(effect, 'intent');
    },
    async done(effect) {
      states.set(effect, 'done');
    },
    async abandon(effect) {
      states.delete(effect);
    },
    async claimIdempotencyKey(k, hash) {
      const prev = keys.get(k);
      if (prev !== undefined && prev !== hash)
        throw new PermanentError(`idempotency key ${k} was already used with another payload`);
      keys.set(k, hash);
    },
  };
}

/** A StepEnv for calling a step's check/apply directly. */
export function makeEnv(over: Partial<StepEnv> = {}): StepEnv & { notes: string[] } {
  const notes: string[] = [];
  const redactor = new Redactor();
  return {
    task: 'test-task',
    key: 'k1',
    step: 'step',
    runId: 'r-test',
    attempt: 1,
    signal: new AbortController().signal,
    effects: memoryEffects(),
    pending: [],
    redact: (t) => redactor.redact(t),
    note: (t) => notes.push(t),
    notes,
    ...over,
  };
}
