import type { Clock } from './clock.ts';
import { publicChange } from './diff.ts';
import type { Effects } from './effects.ts';
import { errorMessage, kindOf } from './errors.ts';
import type { Journal } from './journal.ts';
import type { RecordResult, StepDiff } from './outcome.ts';
import type { Prepared } from './prepare.ts';
import type { Redactor } from './redact.ts';
import type { Step } from './step.ts';
import { runStep, type StepResult, type StepRunContext } from './step-runner.ts';
import type { PruneRecord, PruneSpec, TaskDefinition } from './task.ts';

/** What one record's processing needs from its run. */
export interface ProcessorContext<R, C> {
  task: TaskDefinition<R, C, any>;
  ctx: C;
  steps: StepRunContext;
  journal: Journal;
  effects: Effects;
  clock: Clock;
  redactor: Redactor;
}

/** A finished record, and the error that ended it (for the circuit breaker). */
export interface Processed {
  /** Undefined when the record was cut short (an interrupt, a ledger that stopped): it stays unfinished. */
  result: RecordResult | undefined;
  error: unknown;
}

/** Where a record comes from: its ledger slot, key, line and input hash. */
interface Origin {
  slot: string;
  key: string;
  line: number;
  inputHash: string;
}

/** The outcome being assembled while a record's steps run. */
class Tally {
  readonly diff: StepDiff[] = [];
  readonly notes: string[] = [];
  attempts = 0;
  changed = false;
  absorbed = false;
  outcome: RecordResult['outcome'] = 'ok';
  error: RecordResult['error'];
  cause: unknown;
  stopped = false;
}

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

  async record(slot: string, prepared: Prepared<R> & { kind: 'record' }): Promise<Processed> {
    const origin = { slot, key: prepared.key, line: prepared.line, inputHash: prepared.inputHash };
    if (prepared.skip) return { result: this.stepless(origin, 'skipped', prepared.skip), error: undefined };
    const { steps } = this.p.task;
    return this.execute(origin, prepared.record, () =>
      typeof steps === 'function' ? steps(prepared.record, this.p.ctx) : steps,
    );
  }

  async prune(key: string, spec: PruneSpec<C>): Promise<Processed> {
    const record: PruneRecord = { key };
    return this.execute({ slot: key, key, line: 0, inputHash: '' }, record, () =>
      spec.steps(key, this.p.ctx),
    );
  }

  private async execute<T>(origin: Origin, record: T, buildSteps: () => Step<T, C>[]): Promise<Processed> {
    const { clock, journal, steps: run } = this.p;
    const startedAt = clock.now();
    await journal.event({ runId: run.runId, key: origin.slot, kind: 'start', at: startedAt });
    const tally = new Tally();
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
    const env = {
      task: this.p.task.name,
      key: origin.key,
      runId: run.runId,
      signal: run.signal,
      effects: this.p.effects.forRecord(run.runId, origin.key),
      redact: (t: string) => this.p.redactor.redact(t),
      note: (t: string) => {
        tally.notes.push(this.p.redactor.redact(t));
      },
    };
    for (const step of steps) {
      const r = await runStep(step, record, this.p.ctx, env, run, budgetEndsAt);
      if (!(await this.add(tally, step.name, r, origin.slot))) break;
    }
    if (tally.stopped || (run.signal.aborted && tally.outcome !== 'ok')) {
      // Cut short: no outcome, so a resume checks this record again.
      if (!tally.stopped)
        await journal.event({ runId: run.runId, key: origin.slot, kind: 'interrupted', at: clock.now() });
      return { result: undefined, error: tally.cause };
    }
    return { result: await this.finish(origin, tally, startedAt), error: tally.cause };
  }

  /** Adds one step's result to the tally; false when the record ends here. */
  private async add(tally: Tally, step: string, r: StepResult, slot: string): Promise<boolean> {
    tally.attempts += r.attempts;
    if (r.kind === 'ok') return true;
    if (r.kind === 'changed' || r.kind === 'pending' || r.kind === 'absorbed') {
      const absorbed = r.kind === 'absorbed';
      if (absorbed) tally.absorbed = true;
      else tally.changed = true;
      const changes = this.p.redactor.redactValue(r.diff.changes.map(publicChange));
      tally.diff.push({ step, changes, ...(absorbed ? { absorbed: true } : {}) });
      return true;
    }
    if (r.kind === 'stopped') {
      tally.stopped = true;
      tally.cause = r.error;
      return false;
    }
    const cls = r.kind === 'failed' ? r.errorClass : r.kind;
    this.end(tally, r.kind, r.error, `step ${step}: ${errorMessage(r.error)}`, cls, step);
    if (r.kind === 'failed') {
      await this.p.journal.event({
        runId: this.p.steps.runId,
        key: slot,
        step,
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

  private async finish(origin: Origin, tally: Tally, startedAt: number): Promise<RecordResult> {
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
      startedAt,
      endedAt: this.p.clock.now(),
      ...(tally.error ? { error: tally.error } : {}),
      ...(tally.notes.length ? { notes: tally.notes } : {}),
    };
    await this.p.journal.event({
      runId: this.p.steps.runId,
      key: origin.slot,
      kind: 'done',
      detail: outcome + (tally.absorbed ? ' (absorbed)' : ''),
      at: result.endedAt,
    });
    return result;
  }
}
