import type { Clock } from './clock.ts';
import { type Diff, publicChange } from './diff.ts';
import type { Effects } from './effects.ts';
import { errorMessage, kindOf } from './errors.ts';
import { type PlanKind, planKind } from './gate.ts';
import type { Journal } from './journal.ts';
import type { PlannedRecord } from './ledger.ts';
import type { RecordResult, StepDiff } from './outcome.ts';
import type { Prepared } from './prepare.ts';
import type { Redactor } from './redact.ts';
import type { Step, StepEnv } from './step.ts';
import { runStep, type StepResult, type StepRunContext } from './step-runner.ts';
import type { PruneRecord, PruneSpec, TaskDefinition } from './task.ts';

/** What one record's processing needs from its run. */
export interface ProcessorContext<R, C> {
  task: TaskDefinition<R, C, any>;
  ctx: C;
  /** Checks only (a dry run, the plan phase, the re-check before applying a plan). */
  check: StepRunContext;
  /** Check, apply, verify. */
  apply: StepRunContext;
  journal: Journal;
  effects: Effects;
  clock: Clock;
  redactor: Redactor;
}

/** A record with pending changes in the plan phase, and what the gate needs to know of it. */
export interface PlanEntry {
  record: PlannedRecord;
  kind: PlanKind;
  fields: string[];
}

/** What processing a record gave, and the error that ended it (for the circuit breaker). */
export interface Processed {
  /**
   * Its final outcome; undefined when the record was cut short (an interrupt, a
   * ledger that stopped: it stays unfinished) or is only planned.
   */
  result: RecordResult | undefined;
  /** In the plan phase: the pending changes, to apply after the gate. */
  planned?: PlanEntry;
  error: unknown;
}

/** How a planned record is applied. */
export interface ApplyMode {
  /** A saved plan (`idem apply`): a record whose target changed since the plan is refused, not re-planned. */
  strict: boolean;
  /** The run is resumed: a record found done was most likely applied by the attempt that died. */
  resumed: boolean;
}

/** Where a record comes from: its ledger slot, key, line and input hash. */
export interface Origin {
  slot: string;
  key: string;
  line: number;
  inputHash: string;
}

/** The outcome being assembled while a record's steps run. */
class Tally {
  readonly diff: StepDiff[] = [];
  /** The pending or applied diffs as the steps returned them (for the gate's kinds). */
  readonly raw: { diff: Diff; destructive: boolean | undefined }[] = [];
  readonly pending: { step: string; diff: Diff }[] = [];
  /** The diffs each step was about to apply (first try), as the plan would show them. */
  readonly applying: StepDiff[] = [];
  readonly notes: string[] = [];
  attempts = 0;
  changed = false;
  absorbed = false;
  outcome: RecordResult['outcome'] = 'ok';
  error: RecordResult['error'];
  cause: unknown;
  stopped = false;
  /** Steps found with nothing to do. */
  okSteps = 0;
  constructor(readonly startedAt: number) {}

  /** The target already held the record: earlier steps were checked and none had anything to do. */
  held(): boolean {
    return this.okSteps > 0 && !this.changed && !this.absorbed;
  }
}

type Build<T, C> = () => Step<T, C>[];

/** Frames kept of an unexpected error's stack: enough to reach the task's own code. */
const STACK_FRAMES = 12;

/** The stack of an error without a kind (a bug, most likely), its first frames only. */
function unexpectedStack(err: unknown): string | undefined {
  if (kindOf(err) !== undefined || !(err instanceof Error) || !err.stack) return undefined;
  const lines = err.stack.split('\n');
  const first = lines.findIndex((l) => /^\s+at /.test(l));
  return first < 0
    ? undefined
    : lines
        .slice(first, first + STACK_FRAMES)
        .map((l) => l.trim())
        .join('\n');
}

/** Runs the steps of one record (or one prune key) and turns them into one outcome. */
export class RecordProcessor<R, C> {
  constructor(private readonly p: ProcessorContext<R, C>) {}

  /** An outcome reached without running any step (`invalid` input, a `skipped` record). */
  stepless(origin: Origin, outcome: 'invalid' | 'skipped', reason: string): RecordResult {
    const now = this.p.clock.now();
    const why = this.p.redactor.redact(reason);
    return {
      key: origin.key,
      slot: origin.slot,
      line: origin.line,
      outcome,
      absorbed: false,
      diff: [],
      ...(outcome === 'invalid' ? { error: { message: why, class: 'invalid' as const } } : { notes: [why] }),
      attempts: 0,
      inputHash: origin.inputHash,
      startedAt: now,
      endedAt: now,
    };
  }

  private stepsOf(record: R): Build<R, C> {
    const { steps } = this.p.task;
    return () => (typeof steps === 'function' ? steps(record, this.p.ctx) : steps);
  }

  /** One pass over a record: check, apply, verify (or, with `dryRun`, checks only). */
  async record(
    slot: string,
    prepared: Prepared<R> & { kind: 'record' },
    dryRun: boolean,
  ): Promise<Processed> {
    const origin = { slot, key: prepared.key, line: prepared.line, inputHash: prepared.inputHash };
    if (prepared.skip) return { result: this.stepless(origin, 'skipped', prepared.skip), error: undefined };
    return this.finished(
      origin,
      await this.execute(
        origin,
        prepared.record,
        this.stepsOf(prepared.record),
        dryRun ? this.p.check : this.p.apply,
      ),
    );
  }

  /** One pass over a key to prune. */
  async prune(key: string, spec: PruneSpec<C>, dryRun: boolean): Promise<Processed> {
    const record: PruneRecord = { key };
    const origin = { slot: key, key, line: 0, inputHash: '' };
    return this.finished(
      origin,
      await this.execute(
        origin,
        record,
        () => spec.steps(key, this.p.ctx),
        dryRun ? this.p.check : this.p.apply,
      ),
    );
  }

  /**
   * The plan phase: checks only. A record with pending changes becomes a planned
   * record (applied after the gate); any other ends here (`ok`, `failed`, ...).
   */
  async plan(
    origin: Origin,
    record: R | PruneRecord,
    prune: boolean,
    build: Build<any, C>,
    dryRun: boolean,
  ): Promise<Processed> {
    const tally = await this.execute(origin, record, build, this.p.check);
    if (tally.stopped || tally.outcome !== 'ok' || !tally.changed) return this.finished(origin, tally);
    const planned: PlannedRecord = { ...origin, prune, diff: tally.diff };
    const fields = tally.diff.flatMap((d) => d.changes.map((c) => c.field));
    // A dry run ends here: the pending record is its outcome (`changed*`).
    const result = dryRun ? (await this.finished(origin, tally)).result : undefined;
    return { result, planned: { record: planned, kind: planKind(tally.raw), fields }, error: undefined };
  }

  /** Plans one input record (skipped and invalid ones end here). */
  async planRecord(
    slot: string,
    prepared: Prepared<R> & { kind: 'record' },
    dryRun: boolean,
  ): Promise<Processed> {
    const origin = { slot, key: prepared.key, line: prepared.line, inputHash: prepared.inputHash };
    if (prepared.skip) return { result: this.stepless(origin, 'skipped', prepared.skip), error: undefined };
    return this.plan(origin, prepared.record, false, this.stepsOf(prepared.record), dryRun);
  }

  /** Plans one key to prune. */
  async planPrune(key: string, spec: PruneSpec<C>, dryRun: boolean): Promise<Processed> {
    const record: PruneRecord = { key };
    const origin = { slot: key, key, line: 0, inputHash: '' };
    return this.plan(origin, record, true, () => spec.steps(key, this.p.ctx), dryRun);
  }

  /**
   * The apply phase. Each step is checked again before its apply and compared
   * with the plan. As planned: applied. Found done: `ok` (on a resume,
   * `absorbed`: the attempt that stopped had applied it). Changed since the plan
   * (drifted): applied as it is now and flagged; for a saved plan (`strict`),
   * the whole record is checked first and refused, so nothing of it is written.
   */
  async applyPlanned(
    planned: PlannedRecord,
    source: (Prepared<R> & { kind: 'record' }) | PruneSpec<C> | undefined,
    mode: ApplyMode,
  ): Promise<Processed> {
    const origin: Origin = {
      slot: planned.slot,
      key: planned.key,
      line: planned.line,
      inputHash: planned.inputHash,
    };
    const target = this.rebuild(planned, source);
    if ('invalid' in target)
      return { result: this.stepless(origin, 'invalid', target.invalid), error: undefined };
    if (mode.strict) {
      const recheck = await this.execute(origin, target.record, target.build, this.p.check);
      if (recheck.stopped || recheck.outcome !== 'ok') return this.finished(origin, recheck);
      const drift = recheck.changed ? describeDrift(planned.diff, recheck.diff, false) : undefined;
      if (!recheck.changed) return this.foundDone(origin, recheck, mode);
      if (drift) {
        const refused = this.stepless(
          origin,
          'skipped',
          `refused: the target changed since the plan (${drift}); not applied`,
        );
        return { result: { ...refused, drifted: true }, error: undefined };
      }
    }
    const tally = await this.execute(origin, target.record, target.build, this.p.apply);
    if (!tally.stopped && tally.outcome === 'ok' && !tally.changed && !tally.absorbed)
      return this.foundDone(origin, tally, mode);
    const applied = await this.finished(origin, tally);
    const drift = mode.strict ? undefined : describeDrift(planned.diff, tally.applying, true);
    if (drift && applied.result) {
      const notes = [
        ...(applied.result.notes ?? []),
        `drifted since the plan (${drift}): checked again and applied as it is now`,
      ];
      applied.result = { ...applied.result, drifted: true, notes };
    }
    return applied;
  }

  /** A planned record whose target already matched when its apply came. */
  private async foundDone(origin: Origin, tally: Tally, mode: ApplyMode): Promise<Processed> {
    const done = await this.finish(origin, tally);
    // A saved plan applied again: its end state is already there.
    if (mode.strict) return { result: { ...done, notes: ['already as planned'] }, error: undefined };
    if (mode.resumed) {
      return {
        result: {
          ...done,
          absorbed: true,
          notes: ['found done on resume: the attempt that stopped had applied it'],
        },
        error: undefined,
      };
    }
    const note =
      'already as planned when its turn came: the target was changed by someone else since the plan';
    return { result: { ...done, drifted: true, notes: [note] }, error: undefined };
  }

  /** The record and its steps for a planned record: its input row read again, or its prune key. */
  private rebuild(
    planned: PlannedRecord,
    source: (Prepared<R> & { kind: 'record' }) | PruneSpec<C> | undefined,
  ): { record: any; build: Build<any, C> } | { invalid: string } {
    if (!planned.prune) {
      const prepared = source as Prepared<R> & { kind: 'record' };
      return { record: prepared.record, build: this.stepsOf(prepared.record) };
    }
    const spec = source as PruneSpec<C> | undefined;
    if (!spec)
      return { invalid: `key ${planned.key} was planned for the prune phase, which this task no longer has` };
    const record: PruneRecord = { key: planned.key };
    return { record, build: () => spec.steps(planned.key, this.p.ctx) };
  }

  private async execute<T>(
    origin: Origin,
    record: T,
    buildSteps: Build<T, C>,
    run: StepRunContext,
  ): Promise<Tally> {
    const startedAt = this.p.clock.now();
    const tally = new Tally(startedAt);
    let steps: Step<T, C>[] = [];
    try {
      steps = buildSteps();
    } catch (err) {
      const invalid = kindOf(err) === 'invalid';
      this.end(
        tally,
        invalid ? 'invalid' : 'failed',
        err,
        `building steps: ${errorMessage(err)}`,
        invalid ? 'invalid' : 'permanent',
      );
    }
    const budgetEndsAt = startedAt + run.retry.maxRetryTimeMs;
    const env: Omit<StepEnv, 'attempt' | 'step'> = {
      task: this.p.task.name,
      key: origin.key,
      runId: run.runId,
      signal: run.signal,
      // The target held the record when no earlier step of it had anything to do.
      effects: this.p.effects.forRecord(run.runId, origin.key, () => tally.held()),
      pending: tally.pending,
      redact: (t: string) => this.p.redactor.redact(t),
      note: (t: string) => {
        tally.notes.push(this.p.redactor.redact(t));
      },
    };
    for (const step of steps) {
      const onFirstApply = (diff: Diff) => {
        tally.applying.push({
          step: step.name,
          changes: this.p.redactor.redactValue(diff.changes.map(publicChange)),
        });
      };
      const r = await runStep(step, record, this.p.ctx, env, run, budgetEndsAt, onFirstApply);
      if (!(await this.add(tally, step, r, origin.slot, run.runId))) break;
    }
    return tally;
  }

  /** The tally as a final outcome, or none when the record was cut short. */
  private async finished(origin: Origin, tally: Tally): Promise<Processed> {
    if (tally.stopped || (this.p.apply.signal.aborted && tally.outcome !== 'ok')) {
      // Cut short: no outcome, so a resume checks this record again.
      if (!tally.stopped) {
        await this.p.journal.event({
          runId: this.p.apply.runId,
          key: origin.slot,
          kind: 'interrupted',
          at: this.p.clock.now(),
        });
      }
      return { result: undefined, error: tally.cause };
    }
    return { result: await this.finish(origin, tally), error: tally.cause };
  }

  /** Adds one step's result to the tally; false when the record ends here. */
  private async add(
    tally: Tally,
    step: Step<any, C>,
    r: StepResult,
    slot: string,
    runId: string,
  ): Promise<boolean> {
    tally.attempts += r.attempts;
    if (r.kind === 'ok') {
      tally.okSteps++;
      return true;
    }
    if (r.kind === 'changed' || r.kind === 'pending' || r.kind === 'absorbed') {
      const absorbed = r.kind === 'absorbed';
      if (absorbed) tally.absorbed = true;
      else tally.changed = true;
      const changes = this.p.redactor.redactValue(r.diff.changes.map(publicChange));
      const first = tally.pending[0];
      const provisional =
        r.kind === 'pending' && first && !step.predicts ? { provisional: { after: first.step } } : {};
      tally.diff.push({ step: step.name, changes, ...(absorbed ? { absorbed: true } : {}), ...provisional });
      tally.raw.push({ diff: r.diff, destructive: step.destructive });
      if (r.kind === 'pending') tally.pending.push({ step: step.name, diff: r.diff });
      return true;
    }
    if (r.kind === 'stopped') {
      tally.stopped = true;
      tally.cause = r.error;
      return false;
    }
    const cls = r.kind === 'failed' ? r.errorClass : r.kind;
    this.end(tally, r.kind, r.error, `step ${step.name}: ${errorMessage(r.error)}`, cls, step.name);
    if (r.kind === 'failed') {
      await this.p.journal.event({
        runId,
        key: slot,
        step: step.name,
        kind: 'failed',
        attempt: r.attempts,
        detail: `${cls}: ${tally.error?.message}`,
        at: this.p.clock.now(),
      });
    }
    return false;
  }

  private end(
    tally: Tally,
    outcome: RecordResult['outcome'],
    cause: unknown,
    message: string,
    cls: NonNullable<RecordResult['error']>['class'],
    step?: string,
  ): void {
    tally.outcome = outcome;
    tally.cause = cause;
    const stack = unexpectedStack(cause);
    tally.error = {
      message: this.p.redactor.redact(message),
      ...(cls ? { class: cls } : {}),
      ...(step ? { step } : {}),
      ...(stack ? { stack: this.p.redactor.redact(stack) } : {}),
    };
  }

  private async finish(origin: Origin, tally: Tally): Promise<RecordResult> {
    const outcome = tally.outcome === 'ok' && tally.changed ? 'changed' : tally.outcome;
    const result: RecordResult = {
      key: origin.key,
      slot: origin.slot,
      line: origin.line,
      outcome,
      absorbed: tally.absorbed,
      diff: tally.diff,
      attempts: tally.attempts,
      inputHash: origin.inputHash,
      startedAt: tally.startedAt,
      endedAt: this.p.clock.now(),
      ...(tally.error ? { error: tally.error } : {}),
      ...(tally.notes.length ? { notes: tally.notes } : {}),
    };
    // A plain no-op leaves no history line (its result row says it all): the nightly run writes nothing else.
    if (outcome === 'ok' && !tally.absorbed) return result;
    await this.p.journal.event({
      runId: this.p.apply.runId,
      key: origin.slot,
      kind: 'done',
      detail: outcome + (tally.absorbed ? ' (absorbed)' : ''),
      at: result.endedAt,
    });
    return result;
  }
}

/**
 * A value as JSON.stringify sees it: `toJSON` applied (once), a boxed number,
 * string or boolean unwrapped; what it cannot write is `undefined`, a non-finite
 * number `null`.
 */
function asJson(v: unknown): unknown {
  let out = v;
  if (typeof out === 'object' && out !== null && typeof (out as { toJSON?: unknown }).toJSON === 'function') {
    out = (out as { toJSON(): unknown }).toJSON();
  }
  if (out instanceof Number || out instanceof String || out instanceof Boolean) out = out.valueOf();
  if (typeof out === 'number') return Number.isFinite(out) ? out : null;
  if (typeof out === 'function' || typeof out === 'symbol') return undefined;
  return out;
}

/**
 * Whether two values write the same JSON, property order aside, without writing
 * them (the apply phase compares every record's diffs with its plan's, which was
 * read back from JSON).
 */
export function sameJson(a: unknown, b: unknown): boolean {
  return same(asJson(a), asJson(b));
}

/** `sameJson` of two values already seen as JSON sees them (each child is, once, here). */
function same(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x) || Array.isArray(y)) {
    if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false;
    // In an array, what JSON cannot write is written as null.
    for (let i = 0; i < x.length; i++) if (!same(asJson(x[i]) ?? null, asJson(y[i]) ?? null)) return false;
    return true;
  }
  const xs = x as Record<string, unknown>;
  const ys = y as Record<string, unknown>;
  let written = 0;
  for (const k in xs) {
    if (!Object.hasOwn(xs, k)) continue;
    const v = asJson(xs[k]);
    if (v === undefined) continue;
    written++;
    if (!Object.hasOwn(ys, k) || !same(v, asJson(ys[k]))) return false;
  }
  for (const k in ys) if (Object.hasOwn(ys, k) && asJson(ys[k]) !== undefined) written--;
  return written === 0;
}

/**
 * How the re-checked diffs differ from the planned ones, or `undefined` when
 * they match. On a resume, a planned step found done, or a step planned after
 * one (provisional), may differ: the attempt that stopped had applied part of it.
 */
export function describeDrift(planned: StepDiff[], now: StepDiff[], resumed: boolean): string | undefined {
  const before = new Map(planned.map((d) => [d.step, d]));
  const problems: string[] = [];
  for (const d of now) {
    const p = before.get(d.step);
    before.delete(d.step);
    if (p && sameJson(p.changes, d.changes)) continue;
    if (p && resumed && p.provisional) continue;
    problems.push(
      p ? `step ${d.step} now differs from its plan` : `step ${d.step} has changes the plan did not have`,
    );
  }
  if (!resumed)
    for (const step of before.keys()) problems.push(`step ${step} planned changes the target already has`);
  return problems.length > 0 ? problems.join('; ') : undefined;
}
