import { IdemError } from '../core/errors.ts';

/** Who holds a task's lock, as the refused process sees it. */
export interface LockHolder {
  pid: number;
  host: string;
  runId: string;
  task: string;
  /** Epoch ms when the holder took the lock. */
  since: number;
}

/** A held lock; release it in `finally`. The OS releases it if the holder dies. */
export interface LockHandle {
  /** Rewrites the holder's details (the run id is known only once the run starts). */
  update(holder: LockHolder): void;
  release(): Promise<void>;
}

export type AcquireResult =
  | { acquired: true; handle: LockHandle }
  | { acquired: false; holder: LockHolder | undefined };

/** One run per task at a time. */
export interface Lock {
  /**
   * Takes the lock for `holder.task`, waiting up to `waitMs` (0: do not wait).
   * `onWait` is told the holder once when waiting starts.
   */
  acquire(
    holder: LockHolder,
    opts: { waitMs: number; signal?: AbortSignal; onWait?: (holder: LockHolder | undefined) => void },
  ): Promise<AcquireResult>;
}

/** `idem: task X is locked by pid 4242 on host db1 (run r-17, started 02:00:03); ...` */
export function describeHolder(task: string, holder: LockHolder | undefined): string {
  if (!holder) return `task ${task} is locked by another run (its details are not readable yet)`;
  const since = new Date(holder.since);
  const at = Number.isNaN(since.getTime())
    ? 'unknown time'
    : since.toISOString().replace('T', ' ').slice(0, 19);
  return `task ${task} is locked by pid ${holder.pid} on host ${holder.host} (run ${holder.runId}, started ${at} UTC)`;
}

/** Another run holds the task's lock: exit 75. */
export class LockHeldError extends IdemError {
  constructor(
    readonly task: string,
    readonly holder: LockHolder | undefined,
    advice = 'try again later or wait with --wait 10m',
  ) {
    super('locked', `${describeHolder(task, holder)}; ${advice}`);
  }
}
