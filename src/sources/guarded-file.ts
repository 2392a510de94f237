import type { BigIntStats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/** What identifies a file's content cheaply: which file it is, its size and when it was last written. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

/** Makes the error for a file that changed; `what` says how (`its size went from 10 to 20 bytes`). */
export type ChangeFault = (what: string) => Error;

const CHUNK = 64 * 1024;

function identityOf(s: BigIntStats): FileIdentity {
  return { dev: s.dev, ino: s.ino, size: s.size, mtimeNs: s.mtimeNs };
}

function isoNs(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  return new Date(ms).toISOString();
}

/** How `now` differs from `then`, in words, or undefined when it does not. */
export function describeChange(then: FileIdentity, now: FileIdentity): string | undefined {
  if (then.dev !== now.dev || then.ino !== now.ino) return 'it was replaced by another file';
  if (then.size !== now.size) return `its size went from ${then.size} to ${now.size} bytes`;
  if (then.mtimeNs !== now.mtimeNs)
    return `it was written to at ${isoNs(now.mtimeNs)} (last written at ${isoNs(then.mtimeNs)} before)`;
  return undefined;
}

/**
 * A file read to its end in chunks, refused if it changes while it is read: its
 * size, its modification time or the file itself (a rename over it) are checked
 * after every read and at the end, and the bytes read must be its size. A half
 * written export (still being copied) shows up as one of these.
 */
export class GuardedFile {
  private constructor(
    private readonly fh: FileHandle,
    readonly identity: FileIdentity,
    private readonly fault: ChangeFault,
  ) {}

  static async open(path: string, fault: ChangeFault): Promise<GuardedFile> {
    const fh = await open(path, 'r');
    try {
      return new GuardedFile(fh, identityOf(await fh.stat({ bigint: true })), fault);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /**
   * The file's bytes, in order. Each chunk is only valid until the next one is
   * asked for (the buffer is reused).
   */
  async *chunks(): AsyncGenerator<Buffer> {
    const buf = Buffer.allocUnsafe(CHUNK);
    let total = 0n;
    for (;;) {
      const { bytesRead } = await this.fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      total += BigInt(bytesRead);
      await this.check(total, false);
      yield buf.subarray(0, bytesRead);
    }
    await this.check(total, true);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  private async check(read: bigint, atEnd: boolean): Promise<void> {
    const now = identityOf(await this.fh.stat({ bigint: true }));
    const { size } = this.identity;
    const change =
      describeChange(this.identity, now) ??
      (read > size || (atEnd && read !== size)
        ? `${read} bytes were read from a file of ${size}`
        : undefined);
    if (change) throw this.fault(change);
  }
}
