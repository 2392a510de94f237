import { existsSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import { LockHeldError, type LockHolder, processAlive } from '../lock/lock.ts';
import { lockFileName, SqliteLock } from '../lock/sqlite-lock.ts';
import { isoTime, localTime } from '../report/time.ts';
import { lockDir } from '../runner/state.ts';
import { EXIT } from './exit-codes.ts';
import { STATE_DIR_HELP } from './flags.ts';
import { stdout } from './output.ts';
import { resolveTaskRef } from './task-ref.ts';

export interface UnlockFlags {
  force?: boolean;
  stateDir?: string;
  json?: boolean;
}

/**
 * `idem unlock <task> --force`: removes a task's lock that the operating system
 * cannot release (a state folder on a network filesystem whose lock server
 * still believes a dead holder). A lock the OS says is free only has its stale
 * holder file removed. A holder alive on this host is never unlocked (exit 75);
 * one on another host cannot be checked from here: `--force` is the operator's
 * word that it is gone.
 */
export async function unlockCommand(ref: string, flags: UnlockFlags): Promise<number> {
  const target = await resolveTaskRef(ref, flags.stateDir);
  const dir = lockDir(target.stateDir);
  const file = join(dir, lockFileName(target.name));
  const files = [file, `${file}.json`, `${file}-journal`];
  if (!files.some((f) => existsSync(f)))
    throw new UsageError(
      `no lock of task ${target.name} at ${file}: looked in ${dir} (${target.how}); nothing to unlock there`,
    );
  if (!flags.force)
    throw new UsageError(
      `idem unlock removes the lock of task ${target.name} (${file}). It is for a lock the operating system cannot ` +
        'release, such as one on a network filesystem whose holder is gone. Make sure no run of the task is alive ' +
        'on any host, then run it again with --force',
    );
  const lock = new SqliteLock(dir);
  const before = lock.readHolder(target.name);
  const got = await lock.acquire(
    { pid: process.pid, host: hostname(), runId: 'unlock', task: target.name, since: Date.now() },
    { waitMs: 0 },
  );
  let removed: string[];
  let note: string;
  const holder: LockHolder | undefined = got.acquired ? before : (got.holder ?? before);
  if (got.acquired) {
    // Releasing our own hold removes the holder file, stale details included.
    await got.handle.release();
    removed = before ? [`${file}.json`] : [];
    note = `the lock of task ${target.name} was not held${before ? `: its last holder (pid ${before.pid} on host ${before.host}) is gone and the operating system released it; removed its stale details` : ''}`;
  } else {
    if (holder && holder.host === hostname() && processAlive(holder.pid))
      throw new LockHeldError(
        target.name,
        holder,
        `that process is alive on this host: let it finish, or stop it (kill ${holder.pid}); unlock is only for a holder that is gone`,
      );
    removed = files.filter((f) => existsSync(f));
    for (const f of removed) rmSync(f, { force: true });
    const who = holder
      ? holder.host === hostname()
        ? `its holder, pid ${holder.pid} on this host, is not alive`
        : `its holder is on host ${holder.host}, which idem cannot check from here; --force says it is gone`
      : 'its holder left no details';
    note = `removed the lock of task ${target.name}, which the operating system still held: ${who}`;
  }
  if (flags.json) {
    const h = holder
      ? { pid: holder.pid, host: holder.host, runId: holder.runId, since: isoTime(holder.since) }
      : null;
    stdout.write(
      `${JSON.stringify({ task: target.name, lockFile: file, wasHeld: !got.acquired, holder: h, removed, message: note })}\n`,
    );
  } else {
    const lines = [note];
    if (holder)
      lines.push(
        `  holder: pid ${holder.pid} on host ${holder.host}, run ${holder.runId}, since ${localTime(holder.since)}`,
      );
    for (const f of removed) lines.push(`  removed ${f}`);
    stdout.write(`${lines.join('\n')}\n`);
  }
  return EXIT.ok;
}

export function registerUnlock(program: Command, action: (code: Promise<number>) => void): void {
  program
    .command('unlock')
    .description(
      'remove a task lock the operating system cannot release (a network filesystem); needs --force',
    )
    .argument('<task>', 'a task file or a task name')
    .option('--force', 'remove it: no run of the task is alive on any host')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--json', 'one JSON document (docs/schemas/unlock.schema.json)')
    .addHelpText(
      'after',
      `
The lock is normally released by the operating system the moment its holder dies; idem unlock is only
for when it is not (a state folder on NFS or SMB). It refuses (exit 75) while the holder is alive on
this host. Removing the lock of a run alive on another host lets a second run start beside it.

Examples:
  $ idem unlock tasks/provision-users.ts --force
  $ idem unlock provision-users --state-dir /mnt/shared/idem --force --json`,
    )
    .action((ref: string, flags: UnlockFlags) => action(unlockCommand(ref, flags)));
}
