/**
 * The chaos suite's table (issue 9): each chaos test records its figures here, one row
 * per figure, and `test/chaos/run.ts` prints them as one table when the suite ends and
 * exits non-zero when any bound broke.
 *
 * Rows are appended as JSON lines to the file `IDEM_CHAOS_ROWS` names (run.ts sets it);
 * without it (a file run alone by vitest, or a test shared with `npm test`) rows are
 * not kept, and the test's own assertions still judge the bounds. Figures must
 * come from the targets (slapd, the SQLite target, files, a server's request log), not
 * from idem's own ledger, which is what is being tested.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ChaosRow {
  /** What was tried, e.g. "SIGKILL + --resume: lost LDAP entries". */
  test: string;
  /** How many times (kills, starts, cases, files). */
  count: number | string;
  /** The bound the figure must hold, e.g. "0", "<= 1 s", "identical to a clean run". */
  bound: string;
  /** What was measured, in words an operator can check. */
  result: string;
  /** Whether the bound held. */
  ok: boolean;
}

const ROWS_FILE = process.env.IDEM_CHAOS_ROWS;

/** True for the long run (`IDEM_CHAOS=long npm run test:chaos`). */
export const LONG = process.env.IDEM_CHAOS === 'long';

/** The CI count, or the long count when IDEM_CHAOS=long. */
export function sized(ci: number, long: number): number {
  return LONG ? long : ci;
}

/** Records one figure of the table. Call it before asserting, so a broken bound still shows. */
export function chaosRow(row: ChaosRow): void {
  if (!ROWS_FILE) return;
  mkdirSync(dirname(ROWS_FILE), { recursive: true });
  appendFileSync(ROWS_FILE, `${JSON.stringify(row)}\n`);
}

/** Percentile (0..100) of a list of numbers, nearest rank; NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Runs `fn` over every item, at most `width` at a time; the results in the items' order. */
export async function inPool<T, R>(
  items: readonly T[],
  width: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T, i);
    }),
  );
  return out;
}
