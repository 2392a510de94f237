import type { Clock } from './clock.ts';
import { errorMessage, kindOf, LedgerError } from './errors.ts';
import type { LedgerEvent, OutcomeBatch, OutcomeStore, PlannedRecord } from './ledger.ts';
import { LineBuffer } from './line-ranges.ts';
import { isFinal, isPlainOk, type RecordResult } from './outcome.ts';

/** When the journal commits: after this many queued writes, or this long after the first. */
export interface JournalPolicy {
  batchSize: number;
  maxDelayMs: number;
}

/**
 * 1,024 writes or half a second: a no-op night of 100,000 records is about a
 * hundred commits, and a crash loses at most half a second of outcomes, whose
 * records are checked again.
 */
export const DEFAULT_JOURNAL_POLICY: JournalPolicy = { batchSize: 1024, maxDelayMs: 500 };

/**
 * Queues record outcomes and history lines and commits them in batches: a
 * record whose outcome is lost in a crash is only checked again, which is
 * always safe. A commit that fails, in the background or not, is kept: every
 * later write and flush throws it as a `LedgerError`, and `onFailure` hears of
 * it at once so the run can stop applying changes it could not record.
 */
export class Journal {
  private queue: Required<OutcomeBatch> = { results: [], events: [], planned: [], finished: [] };
  /** Finished lines not committed yet, per run (merged into ranges at commit). */
  private readonly lines = new Map<string, LineBuffer>();
  /** How many lines `lines` holds. */
  private lineCount = 0;
  private cancelTimer: (() => void) | undefined;
  private failure: LedgerError | undefined;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: OutcomeStore,
    private readonly clock: Clock,
    private readonly where: string,
    private readonly policy: JournalPolicy = DEFAULT_JOURNAL_POLICY,
  ) {}

  /** Told at once when a commit fails (the run stops applying changes it could not record). */
  onFailure: (err: LedgerError) => void = () => {};

  /** The first commit that failed, if any. */
  get failed(): LedgerError | undefined {
    return this.failure;
  }

  /**
   * Queues a record's outcome: a row when it has something to tell, its line when it
   * is finished. Returns the commit to wait for when the batch is full, else nothing
   * (most outcomes: no promise, no turn of the event loop). A failed commit is given
   * back as a rejected promise, as by every other write.
   */
  result(runId: string, result: RecordResult): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (result.line > 0 && isFinal(result.outcome)) {
      let lines = this.lines.get(runId);
      if (!lines) {
        lines = new LineBuffer();
        this.lines.set(runId, lines);
      }
      lines.push(result.line);
      this.lineCount++;
    }
    if (!isPlainOk(result)) this.queue.results.push({ runId, result });
    return this.queued();
  }

  /** Queues a record of the plan (a plan-first run's plan phase). */
  async planned(runId: string, record: PlannedRecord): Promise<void> {
    this.throwIfFailed();
    this.queue.planned.push({ runId, record });
    await this.queued();
  }

  async event(event: LedgerEvent): Promise<void> {
    this.throwIfFailed();
    this.queue.events.push(event);
    await this.queued();
  }

  /** Commits everything queued; throws if this or an earlier commit failed. */
  async flush(): Promise<void> {
    this.throwIfFailed();
    await this.commit();
    this.throwIfFailed();
  }

  private queued(): Promise<void> | undefined {
    // A plain no-op is one number in a typed batch: it weighs a tenth of a row.
    const size =
      this.queue.results.length + this.queue.events.length + this.queue.planned.length + this.lineCount / 10;
    if (size >= this.policy.batchSize) return this.flush();
    if (!this.cancelTimer) {
      this.cancelTimer = this.clock.schedule(this.policy.maxDelayMs, () => {
        this.cancelTimer = undefined;
        // A background failure is kept and surfaced by the next write or flush.
        this.commit().catch(() => {});
      });
    }
    return undefined;
  }

  private commit(): Promise<void> {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const batch = this.queue;
    for (const [runId, lines] of this.lines) {
      for (const [first, last] of lines.drain()) batch.finished.push({ runId, first, last });
    }
    this.lineCount = 0;
    this.queue = { results: [], events: [], planned: [], finished: [] };
    if (batch.results.length + batch.events.length + batch.planned.length + batch.finished.length === 0)
      return this.tail;
    this.tail = this.tail.then(async () => {
      if (this.failure) return;
      try {
        await this.store.commit(batch);
      } catch (err) {
        this.fail(err);
      }
    });
    return this.tail;
  }

  private fail(err: unknown): void {
    this.failure =
      kindOf(err) === 'ledger'
        ? (err as LedgerError)
        : new LedgerError(`the ledger ${this.where} could not record outcomes: ${errorMessage(err)}`, {
            cause: err,
          });
    this.onFailure(this.failure);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
