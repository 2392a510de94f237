import { CircuitBreaker, errorSignature } from './breaker.ts';
import type { ConvergenceWatch } from './convergence.ts';
import { errorMessage, IdemError, kindOf, type LedgerError } from './errors.ts';
import type { Baseline, PlanStats } from './gate.ts';
import type { Journal } from './journal.ts';
import { KeySet } from './key-set.ts';
import type { OutcomeStore, PlannedRecord, PlanStore } from './ledger.ts';
import type { Lifecycle } from './lifecycle.ts';
import { LineSet } from './line-ranges.ts';
import { type Counts, countOutcome, emptyCounts, isFinal, type RecordResult } from './outcome.ts';
import type { PlanDigest } from './plan-digest.ts';
import { type Prepared, prepareRecord, slotOf } from './prepare.ts';
import type { ApplyMode, Origin, Processed, RecordProcessor } from './record-processor.ts';
import type { Reporter } from './reporter.ts';
import type { RunProgress, Stop } from './run-status.ts';
import type { LineFilter, RecordSource, SourceRecord } from './source.ts';
import type { PruneSpec, TaskDefinition } from './task.ts';
import { WorkPool } from './work-pool.ts';

/** What the record loop needs from its run. */
export interface ReconcilerDeps<R, C> {
  task: TaskDefinition<R, C, any>;
  runId: string;
  /** The run was resumed: records it already finished are skipped. */
  resumed: boolean;
  /** How many records the input holds (the scan's count): the key set is sized for them once. @default unknown */
  records?: number;
  processor: RecordProcessor<R, C>;
  journal: Journal;
  results: OutcomeStore & PlanStore;
  reporter: Reporter;
  concurrency: number;
  breaker: number;
  /** Stop taking new records (a first SIGINT/SIGTERM). */
  stopSignal: AbortSignal;
  /** Flags records that change the same way on every run. */
  convergence?: ConvergenceWatch | undefined;
  /** The soft-delete lifecycle's bookkeeping (not in a dry run). */
  lifecycle?: Lifecycle<C> | undefined;
}

/** How the plan phase treats a record with pending changes. */
export interface PlanPhase {
  stats: PlanStats;
  digest: PlanDigest;
  /** A dry run reports pending records as `changed*` outcomes instead of storing a plan. */
  dryRun: boolean;
  /** The last accepted run, whose keys the input's are compared with (leading zeros lost...). */
  baseline: Baseline | undefined;
}

/** A source whose lines do not increase: its records cannot be told apart by line. */
function lineOutOfOrder(source: RecordSource, line: number, last: number): IdemError {
  return new IdemError(
    'refused',
    `the source ${source.description} gave a record on line ${line} after one on line ${last}: ` +
      "a source's lines must increase from record to record (the ledger and --resume find a record by its line); " +
      'nothing after it was read. Fix the source (number its records in order), then run again',
  );
}

/** The last line a run can tell apart: lines are kept in 32 bits, and the key set marks its known keys with 2³²-1. */
const MAX_LINE = 0xfffffffe;

/** A source past the last line a run can tell apart. */
function lineTooFar(source: RecordSource, line: number): IdemError {
  return new IdemError(
    'refused',
    `the source ${source.description} gave a record on line ${line}: idem tells records apart by line up to line ${MAX_LINE}; ` +
      'nothing after it was read. Split the input into several files (several tasks or runs)',
  );
}

/** Planned records read from the ledger at a time. */
const PLAN_PAGE = 256;

/**
 * The loop over a run's records: each record is keyed, checked for duplicates
 * and for work a resumed run already finished, then processed in the pool;
 * each outcome is journaled, reported and fed to the guards that can stop the
 * run (the circuit breaker, the deletion guard, a ledger that cannot record).
 * One pass (`records`), or a plan phase (`plan`) then an apply phase (`applyPlan`).
 */
export class Reconciler<R, C> {
  private readonly pool: WorkPool;
  private readonly breaker: CircuitBreaker;
  /** The keys seen in this pass, with their first line, in constant memory per key. */
  private keys: KeySet;
  private stop: Stop | undefined;
  private finished = 0;
  private alreadyDone = 0;
  private countSkipped = true;
  /** The lines the resumed run had finished before it stopped, loaded once. */
  private finishedBefore: LineSet | undefined;
  /** Outcomes this process reached: the counts when the ledger cannot be read back. */
  readonly counts: Counts = emptyCounts();

  constructor(private readonly d: ReconcilerDeps<R, C>) {
    this.pool = new WorkPool(d.concurrency);
    this.keys = new KeySet(d.records);
    this.breaker = new CircuitBreaker(d.breaker);
  }

  /** One pass over every record of the source: check, apply, verify (a dry run: check). */
  async records(source: RecordSource, dryRun: boolean): Promise<void> {
    await this.eachRecord(source, (slot, prepared) => this.d.processor.record(slot, prepared, dryRun));
  }

  /** One pass over the keys to prune, after every record. */
  async prune(keys: string[], spec: PruneSpec<C>, dryRun: boolean): Promise<void> {
    await this.eachKey(keys, (key) => this.d.processor.prune(key, spec, dryRun));
  }

  /** The plan phase: checks only; records with pending changes go to the plan. */
  async plan(source: RecordSource, phase: PlanPhase): Promise<void> {
    await this.eachRecord(
      source,
      (slot, prepared) => this.d.processor.planRecord(slot, prepared, phase.dryRun),
      phase,
    );
  }

  /** Makes room for the last accepted run's keys besides this run's, before any is added. */
  expectKnownKeys(n: number): void {
    this.keys.reserve(Math.max(n, this.d.records ?? 0));
  }

  /** Loads a sorted chunk of the last accepted run's keys (see `KeySet.addKnown`), before the record pass. */
  addKnownKeys(pairs: Uint32Array): void {
    this.keys.addKnown(pairs);
  }

  /** How many keys of the last accepted run were loaded, and how many of them the record pass met. */
  knownKeys(): { loaded: number; met: number } {
    return this.keys.known;
  }

  /** The hashes of the keys the record pass read (sorted), or none if it did not read them all. */
  keyHashes(): Uint32Array | undefined {
    return this.stopped() ? undefined : this.keys.sorted();
  }

  /** The plan phase of the keys to prune. */
  async planPrune(keys: string[], spec: PruneSpec<C>, phase: PlanPhase): Promise<void> {
    await this.eachKey(keys, (key) => this.d.processor.planPrune(key, spec, phase.dryRun), phase);
  }

  /**
   * The apply phase: the input is read again (its records are not kept in the
   * ledger, so no secret of the input lands there) and every planned record is
   * applied; then the planned keys to prune. Nothing planned: nothing to read.
   * The plan is read alongside the input, a page at a time in input order (both
   * are ordered by line), so a record costs no lookup and the plan no memory.
   */
  async applyPlan(source: RecordSource, prune: PruneSpec<C> | undefined, mode: ApplyMode): Promise<void> {
    const { results, runId } = this.d;
    const { planned } = await results.planProgress(runId);
    if (planned.total === planned.done) return;
    const plan = new PlanCursor(results, runId);
    // The source may pass over the lines the plan does not hold without decoding them.
    const wanted = (line: number) => plan.holds(line);
    await this.reading(source, wanted, async (rec) => {
      // Invalid rows, duplicates and records without changes ended in the plan phase: a
      // line the plan does not hold is passed over before its record is even prepared.
      const onLine = await plan.at(rec.line);
      if (!onLine) return true;
      const prepared = prepareRecord(this.d.task, rec);
      if (prepared.kind !== 'record') return true;
      // One input line is one record: its plan entry has its key. Another key would be a
      // plan of other input (never seen): the record's own slot is looked up instead.
      const entry = onLine.slot === prepared.key ? onLine : await results.plannedSlot(runId, prepared.key);
      if (!entry || entry.prune) return true;
      if (!this.pool.free) await this.pool.ready();
      if (this.halted()) return false;
      if (this.d.resumed && (await this.doneBefore(entry.slot, entry.line))) return true;
      this.launch(() => this.d.processor.applyPlanned(entry, prepared, mode));
      return true;
    });
    // The keys to prune: line 0, so the plan's first entries in its (line, slot) order.
    const prunes = new PlanCursor(results, runId);
    for (let entry = await prunes.take(); entry?.line === 0; entry = await prunes.take()) {
      if (!entry.prune) continue;
      if (!this.pool.free) await this.pool.ready();
      if (this.halted()) break;
      if (this.d.resumed && (await this.doneBefore(entry.slot, entry.line))) continue;
      const planned = entry;
      this.launch(() => this.d.processor.applyPlanned(planned, prune, mode));
    }
    await this.pool.drain();
  }

  /**
   * Records the resumed run finished before it stopped, counted at once (its
   * apply phase skips its plan phase): the records it skips are not counted again.
   */
  countAlreadyDone(n: number): void {
    this.alreadyDone += n;
    this.countSkipped = false;
  }

  /** Why the run stopped early, if it did. */
  stopped(): Stop | undefined {
    this.halted();
    return this.stop;
  }

  progress(total: number): RunProgress {
    return { total, finished: this.finished, alreadyDone: this.alreadyDone };
  }

  /** The ledger could not record: stop at once, whatever else is going on. */
  ledgerFailed(err: LedgerError): void {
    this.stop ??= {
      status: 'aborted',
      message: `aborted: ${errorMessage(err)}; nothing more was applied. Fix the cause (disk space, permissions), then resume with --resume`,
    };
  }

  private async eachRecord(
    source: RecordSource,
    handle: (slot: string, prepared: Prepared<R> & { kind: 'record' }) => Promise<Processed>,
    phase?: PlanPhase,
  ): Promise<void> {
    await this.reading(source, undefined, async (rec) => {
      if (!this.pool.free) await this.pool.ready();
      if (this.halted()) return false;
      const prepared = prepareRecord(this.d.task, rec);
      const key = prepared.key;
      const first = key === undefined ? undefined : this.keys.add(key, rec.line);
      const slot = slotOf(key, rec.line, first !== undefined);
      if (this.d.resumed && (await this.doneBefore(slot, rec.line))) return true;
      const origin: Origin = {
        slot,
        key: key ?? `line ${rec.line}`,
        line: rec.line,
        inputHash: prepared.inputHash,
      };
      const { processor } = this.d;
      if (first !== undefined) {
        const why = `duplicate key "${key}": first seen on line ${first}`;
        this.launch(async () => ({
          result: processor.stepless(origin, 'invalid', why),
          error: undefined,
        }));
      } else if (prepared.kind === 'invalid') {
        this.launch(async () => ({
          result: processor.stepless(origin, 'invalid', prepared.reason),
          error: undefined,
        }));
      } else {
        await this.d.lifecycle?.beforeRecord(prepared.key);
        this.launch(() => handle(slot, prepared), phase);
      }
      return true;
    });
  }

  /**
   * Reads the source record by record until `each` says stop, then waits for the
   * records in flight. A source that refuses to go on (its input changed under
   * the run) stops the run as refused; the records in flight still finish.
   */
  private async reading(
    source: RecordSource,
    wanted: LineFilter | undefined,
    each: (rec: SourceRecord) => Promise<boolean>,
  ): Promise<void> {
    try {
      let last = 0;
      for await (const rec of source.records(this.d.stopSignal, wanted)) {
        // The ledger, --resume and the apply phase find a record by its line.
        if (!(rec.line > last)) throw lineOutOfOrder(source, rec.line, last);
        if (rec.line > MAX_LINE) throw lineTooFar(source, rec.line);
        last = rec.line;
        if (!(await each(rec))) break;
      }
    } catch (err) {
      if (kindOf(err) !== 'refused') throw err;
      this.stop ??= { status: 'refused', message: `refused: ${errorMessage(err)}` };
    }
    await this.pool.drain();
  }

  private async eachKey(
    keys: string[],
    handle: (key: string) => Promise<Processed>,
    phase?: PlanPhase,
  ): Promise<void> {
    if (this.halted()) return;
    for (const key of keys) {
      if (!this.pool.free) await this.pool.ready();
      if (this.halted()) break;
      if (this.d.resumed && (await this.doneBefore(key, 0))) continue;
      this.launch(() => handle(key), phase);
    }
    await this.pool.drain();
  }

  private halted(): boolean {
    if (!this.stop && this.d.stopSignal.aborted)
      this.stop = { status: 'interrupted', message: 'interrupted by a signal' };
    return this.stop !== undefined;
  }

  /**
   * On resume a record is finished when it has an outcome other than `failed`
   * or `in-doubt`: those are checked again (the operator has fixed the cause,
   * or settled the effect with `idem resolve`), which is always safe: a check
   * never repeats a `once` effect that may have happened. Asked on a resume
   * only (callers test `resumed` first, so a fresh run awaits nothing here).
   */
  private async doneBefore(slot: string, line: number): Promise<boolean> {
    let done: boolean;
    if (line > 0) {
      this.finishedBefore ??= new LineSet(await this.d.results.finishedLines(this.d.runId));
      done = this.finishedBefore.has(line);
    } else {
      // A key to prune has no line: its result row says.
      const previous = await this.d.results.getResult(this.d.runId, slot);
      done = previous !== undefined && isFinal(previous.outcome);
    }
    if (done && this.countSkipped) this.alreadyDone++;
    return done;
  }

  /** Starts a record's work in the pool; called once the pool has room (`ready`). */
  private launch(work: () => Promise<Processed>, phase?: PlanPhase): void {
    this.pool.start(async () => {
      let processed: Processed;
      try {
        processed = await work();
      } catch (err) {
        // A history line that could not be written: the record stays unfinished.
        if (kindOf(err) !== 'ledger') throw err;
        processed = { result: undefined, error: err };
      }
      if (kindOf(processed.error) === 'ledger') this.ledgerFailed(processed.error as LedgerError);
      if (processed.planned && phase) await this.planned(processed.planned, phase);
      if (processed.result) await this.finish(processed.result, processed.error);
    });
  }

  /** A record with pending changes: counted for the gate, then stored in the plan (a dry run reports it instead). */
  private async planned(entry: NonNullable<Processed['planned']>, phase: PlanPhase): Promise<void> {
    phase.stats.observe(entry.record.key, entry.kind, entry.fields);
    phase.digest.add(entry.record);
    if (phase.dryRun) return;
    try {
      await this.d.journal.planned(this.d.runId, entry.record);
    } catch (err) {
      this.ledgerFailed(err as LedgerError);
    }
  }

  private async finish(outcome: RecordResult, error: unknown): Promise<void> {
    // Nothing is awaited that a plain outcome does not need: most records take no turn here.
    const { convergence, lifecycle } = this.d;
    const result = convergence?.concerns(outcome) ? await convergence.annotate(outcome) : outcome;
    this.finished++;
    countOutcome(this.counts, result);
    if (lifecycle) {
      await lifecycle.after(result, result.line === 0).catch((err: unknown) => {
        if (kindOf(err) !== 'ledger') throw err;
        this.ledgerFailed(err as LedgerError);
      });
    }
    try {
      const committing = this.d.journal.result(this.d.runId, result);
      if (committing) await committing;
    } catch (err) {
      this.ledgerFailed(err as LedgerError);
    }
    this.d.reporter.recordFinished(result);
    if (kindOf(error) === 'refused' && !this.stop) {
      this.stop = { status: 'refused', message: `refused: ${result.error?.message ?? errorMessage(error)}` };
    }
    const signature = error === undefined ? undefined : errorSignature(result.error?.step, error, result.key);
    if (this.breaker.observe(result, signature) && !this.stop) {
      this.stop = {
        status: 'aborted',
        message: `aborted: ${this.breaker.threshold} consecutive records failed with the same error: ${result.error?.message}`,
      };
    }
  }
}

/**
 * The plan of a run read forward in input order (line, then slot), a page at a
 * time, as the apply phase reads the input: `at(line)` is the planned record of
 * the input record on `line`, if it has one (keys to prune, on line 0, are passed
 * over); `take` is the next entry.
 */
class PlanCursor {
  private page: PlannedRecord[] = [];
  private next = 0;
  /** Where `holds` got to in the page (it runs ahead of `next`). */
  private probe = 0;
  private after: { line: number; slot: string } | undefined;
  private ended = false;

  constructor(
    private readonly store: PlanStore,
    private readonly runId: string,
  ) {}

  async at(line: number): Promise<PlannedRecord | undefined> {
    for (;;) {
      const entry = await this.peek();
      if (!entry || entry.line > line) return undefined;
      this.next++;
      if (entry.line === line) return entry;
    }
  }

  /**
   * Whether the plan may hold `line`, asked in increasing line order ahead of
   * `at`: false only when the page read holds the lines around it and not it, or
   * the plan has ended before it. Past the page read, it cannot tell: true.
   */
  holds(line: number): boolean {
    const { page } = this;
    let i = Math.max(this.probe, this.next);
    while (i < page.length && (page[i] as PlannedRecord).line < line) i++;
    this.probe = i;
    if (i < page.length) return (page[i] as PlannedRecord).line === line;
    return !this.ended;
  }

  /** The next entry, in order. */
  async take(): Promise<PlannedRecord | undefined> {
    const entry = await this.peek();
    if (entry) this.next++;
    return entry;
  }

  private async peek(): Promise<PlannedRecord | undefined> {
    if (this.next < this.page.length) return this.page[this.next];
    if (this.ended) return undefined;
    this.page = await this.store.planned(this.runId, this.after, PLAN_PAGE);
    this.next = 0;
    this.probe = 0;
    const last = this.page[this.page.length - 1];
    if (!last) {
      this.ended = true;
      return undefined;
    }
    this.after = { line: last.line, slot: last.slot };
    return this.page[0];
  }
}
