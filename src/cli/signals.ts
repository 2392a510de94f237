import { EXIT, ExitError } from './exit-codes.ts';

/** What stopped a run: a signal, or `SIGPIPE` for a standard output whose reader went away. */
export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGPIPE';

/**
 * SIGINT/SIGTERM during a run. The first stops taking new records (`stop`) and
 * gives in-flight records `graceMs` to finish before `kill` aborts them; a
 * second one rejects `exitNow`, which the CLI races against the run to leave at
 * once. A closed standard output (`outputClosed`) stops the run as a first
 * signal does. Nothing here calls `process.exit`.
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
  private readonly handlers: ['SIGINT' | 'SIGTERM', () => void][];

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

  /**
   * The standard output's reader went away (`idem run … | head`): stop taking
   * records as on a first SIGINT; the run ends `interrupted` and exits 141, as
   * a process killed by SIGPIPE does in a shell.
   */
  outputClosed(): void {
    if (this.received) return;
    this.begin(
      'SIGPIPE',
      'standard output was closed (its reader went away): no new records; letting in-flight records finish; ' +
        'the run is recorded interrupted and --resume continues it',
    );
  }

  private on(sig: 'SIGINT' | 'SIGTERM'): void {
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
    this.begin(
      sig,
      `${sig}: no new records; letting in-flight records finish (up to ${Math.round(this.graceMs / 1000)}s); press Ctrl-C again to exit now`,
    );
  }

  /** Stops taking records; in-flight ones get the grace period before they are aborted. */
  private begin(why: StopSignal, message: string): void {
    this.received = why;
    this.warn(message);
    this.stop.abort();
    setTimeout(() => this.kill.abort(), this.graceMs).unref();
  }

  dispose(): void {
    for (const [sig, fn] of this.handlers) process.off(sig, fn);
  }
}
