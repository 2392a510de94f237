import type { Diff } from './diff.ts';
import type { Classifier } from './errors.ts';

/**
 * The ledger-backed store behind `once` effects and HTTP idempotency keys.
 * The engine hands each step the one that belongs to its run.
 */
export interface EffectStore {
  /** The state of an effect for (task, record key, effect name), across all runs. */
  get(effect: string): Promise<EffectState | undefined>;
  /**
   * The ledger has no record of this effect for this record: may it run? `run`
   * normally. When the ledger looks lost or rebuilt (it has no earlier run of the
   * task, or its history says the effect happened) while the target already holds
   * the record, `held`: the effect is recorded in doubt for a person to settle,
   * never silently repeated; or `adopted` when the run adopts an existing
   * population (`--adopt-effects`): recorded as done without running it.
   */
  firstTime(effect: string): Promise<'run' | 'held' | 'adopted'>;
  /** Durably records the intent to run an effect, before running it. */
  intent(effect: string, detail?: string): Promise<void>;
  /** Durably records that the effect completed. */
  done(effect: string, detail?: string): Promise<void>;
  /**
   * Forgets an intent whose effect certainly did not happen (the mail relay
   * refused the connection), so a retry may perform it.
   */
  abandon(effect: string, reason: string): Promise<void>;
  /**
   * Records the payload hash an idempotency key was first sent with. Throws a
   * permanent error when the same key was stored with another payload.
   */
  claimIdempotencyKey(idempotencyKey: string, payloadHash: string): Promise<void>;
}

export type EffectState = 'intent' | 'done';

/** What the engine hands to a step along with the record and the task's `ctx`. */
export interface StepEnv {
  /** The task's name. */
  task: string;
  /** The record's key. */
  key: string;
  /** This step's name. */
  step: string;
  /** The run's id. */
  runId: string;
  /** 1 on the first try, 2 on the first retry... */
  attempt: number;
  /** Aborted when the run is interrupted; pass it to long operations. */
  signal: AbortSignal;
  /** `once` effects and idempotency keys, backed by the ledger. */
  effects: EffectStore;
  /**
   * In a dry run or a plan: the pending diffs of this record's earlier steps,
   * which have not been applied. A step whose check takes them into account
   * (`predicts: true`) reports what the run would really do; other steps'
   * pending diffs after a pending one are marked provisional. Empty when applying.
   */
  pending: readonly { step: string; diff: Diff }[];
  /** Replaces declared secret values in a string with `<secret>`. */
  redact(text: string): string;
  /** Attaches a note (captured command output, say) to the record's outcome. */
  note(text: string): void;
}

/**
 * A step is a reconciler: `check` says what differs, `apply` makes exactly that
 * difference, and the engine checks again afterwards to verify.
 *
 * @example
 * const touch: Step<{ path: string }, { files: Set<string> }> = {
 *   name: 'touch',
 *   check: (r, ctx) => (ctx.files.has(r.path) ? undefined : { changes: [added('file', r.path)] }),
 *   apply: (r, ctx) => { ctx.files.add(r.path); },
 * };
 */
export interface Step<R = any, C = any, D extends Diff = Diff> {
  /** A stable name: it keys `once` effects, idempotency keys and the ledger's history. */
  name: string;
  /** Read-only. Returns the difference, or `undefined`/`null` when there is none. */
  check: (record: R, ctx: C, env: StepEnv) => Promise<D | undefined | null> | D | undefined | null;
  /** Makes exactly the difference `check` returned. Must be safe when the check was stale. */
  // A method (bivariant in `diff`), so a step with its own diff type fits a list of steps;
  // `check` above is a property, so a step that needs `ctx.ldap` does not fit a task without it.
  apply(record: R, ctx: C, diff: D, env: StepEnv): Promise<unknown> | unknown;
  /**
   * Re-check after `apply` (default true). Turn it off only for steps whose
   * check cannot see the effect (a command with no guard).
   */
  verify?: boolean;
  /** Classifies this step's errors before the task's and the default classifier. */
  classify?: Classifier;
  /** Its deletions count toward the deletion guard (`maxDeletes`). */
  destructive?: boolean;
  /**
   * Its check predicts the state the earlier steps' pending diffs (`env.pending`)
   * would leave, so its pending diff in a dry run or a plan is not provisional.
   */
  predicts?: boolean;
}

/** Options for {@link checkThenAct}. */
export interface CheckThenActOptions<R, C, D extends Diff> {
  name: string;
  check: Step<R, C, D>['check'];
  apply: Step<R, C, D>['apply'];
  verify?: boolean;
  classify?: Classifier;
  destructive?: boolean;
}

/**
 * The generic reconciler: wraps a check and an act into a {@link Step}.
 *
 * @example
 * checkThenAct({
 *   name: 'flag',
 *   check: async (r, ctx) => ((await ctx.get(r.id)) ? undefined : { changes: [added('flag')] }),
 *   apply: async (r, ctx) => ctx.set(r.id),
 * });
 */
export function checkThenAct<R = any, C = any, D extends Diff = Diff>(
  opts: CheckThenActOptions<R, C, D>,
): Step<R, C, D> {
  return { ...opts };
}

/** Options for {@link upsertStep}. */
export interface UpsertOptions<R, C, V extends Record<string, unknown>> {
  name: string;
  /** The desired values. */
  desired(record: R, ctx: C, env: StepEnv): Promise<V> | V;
  /** The current values, or `undefined` when the target does not exist yet. */
  read(record: R, ctx: C, env: StepEnv): Promise<Partial<V> | undefined> | Partial<V> | undefined;
  /**
   * Writes the values atomically (create-or-update), so a stale check cannot
   * duplicate anything. Receives the full desired values and the changed fields.
   */
  write(
    record: R,
    ctx: C,
    values: V,
    changed: (keyof V & string)[],
    env: StepEnv,
  ): Promise<unknown> | unknown;
  /**
   * Fields whose values are never printed and never compared: written when the
   * target is created, and left alone after (a password the target stores
   * hashed would otherwise differ on every run), unless `rotateSecrets`.
   */
  secret?: (keyof V & string)[];
  /** Compare and rewrite the `secret` fields on every run too (a password rotation). @default false */
  rotateSecrets?: boolean;
  /** Compares two values (default: equal after `String()`; arrays as sets). */
  equals?: (a: unknown, b: unknown) => boolean;
  classify?: Classifier;
}

/** The diff an upsert step computes. */
export interface UpsertDiff<V> extends Diff {
  create: boolean;
  values: V;
  changed: (keyof V & string)[];
}

function defaultEquals(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    const x = (Array.isArray(a) ? a : a === undefined || a === null ? [] : [a]).map(String).sort();
    const y = (Array.isArray(b) ? b : b === undefined || b === null ? [] : [b]).map(String).sort();
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (a === undefined || a === null) return b === undefined || b === null;
  if (b === undefined || b === null) return false;
  return String(a) === String(b);
}

/**
 * The generic upsert: reads the current values, reports the fields that differ
 * (`+field` on create, `~field: old -> new` on update) and writes them.
 *
 * @example
 * upsertStep({
 *   name: 'profile',
 *   desired: (r) => ({ email: r.email }),
 *   read: (r, ctx) => ctx.profiles.get(r.id),
 *   write: (r, ctx, values) => ctx.profiles.set(r.id, values),
 * });
 */
export function upsertStep<R = any, C = any, V extends Record<string, unknown> = Record<string, unknown>>(
  opts: UpsertOptions<R, C, V>,
): Step<R, C, UpsertDiff<V>> {
  const equals = opts.equals ?? defaultEquals;
  const secret = new Set<string>(opts.secret ?? []);
  return {
    name: opts.name,
    ...(opts.classify ? { classify: opts.classify } : {}),
    async check(record, ctx, env) {
      const values = await opts.desired(record, ctx, env);
      const current = await opts.read(record, ctx, env);
      const changed: (keyof V & string)[] = [];
      const changes: Diff['changes'] = [];
      for (const [field, to] of Object.entries(values) as [keyof V & string, unknown][]) {
        const s = secret.has(field) ? { secret: true } : {};
        // A secret is set on create; comparing it would report a change on every run.
        if (current !== undefined && secret.has(field) && !opts.rotateSecrets) continue;
        if (current === undefined) {
          if (to === undefined || to === null) continue;
          changed.push(field);
          changes.push({ op: '+', field, to, ...s });
        } else if (!equals(current[field], to)) {
          changed.push(field);
          const from = current[field];
          if (from === undefined || from === null) changes.push({ op: '+', field, to, ...s });
          else if (to === undefined || to === null) changes.push({ op: '-', field, from, ...s });
          else changes.push({ op: '~', field, from, to, ...s });
        }
      }
      if (current !== undefined && changes.length === 0) return undefined;
      return {
        create: current === undefined,
        values,
        changed,
        changes,
        ...(current === undefined ? { creates: 1 } : {}),
      };
    },
    apply(record, ctx, diff, env) {
      return opts.write(record, ctx, diff.values, diff.changed, env);
    },
  };
}
