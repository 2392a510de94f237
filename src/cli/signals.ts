import { EXIT, ExitError } from './exit-codes.ts';

export type StopSignal = 'SIGINT' | 'SIGTERM';

/**
 * SIGINT/SIGTERM during a run. The first stops taking new records (`stop`) and
 * gives in-flight records `graceMs` to finish before `kill` aborts them; a
 * second one rejects `exitNow`, which the CLI races against the run to leave at
 * once. Nothing here calls `process.exit`.
 */
export class RunSignals {
  readonly stop = new AbortController();
  readonly kill = new AbortController();
  /** The first signal received, if any. */
  received: StopSignal | undefined;
  /** A second signal came: leave without cleanups. */
  exiting = false;
  /** Rejects with the exit code of a second signal. */
  readonly exitNow: Promise<never>;
  private rejectNow: (err: ExitError) => void = () => {};
  private readonly handlers: [StopSignal, () => void][];

  constructor(
    private readonly graceMs: number,
    private readonly warn: (message: string) => void,
  ) {
    this.exitNow = new Promise<never>((_, reject) => {
      this.rejectNow = reject;
    });
    this.exitNow.catch(() => {});
    this.handlers = (['SIGINT', 'SIGTERM'] as const).map((sig) => [sig, () => this.on(sig)]);
    for (const [sig, fn] of this.handlers) process.on(sig, fn);
  }

  private on(sig: StopSignal): void {
    if (this.received) {
      this.exiting = true;
      this.rejectNow(
        new ExitError(
          sig === 'SIGTERM' ? EXIT.sigterm : EXIT.sigint,
          `idem: second ${sig}: exiting now; the run can be resumed with --resume`,
        ),
      );
      return;
    }
    this.received = sig;
    this.warn(
      `${sig}: no new records; letting in-flight records finish (up to ${Math.round(this.graceMs / 1000)}s); press Ctrl-C again to exit now`,
    );
    this.stop.abort();
    setTimeout(() => this.kill.abort(), this.graceMs).unref();
  }

  dispose(): void {
    for (const [sig, fn] of this.handlers) process.off(sig, fn);
  }
}
