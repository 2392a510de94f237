import type { Change } from './diff.ts';
import type { ErrorClass } from './errors.ts';

/** How a record ended. A pending change in a dry run is `changed`, as in a real run. */
export type Outcome = 'changed' | 'ok' | 'failed' | 'invalid' | 'skipped' | 'in-doubt';

export const OUTCOMES: readonly Outcome[] = ['changed', 'ok', 'failed', 'invalid', 'skipped', 'in-doubt'];

/** The diff of one step of a record. */
export interface StepDiff {
  step: string;
  changes: Change[];
  /** The step's work was found done by a retry's re-check: not a fresh change. */
  absorbed?: boolean;
}

/** The final word on one record in one run. */
export interface RecordResult {
  /** The record's key (for rows without a usable key: `line <n>`). */
  key: string;
  /** Its identity in the ledger: the key, `key#line` for a duplicate, `#line` for a keyless row. */
  slot: string;
  /** Line of the record in its source. */
  line: number;
  outcome: Outcome;
  /** At least one step's work was found already done by a retry. */
  absorbed: boolean;
  diff: StepDiff[];
  error?: {
    message: string;
    class?: ErrorClass | 'invalid' | 'in-doubt';
    step?: string;
    /**
     * The stack of an error idem did not expect (one without a kind: a TypeError
     * in a task, say), redacted and cut to its first frames, so the reporter can
     * point at the task's own file and line.
     */
    stack?: string;
  };
  /** Attempts over all steps (1 when nothing was retried). */
  attempts: number;
  /** sha256 of the raw record, to see later what input produced the outcome. */
  inputHash: string;
  startedAt: number;
  endedAt: number;
  notes?: string[];
}

/** Counts per outcome, plus absorbed. */
export interface Counts {
  changed: number;
  ok: number;
  failed: number;
  invalid: number;
  skipped: number;
  'in-doubt': number;
  absorbed: number;
}

export const emptyCounts = (): Counts => ({
  changed: 0,
  ok: 0,
  failed: 0,
  invalid: 0,
  skipped: 0,
  'in-doubt': 0,
  absorbed: 0,
});

export function countOutcome(counts: Counts, r: Pick<RecordResult, 'outcome' | 'absorbed'>): void {
  counts[r.outcome]++;
  if (r.absorbed) counts.absorbed++;
}

/** `changed=12 ok=488 failed=0 invalid=1 skipped=0 in-doubt=0 absorbed=2` */
export function formatCounts(c: Counts): string {
  return `changed=${c.changed} ok=${c.ok} failed=${c.failed} invalid=${c.invalid} skipped=${c.skipped} in-doubt=${c['in-doubt']} absorbed=${c.absorbed}`;
}

/**
 * How a run ended. `crashed`: it was left `running` by a process that died (the
 * lock was free when it was next looked at); like `aborted` and `interrupted`,
 * `--resume` continues it. `superseded`: `--resume` found its input changed and
 * started a new run instead.
 */
export type RunStatus =
  | 'running'
  | 'succeeded'
  | 'completed-with-failures'
  | 'aborted'
  | 'interrupted'
  | 'crashed'
  | 'refused'
  | 'superseded';
