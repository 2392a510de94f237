/**
 * The bytes of the field being tokenized that lie in earlier chunks: copied while
 * the field stays within its size limit, only counted past it, so a 10 MB value
 * costs no more memory than the limit.
 */
export class FieldBytes {
  private parts: Buffer[] = [];
  private kept = 0;
  private over = false;

  constructor(private readonly limit: number) {}

  /** Adds `buf[from..to)`, a piece of the field that continues in a later chunk or piece. */
  add(buf: Buffer, from: number, to: number, copy: boolean): void {
    if (to <= from) return;
    this.kept += to - from;
    if (!copy || this.over) return;
    if (this.kept > this.limit) {
      this.over = true;
      this.parts = [];
      return;
    }
    this.parts.push(Buffer.from(buf.subarray(from, to)));
  }

  /** The size of the whole field when it ends with `buf[from..to)`. */
  size(from: number, to: number): number {
    return this.kept + to - from;
  }

  /** The field's text when it ends with `buf[from..to)`, or undefined when it is over the limit. */
  text(buf: Buffer, from: number, to: number): string | undefined {
    if (this.over || this.size(from, to) > this.limit) return undefined;
    if (this.parts.length === 0) return buf.toString('utf8', from, to);
    if (to > from) this.parts.push(buf.subarray(from, to));
    return Buffer.concat(this.parts).toString('utf8');
  }

  reset(): void {
    if (this.parts.length > 0) this.parts = [];
    this.kept = 0;
    this.over = false;
  }
}
