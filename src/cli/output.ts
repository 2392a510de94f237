import type { OutStream } from '../report/choose-reporter.ts';

/**
 * A standard stream as the commands write to it. When its reader goes away
 * (`idem run … | head`), the next write fails with EPIPE, which Node emits as
 * an 'error' event that would end the process with a stack trace and leave the
 * run `running` in the ledger. Here it only marks the stream closed: later
 * writes are dropped, and `onClosed` listeners hear of it once (`idem run`
 * stops taking records then, see signals.ts).
 */
export class Output implements OutStream {
  closed = false;
  private readonly listeners: (() => void)[] = [];

  constructor(readonly stream: NodeJS.WriteStream) {
    stream.on('error', () => this.close());
  }

  get isTTY(): boolean {
    return this.stream.isTTY === true;
  }

  /** The terminal's width; 0 when it is not a terminal. */
  get columns(): number {
    return this.stream.columns ?? 0;
  }

  write(text: string): boolean {
    if (this.closed) return false;
    return this.stream.write(text);
  }

  /** Calls `fn` once when the reader goes away (at once if it already has). */
  onClosed(fn: () => void): () => void {
    if (this.closed) fn();
    else this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Resolves once what was written has been handed to the OS (at once when closed). */
  drain(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.stream.write('', () => resolve()));
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.listeners.splice(0)) fn();
  }
}

export const stdout = new Output(process.stdout);
export const stderr = new Output(process.stderr);
