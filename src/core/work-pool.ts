/**
 * At most `size` pieces of work in flight. `add` waits for a free slot and
 * starts the work without waiting for it; `drain` waits for all of it. Work is
 * expected to turn its own failures into outcomes; one that throws anyway is
 * kept and thrown by `drain` (a bug, not a record's failure).
 */
export class WorkPool {
  private readonly inflight = new Set<Promise<void>>();
  private error: { err: unknown } | undefined;

  constructor(readonly size: number) {}

  /** Waits until fewer than `size` are in flight. */
  async ready(): Promise<void> {
    while (this.inflight.size >= this.size) await Promise.race(this.inflight);
  }

  /** Waits for a free slot, then starts `work`. */
  async add(work: () => Promise<void>): Promise<void> {
    await this.ready();
    const p: Promise<void> = work()
      .catch((err: unknown) => {
        this.error ??= { err };
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  /** Waits for everything started; throws what a piece of work threw. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all(this.inflight);
    if (this.error) throw this.error.err;
  }
}
