import { closeSync, createReadStream, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { UsageError } from '../core/errors.ts';
import type { PlannedRecord, PlanStore } from '../core/ledger.ts';
import { PlanDigest } from '../core/plan-digest.ts';
import type { PlanSummary } from '../core/reporter.ts';

/**
 * A saved plan, as `idem plan --out FILE` writes it: NDJSON, one header line,
 * one line per planned record (key, line, the pending diffs with secrets
 * masked; never the input's values), one end line with the count and the hash.
 * `idem apply FILE` reads it back and refuses a file whose hash or count does
 * not match its records, or whose task file, idem version or input changed.
 */
export interface PlanFileHeader {
  type: 'idem-plan';
  version: 1;
  task: string;
  /** The task file, absolute, and its sha256. */
  taskFile: string;
  taskDigest: string;
  idemVersion: string;
  /** The input, absolute, and its sha256. */
  input: string;
  inputDigest: string;
  /** The run that made the plan (its ledger keeps the same rows). */
  runId: string;
  createdAt: string;
  summary: PlanSummary;
}

/** Writes the plan of `runId` to `path` atomically (a temp file in the same folder, then a rename), 0600. */
export async function writePlanFile(path: string, header: PlanFileHeader, store: PlanStore): Promise<number> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  let count = 0;
  try {
    writeSync(fd, `${JSON.stringify(header)}\n`);
    let after: { line: number; slot: string } | undefined;
    for (;;) {
      const page = await store.planned(header.runId, after, 1000);
      if (page.length === 0) break;
      for (const record of page) {
        writeSync(fd, `${JSON.stringify({ type: 'record', ...record })}\n`);
        count++;
      }
      const last = page[page.length - 1] as PlannedRecord;
      after = { line: last.line, slot: last.slot };
    }
    writeSync(fd, `${JSON.stringify({ type: 'end', records: count, hash: header.summary.hash })}\n`);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  return count;
}

/** A plan file read back: its header, and its records (streamed again on each call). */
export interface PlanFile {
  header: PlanFileHeader;
  records: () => AsyncIterable<PlannedRecord>;
}

async function* lines(path: string): AsyncIterable<{ n: number; value: Record<string, unknown> }> {
  let n = 0;
  for await (const line of createInterface({
    input: createReadStream(path),
    crlfDelay: Number.POSITIVE_INFINITY,
  })) {
    n++;
    if (line.trim() === '') continue;
    try {
      yield { n, value: JSON.parse(line) as Record<string, unknown> };
    } catch {
      throw new UsageError(`plan file ${path}, line ${n}: not JSON; the file is damaged`);
    }
  }
}

function toRecord(v: Record<string, unknown>): PlannedRecord {
  return {
    slot: String(v.slot),
    key: String(v.key),
    line: Number(v.line),
    inputHash: String(v.inputHash ?? ''),
    prune: v.prune === true,
    diff: v.diff as PlannedRecord['diff'],
  };
}

/**
 * Reads a plan file and checks it whole before anything is applied: a header,
 * records, an end line whose count and hash match the records.
 */
export async function readPlanFile(path: string): Promise<PlanFile> {
  let header: PlanFileHeader | undefined;
  let end: { records: number; hash: string } | undefined;
  const digest = new PlanDigest();
  for await (const { n, value } of lines(path)) {
    if (n === 1 || !header) {
      if (value.type !== 'idem-plan' || value.version !== 1)
        throw new UsageError(`${path} is not an idem plan file (its first line is no plan header)`);
      header = value as unknown as PlanFileHeader;
    } else if (value.type === 'record') digest.add(toRecord(value));
    else if (value.type === 'end') end = { records: Number(value.records), hash: String(value.hash) };
  }
  if (!header) throw new UsageError(`plan file ${path} is empty`);
  if (!end)
    throw new UsageError(
      `plan file ${path} has no end line: it is truncated; make the plan again with idem plan`,
    );
  const h = header;
  const hash = digest.hash({
    task: h.task,
    inputDigest: h.inputDigest,
    taskDigest: h.taskDigest,
    idemVersion: h.idemVersion,
  });
  if (digest.count !== end.records || hash !== end.hash || hash !== h.summary.hash) {
    throw new UsageError(
      `plan file ${path} does not match its own hash (${digest.count} records read, ${end.records} written): ` +
        'it was edited or damaged after idem plan wrote it; make the plan again',
    );
  }
  return {
    header: h,
    records: async function* () {
      for await (const { value } of lines(path)) if (value.type === 'record') yield toRecord(value);
    },
  };
}
