import type { LedgerEvent, RunInfo } from '../core/ledger.ts';
import type { Counts, RecordResult } from '../core/outcome.ts';
import { isoTime } from './time.ts';

/**
 * The JSON forms of what the ledger holds, shared by `idem status`, `runs`,
 * `show` and `history` (documented in docs/schemas/). Times are ISO 8601 UTC.
 */

/** A run, as `runs`, `status` and `show` print it. */
export function runJson(run: RunInfo, counted: { counts: Counts; partial: boolean }) {
  return {
    id: run.id,
    task: run.task,
    status: run.status,
    dryRun: run.dryRun,
    startedAt: isoTime(run.startedAt),
    endedAt: run.endedAt === undefined ? null : isoTime(run.endedAt),
    durationMs: run.endedAt === undefined ? null : run.endedAt - run.startedAt,
    counts: counted.counts,
    /** The run never ended: its counts are the outcomes committed before it stopped. */
    countsPartial: counted.partial,
    message: run.message ?? null,
    host: run.host,
    pid: run.pid,
    input: run.inputPath,
  };
}

export type RunJson = ReturnType<typeof runJson>;

/** One record's outcome: the `record` line of `idem run --json`, without its `type`. */
export function recordJson(r: RecordResult) {
  return {
    key: r.key,
    outcome: r.outcome,
    absorbed: r.absorbed,
    diff: r.diff,
    error: r.error ?? null,
    line: r.line > 0 ? r.line : null,
    attempts: r.attempts,
    ...(r.notes ? { notes: r.notes } : {}),
    ...(r.warnings ? { warnings: r.warnings } : {}),
    ...(r.drifted ? { drifted: true } : {}),
  };
}

/** One history line. */
export function eventJson(e: LedgerEvent) {
  return {
    at: isoTime(e.at),
    runId: e.runId,
    key: e.key === '' ? null : e.key,
    step: e.step ?? null,
    kind: e.kind,
    attempt: e.attempt ?? null,
    detail: e.detail ?? null,
  };
}
