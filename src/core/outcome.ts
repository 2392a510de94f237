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
  /**
   * A pending diff (dry run, plan) checked against the target as it is, while an
   * earlier step of the record still has a pending change (`after`): what the
   * run would really do may differ, since it checks after that step applied.
   */
  provisional?: { after: string };
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
  /** Things an operator should know that are not failures (a value that changes on every run). */
  warnings?: string[];
  /** The target changed between the plan and the apply; the record was checked again before any write. */
  drifted?: boolean;
}

/** Counts per outcome, plus absorbed, drifted and non-converging records. */
export interface Counts {
  changed: number;
  ok: number;
  failed: number;
  invalid: number;
  skipped: number;
  'in-doubt': number;
  absorbed: number;
  /** Records whose target changed between the plan and the apply. */
  drifted: number;
  /** Records that changed the same way on each of the last runs (see `warnings`). */
  'non-converging': number;
  /** Pending records (dry run) with a provisional diff: what the run really does may differ. */
  provisional: number;
}

export const emptyCounts = (): Counts => ({
  changed: 0,
  ok: 0,
  failed: 0,
  invalid: 0,
  skipped: 0,
  'in-doubt': 0,
  absorbed: 0,
  drifted: 0,
  'non-converging': 0,
  provisional: 0,
});

export function countOutcome(
  counts: Counts,
  r: Pick<RecordResult, 'outcome' | 'absorbed' | 'drifted' | 'warnings' | 'diff'>,
): void {
  counts[r.outcome]++;
  if (r.absorbed) counts.absorbed++;
  if (r.drifted) counts.drifted++;
  if (r.warnings?.some(isNonConverging)) counts['non-converging']++;
  if (r.diff.some((d) => d.provisional)) counts.provisional++;
}

/** The warning a non-converging record carries starts with this. */
export const NON_CONVERGING = 'non-converging:';

export const isNonConverging = (warning: string) => warning.startsWith(NON_CONVERGING);

/** A finished outcome: not `failed` or `in-doubt` (those a resume checks again). */
export const isFinal = (outcome: Outcome) => outcome !== 'failed' && outcome !== 'in-doubt';

/**
 * A plain no-op: nothing to tell beyond `ok`. It gets no result row, only its
 * line in the run's finished ranges.
 */
export function isPlainOk(r: RecordResult): boolean {
  return (
    r.outcome === 'ok' &&
    r.line > 0 &&
    !r.absorbed &&
    !r.drifted &&
    r.diff.length === 0 &&
    !r.notes?.length &&
    !r.warnings?.length &&
    r.error === undefined
  );
}

/**
 * The counts of a run from its result rows and its finished line ranges: every
 * finished line without a row is a plain `ok`. Pure.
 */
export function countOutcomes(rows: Iterable<RecordResult>, finishedLines: number): Counts {
  const counts = emptyCounts();
  let finalRows = 0;
  for (const r of rows) {
    countOutcome(counts, r);
    if (r.line > 0 && isFinal(r.outcome)) finalRows++;
  }
  return addPlainOks(counts, finishedLines, finalRows);
}

/** Adds the plain `ok`s: finished lines (`finishedLines`) that have no final result row (`finalRows`). */
export function addPlainOks(counts: Counts, finishedLines: number, finalRows: number): Counts {
  counts.ok += Math.max(0, finishedLines - finalRows);
  return counts;
}

/**
 * `changed=12 ok=488 failed=0 invalid=1 skipped=0 in-doubt=0 absorbed=2`, then
 * `drifted=` and `non-converging=` when there are any.
 */
export function formatCounts(c: Counts): string {
  const base = `changed=${c.changed} ok=${c.ok} failed=${c.failed} invalid=${c.invalid} skipped=${c.skipped} in-doubt=${c['in-doubt']} absorbed=${c.absorbed}`;
  const extra = [
    c.drifted ? ` drifted=${c.drifted}` : '',
    c['non-converging'] ? ` non-converging=${c['non-converging']}` : '',
    c.provisional ? ` provisional=${c.provisional}` : '',
  ];
  return base + extra.join('');
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
  | 'superseded'
  | 'planned';
