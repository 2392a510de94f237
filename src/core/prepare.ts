import { errorMessage } from './errors.ts';
import { sha256 } from './hash.ts';
import type { SourceRecord } from './source.ts';
import type { TaskDefinition } from './task.ts';

/** A source record turned into a task record, or the reason it cannot be. */
export type Prepared<R> =
  | { kind: 'record'; key: string; record: R; line: number; inputHash: string; skip?: string }
  | { kind: 'invalid'; key: string | undefined; line: number; reason: string; inputHash: string };

/** Parses, keys and validates one source record. Pure; never throws. */
export function prepareRecord<R>(task: TaskDefinition<R, any>, rec: SourceRecord): Prepared<R> {
  // The source's own digest of the raw line when it has one (cheap); the parsed row's otherwise.
  const inputHash = rec.hash ?? sha256(rec.raw);
  const rawKey = typeof task.key === 'string' ? rec.raw[task.key]?.trim() || undefined : undefined;
  if (rec.error) return { kind: 'invalid', key: rawKey, line: rec.line, reason: rec.error, inputHash };
  let record: R;
  try {
    record = task.parse ? task.parse(rec.raw) : (rec.raw as R);
  } catch (err) {
    return { kind: 'invalid', key: rawKey, line: rec.line, reason: errorMessage(err), inputHash };
  }
  let key: string | undefined;
  try {
    const k = typeof task.key === 'string' ? (record as Record<string, unknown>)[task.key] : task.key(record);
    key = k === undefined || k === null ? undefined : String(k).trim();
  } catch (err) {
    return { kind: 'invalid', key: rawKey, line: rec.line, reason: `key: ${errorMessage(err)}`, inputHash };
  }
  if (!key) {
    const what = typeof task.key === 'string' ? `column "${task.key}"` : 'the key function';
    return { kind: 'invalid', key: undefined, line: rec.line, reason: `no key: ${what} is empty`, inputHash };
  }
  try {
    const problems = task.validate?.(record);
    const list = Array.isArray(problems) ? problems.filter(Boolean) : problems ? [problems] : [];
    if (list.length > 0) return { kind: 'invalid', key, line: rec.line, reason: list.join('; '), inputHash };
  } catch (err) {
    return { kind: 'invalid', key, line: rec.line, reason: `validate: ${errorMessage(err)}`, inputHash };
  }
  let skip: string | undefined;
  try {
    const s = task.skip?.(record);
    if (s) skip = s;
  } catch (err) {
    return { kind: 'invalid', key, line: rec.line, reason: `skip: ${errorMessage(err)}`, inputHash };
  }
  return { kind: 'record', key, record, line: rec.line, inputHash, ...(skip ? { skip } : {}) };
}

/** The ledger identity of a result: the key, or `#line` for rows that have no usable key. */
export function slotOf(key: string | undefined, line: number, duplicate: boolean): string {
  if (key === undefined) return `#${line}`;
  return duplicate ? `${key}#${line}` : key;
}
