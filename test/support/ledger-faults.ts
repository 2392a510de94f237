/**
 * The kv task (test/e2e/tasks/kv.ts) run by the built CLI against a real SQLite
 * target, for the ledger-fault tests (test/ledger/state-faults.test.ts and the
 * chaos rows): figures come from the target's `applies` log, not from the ledger.
 */
import { chmodSync, chownSync, closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { idem } from './cli.ts';
import { createKvTarget } from './kv-target.ts';

export const KV_TASK = 'test/e2e/tasks/kv.ts';

/** What the target holds: rows, applies, and the most applies any one key had. */
export interface TargetCount {
  rows: number;
  applies: number;
  maxPerKey: number;
}

/**
 * A kv target and input in `dir`, state in `stateDir`. `records(n)` rewrites the
 * input with n records; `run()` runs the task (as `uid` when given).
 */
export function kvFixture(dir: string, stateDir: string, opts: { uid?: number } = {}) {
  const target = createKvTarget(join(dir, 'target.db'));
  const input = join(dir, 'in.csv');
  const records = (n: number) =>
    writeFileSync(
      input,
      `id,value\n${Array.from({ length: n }, (_, i) => `k${i + 1},v${i + 1}`).join('\n')}\n`,
    );
  records(1);
  if (opts.uid !== undefined) {
    for (const p of [dir, target, input]) chownSync(p, opts.uid, opts.uid);
    chmodSync(dir, 0o755);
  }
  const run = (extra: string[] = []) =>
    idem(['run', KV_TASK, '--state-dir', stateDir, '--json', ...extra], {
      env: {
        KV_TARGET: target,
        KV_INPUT: input,
        ...(opts.uid !== undefined ? { XDG_CACHE_HOME: join(dir, 'cache') } : {}),
      },
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
    });
  const count = (): TargetCount => {
    const db = new Database(target, { readonly: true });
    try {
      const one = (sql: string) => (db.prepare(sql).get() as { n: number | null }).n ?? 0;
      return {
        rows: one('SELECT count(*) AS n FROM kv'),
        applies: one('SELECT count(*) AS n FROM applies'),
        maxPerKey: one('SELECT max(c) AS n FROM (SELECT count(*) AS c FROM applies GROUP BY id)'),
      };
    } finally {
      db.close();
    }
  };
  return { target, input, records, run, count };
}

/** The lines of a stream, without the blank last one. */
export function linesOf(text: unknown): string[] {
  return String(text)
    .split('\n')
    .filter((l) => l.trim() !== '');
}

/** True when stderr is exactly one line with no stack trace and no "internal error". */
export function oneCleanLine(stderr: unknown): boolean {
  const lines = linesOf(stderr);
  return lines.length === 1 && !/internal error|\n\s+at /.test(String(stderr));
}

/** Deterministic "random" bytes (xorshift32), so a failure replays. */
export function noise(bytes: number, seed = 0x9e3779b9): Buffer {
  const out = Buffer.alloc(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Writes `data` at `offset` of a file, in place (as a disk fault or a stray dd would). */
export function overwrite(path: string, offset: number, data: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** 8 KiB of noise over the middle of a file, on a page boundary. */
export function corruptMiddle(path: string, size: number): void {
  overwrite(path, Math.floor(size / 2 / 4096) * 4096, noise(8192));
}
