import type { Diff } from './diff.ts';
import { IdemError } from './errors.ts';
import type { DeleteLimit } from './task.ts';

/** Thrown when the deletion guard refuses; the run ends `refused`, exit 4. */
export class GuardRefusal extends IdemError {
  constructor(
    message: string,
    readonly planned: number,
    readonly allowed: number,
  ) {
    super('refused', message);
  }
}

/** How many deletions a diff makes: its `deletes`, else its `-` changes when the step is destructive. */
export function deletionsOf(diff: Diff, destructive: boolean | undefined): number {
  if (typeof diff.deletes === 'number') return diff.deletes;
  return destructive ? Math.max(1, diff.changes.filter((c) => c.op === '-').length) : 0;
}

/** The most deletions allowed out of `population`; `Infinity` when no limit is set. */
export function allowedDeletes(limit: DeleteLimit | undefined, population: number): number {
  if (!limit) return Number.POSITIVE_INFINITY;
  let allowed = Number.POSITIVE_INFINITY;
  if (typeof limit.count === 'number') allowed = Math.min(allowed, limit.count);
  if (typeof limit.percent === 'number')
    allowed = Math.min(allowed, Math.floor((population * limit.percent) / 100));
  return allowed;
}

/** `50`, `10%` or `50,10%` → a limit. */
export function parseDeleteLimit(text: string): DeleteLimit {
  const limit: DeleteLimit = {};
  for (const part of text.split(',').map((p) => p.trim())) {
    const m = /^(\d+(?:\.\d+)?)(%)?$/.exec(part);
    if (!m)
      throw new Error(
        `"${part}" is not a deletion limit; use a count (50), a percentage (10%) or both (50,10%)`,
      );
    if (m[2]) limit.percent = Number(m[1]);
    else limit.count = Number(m[1]);
  }
  return limit;
}

export function describeLimit(limit: DeleteLimit): string {
  const parts: string[] = [];
  if (typeof limit.count === 'number') parts.push(`${limit.count}`);
  if (typeof limit.percent === 'number') parts.push(`${limit.percent}%`);
  return parts.join(' and ');
}

/**
 * Counts deletions as they are applied, refusing any that would pass the
 * limit. The engine also plans all deletions before the first one (see
 * prune-plan.ts), so this is the second line of defence for deletions a stale plan missed.
 */
export class DeletionBudget {
  private used = 0;
  constructor(
    private readonly allowed: number,
    private readonly limitText: string,
  ) {}

  take(n: number, what: string): void {
    if (n <= 0) return;
    if (this.used + n > this.allowed) {
      throw new GuardRefusal(
        `deletion guard: ${what} would make ${this.used + n} deletions, over the limit of ${this.allowed} (maxDeletes ${this.limitText})`,
        this.used + n,
        this.allowed,
      );
    }
    this.used += n;
  }
}
