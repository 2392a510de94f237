/**
 * At most `size` pieces of work in flight. `ready` waits for a free slot (`free`
 * says whether there is one now), `start` starts work in it without waiting for
 * it, `drain` waits for all of it. Work is
 * expected to turn its own failures into outcomes; one that throws anyway is
 * kept and thrown by `drain` (a bug, not a record's failure). A slot that frees
 * up wakes one waiter: the cost per piece of work does not grow with `size`.
 */
export class WorkPool {
  private running = 0;
  private error: { err: unknown } | undefined;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {}

  /** Waits until fewer than `size` are in flight. */
  async ready(): Promise<void> {
    while (this.running >= this.size) await new Promise<void>((wake) => this.waiting.push(wake));
  }

  /** Whether a piece of work can start now (no need to wait for `ready`). */
  get free(): boolean {
    return this.running < this.size;
  }

  /** Starts `work` in a free slot (after `ready`, or when `free`), without waiting for it. */
  start(work: () => Promise<void>): void {
    if (this.running >= this.size)
      throw new Error(`WorkPool.start with all ${this.size} slots taken (a bug)`);
    this.running++;
    work().then(
      () => this.done(),
      (err: unknown) => {
        this.error ??= { err };
        this.done();
      },
    );
  }

  /** Waits for everything started; throws what a piece of work threw. */
  async drain(): Promise<void> {
    while (this.running > 0) await new Promise<void>((wake) => this.waiting.push(wake));
    if (this.error) throw this.error.err;
  }

  private done(): void {
    this.running--;
    // Wake everyone waiting: each checks again (a drain and a ready may both wait).
    for (const wake of this.waiting.splice(0)) wake();
  }
}
