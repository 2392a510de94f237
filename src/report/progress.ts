import type { Ora } from 'ora';
import { formatDuration } from './style.ts';

type OraFactory = typeof import('ora').default;

/**
 * A live progress line (ora) on a TTY: done/total, a rate and an ETA. Off in
 * cron. ora is loaded only here, when a terminal shows the line.
 */
export class Progress {
  private spinner: Ora | undefined;

  /** A progress line on `stream`, with ora loaded. */
  static async on(stream: NodeJS.WriteStream): Promise<Progress> {
    return new Progress(stream, (await import('ora')).default);
  }
  private total = 0;
  private done = 0;
  private started = 0;
  private label = '';

  private constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly ora: OraFactory,
  ) {}

  start(label: string, total: number): void {
    this.label = label;
    this.total = total;
    this.started = Date.now();
    this.spinner = this.ora({ stream: this.stream, text: this.text(), discardStdin: false }).start();
  }

  tick(): void {
    this.done++;
    if (this.spinner) this.spinner.text = this.text();
  }

  /** Writes lines without tearing the spinner. */
  print(write: () => void): void {
    if (!this.spinner) {
      write();
      return;
    }
    this.spinner.clear();
    write();
    this.spinner.render();
  }

  stop(): void {
    this.spinner?.stop();
    this.spinner = undefined;
  }

  private text(): string {
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const of = this.total > 0 ? `${this.done}/${this.total}` : `${this.done}`;
    const eta =
      this.total > 0 && rate > 0 ? ` · ETA ${formatDuration(((this.total - this.done) / rate) * 1000)}` : '';
    return `${this.label} ${of} records · ${rate.toFixed(1)}/s${eta}`;
  }
}
