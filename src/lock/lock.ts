import { IdemError } from '../core/errors.ts';

/** Who holds a task's lock, as the refused process sees it. */
export interface LockHolder {
  pid: number;
  host: string;
  runId: string;
  task: string;
  /** Epoch ms when the holder took the lock. */
  since: number;
  /** The holder's command line (`idem run tasks/x.ts --resume`), when it said. */
  command?: string;
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
   * `onWait` is told the holder once when waiting starts; `onNote` hears what the
   * operator should know (a damaged lock file repaired, a lock file removed while held).
   */
  acquire(holder: LockHolder, opts: AcquireOptions): Promise<AcquireResult>;
}

export interface AcquireOptions {
  waitMs: number;
  signal?: AbortSignal;
  onWait?: (holder: LockHolder | undefined) => void;
  onNote?: (message: string) => void;
}

/** Whether a process of this host is alive (EPERM: alive, someone else's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/** `idem: task X is locked by pid 4242 on host db1 (run r-17, started 02:00:03 UTC, command: idem run ...); ...` */
export function describeHolder(task: string, holder: LockHolder | undefined): string {
  if (!holder)
    return `task ${task} is locked by a process that gave no details (one stopped before it could answer, or not an idem run)`;
  const since = new Date(holder.since);
  const at = Number.isNaN(since.getTime())
    ? 'unknown time'
    : `${since.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
  const command = holder.command ? `, command: ${holder.command}` : '';
  return `task ${task} is locked by pid ${holder.pid} on host ${holder.host} (run ${holder.runId}, started ${at}${command})`;
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
