import type { EffectRecord, LedgerEvent, PlannedRecord, RunInfo } from '../core/ledger.ts';
import type { RecordResult } from '../core/outcome.ts';

/** Rows of the ledger's tables as the core's types. */
type Row = Record<string, unknown>;

const present = (v: unknown) => v !== null && v !== undefined;

export function toRun(row: unknown): RunInfo {
  const r = row as Row;
  return {
    id: r.id as string,
    task: r.task as string,
    startedAt: r.started_at as number,
    ...(present(r.ended_at) ? { endedAt: r.ended_at as number } : {}),
    status: r.status as RunInfo['status'],
    dryRun: r.dry_run === 1,
    inputDigest: r.input_digest as string,
    inputPath: r.input_path as string,
    host: r.host as string,
    pid: r.pid as number,
    options: JSON.parse(r.options as string),
    ...(r.counts ? { counts: JSON.parse(r.counts as string) } : {}),
    ...(r.message ? { message: r.message as string } : {}),
    ...(present(r.task_digest) ? { taskDigest: r.task_digest as string } : {}),
    ...(present(r.idem_version) ? { idemVersion: r.idem_version as string } : {}),
    ...(present(r.phase) ? { phase: r.phase as RunInfo['phase'] & string } : {}),
    ...(present(r.records) ? { records: r.records as number } : {}),
  };
}

export function toResult(row: unknown): RecordResult {
  const r = row as Row;
  return {
    key: r.key as string,
    slot: r.slot as string,
    line: r.line as number,
    outcome: r.outcome as RecordResult['outcome'],
    absorbed: r.absorbed === 1,
    diff: JSON.parse(r.diff as string),
    ...(r.error ? { error: JSON.parse(r.error as string) } : {}),
    attempts: r.attempts as number,
    inputHash: r.input_hash as string,
    startedAt: r.started_at as number,
    endedAt: r.ended_at as number,
    ...(r.notes ? { notes: JSON.parse(r.notes as string) } : {}),
    ...(r.warnings ? { warnings: JSON.parse(r.warnings as string) } : {}),
    ...(r.drifted === 1 ? { drifted: true } : {}),
  };
}

export function toPlanned(row: unknown): PlannedRecord {
  const r = row as Row;
  return {
    slot: r.slot as string,
    key: r.key as string,
    line: r.line as number,
    inputHash: r.input_hash as string,
    prune: r.prune === 1,
    diff: JSON.parse(r.diff as string),
  };
}

export function toEvent(row: unknown): LedgerEvent {
  const r = row as Row;
  return {
    runId: r.run_id as string,
    key: r.slot as string,
    ...(present(r.step) ? { step: r.step as string } : {}),
    kind: r.kind as LedgerEvent['kind'],
    ...(present(r.attempt) ? { attempt: r.attempt as number } : {}),
    ...(present(r.detail) ? { detail: r.detail as string } : {}),
    at: r.at as number,
  };
}

export function toEffect(row: unknown): EffectRecord {
  const r = row as Row;
  return {
    task: r.task as string,
    key: r.key as string,
    effect: r.effect as string,
    state: r.state as EffectRecord['state'],
    runId: r.run_id as string,
    intentAt: r.intent_at as number,
    ...(present(r.done_at) ? { doneAt: r.done_at as number } : {}),
    ...(r.detail ? { detail: r.detail as string } : {}),
  };
}
