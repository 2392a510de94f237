import { CircuitBreaker, errorSignature } from './breaker.ts';
import type { LedgerError } from './errors.ts';
import { errorMessage, kindOf } from './errors.ts';
import type { Journal } from './journal.ts';
import type { OutcomeStore } from './ledger.ts';
import { type Counts, countOutcome, emptyCounts, type RecordResult } from './outcome.ts';
import { prepareRecord, slotOf } from './prepare.ts';
import type { Processed, RecordProcessor } from './record-processor.ts';
import type { Reporter } from './reporter.ts';
import type { RunProgress, Stop } from './run-status.ts';
import type { RecordSource } from './source.ts';
import type { PruneSpec, TaskDefinition } from './task.ts';
import { WorkPool } from './work-pool.ts';

/** What the record loop needs from its run. */
export interface ReconcilerDeps<R, C> {
  task: TaskDefinition<R, C, any>;
  runId: string;
  /** The run was resumed: records it already finished are skipped. */
  resumed: boolean;
  processor: RecordProcessor<R, C>;
  journal: Journal;
  results: OutcomeStore;
  reporter: Reporter;
  concurrency: number;
  breaker: number;
  /** Stop taking new records (a first SIGINT/SIGTERM). */
  stopSignal: AbortSignal;
}

/**
 * The loop over a run's records: each record is keyed, checked for duplicates
 * and for work a resumed run already finished, then processed in the pool;
 * each outcome is journaled, reported and fed to the guards that can stop the
 * run (the circuit breaker, the deletion guard, a ledger that cannot record).
 */
export class Reconciler<R, C> {
  private readonly pool: WorkPool;
  private readonly breaker: CircuitBreaker;
  private readonly firstLine = new Map<string, number>();
  private stop: Stop | undefined;
  private finished = 0;
  /** Outcomes this process reached: the counts when the ledger cannot be read back. */
  readonly counts: Counts = emptyCounts();
  private alreadyDone = 0;

  constructor(private readonly d: ReconcilerDeps<R, C>) {
    this.pool = new WorkPool(d.concurrency);
    this.breaker = new CircuitBreaker(d.breaker);
  }

  /** Every record of the source, in order, at most `concurrency` at once. */
  async records(source: RecordSource): Promise<void> {
    try {
      await this.each(source);
    } catch (err) {
      // The source refused to go on (its input changed under the run): stop, finish the records in flight.
      if (kindOf(err) !== 'refused') throw err;
      this.stop ??= { status: 'refused', message: `refused: ${errorMessage(err)}` };
    }
    await this.pool.drain();
  }

  private async each(source: RecordSource): Promise<void> {
    for await (const rec of source.records(this.d.stopSignal)) {
      await this.pool.ready();
      if (this.halted()) break;
      const prepared = prepareRecord(this.d.task, rec);
      const key = prepared.key;
      const first = key === undefined ? undefined : this.firstLine.get(key);
      if (key !== undefined && first === undefined) this.firstLine.set(key, rec.line);
      const slot = slotOf(key, rec.line, first !== undefined);
      if (await this.doneBefore(slot)) continue;
      const origin = { slot, key: key ?? `line ${rec.line}`, line: rec.line, inputHash: prepared.inputHash };
      const { processor } = this.d;
      if (first !== undefined) {
        await this.launch(async () => ({
          result: processor.stepless(
            origin,
            'invalid',
            `duplicate key "${key}": first seen on line ${first}`,
          ),
          error: undefined,
        }));
      } else if (prepared.kind === 'invalid') {
        await this.launch(async () => ({
          result: processor.stepless(origin, 'invalid', prepared.reason),
          error: undefined,
        }));
      } else {
        await this.launch(() => processor.record(slot, prepared));
      }
    }
  }

  /** The prune phase: the keys the input no longer lists, after every record. */
  async prune(keys: string[], spec: PruneSpec<C>): Promise<void> {
    if (this.halted()) return;
    for (const key of keys) {
      await this.pool.ready();
      if (this.halted()) break;
      if (await this.doneBefore(key)) continue;
      await this.launch(() => this.d.processor.prune(key, spec));
    }
    await this.pool.drain();
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

  private halted(): boolean {
    if (!this.stop && this.d.stopSignal.aborted)
      this.stop = { status: 'interrupted', message: 'interrupted by a signal' };
    return this.stop !== undefined;
  }

  /**
   * On resume a record is finished when it has an outcome other than `failed`
   * or `in-doubt`: those are checked again (the operator has fixed the cause,
   * or settled the effect with `idem resolve`), which is always safe: a check
   * never repeats a `once` effect that may have happened.
   */
  private async doneBefore(slot: string): Promise<boolean> {
    if (!this.d.resumed) return false;
    const previous = await this.d.results.getResult(this.d.runId, slot);
    if (!previous || previous.outcome === 'failed' || previous.outcome === 'in-doubt') return false;
    this.alreadyDone++;
    return true;
  }

  private launch(work: () => Promise<Processed>): Promise<void> {
    return this.pool.add(async () => {
      let processed: Processed;
      try {
        processed = await work();
      } catch (err) {
        // A history line that could not be written: the record stays unfinished.
        if (kindOf(err) !== 'ledger') throw err;
        processed = { result: undefined, error: err };
      }
      if (kindOf(processed.error) === 'ledger') this.ledgerFailed(processed.error as LedgerError);
      if (processed.result) await this.finish(processed.result, processed.error);
    });
  }

  private async finish(result: RecordResult, error: unknown): Promise<void> {
    this.finished++;
    countOutcome(this.counts, result);
    try {
      await this.d.journal.result(this.d.runId, result);
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
