import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { systemClock } from '../core/clock.ts';
import { Effects } from '../core/effects.ts';
import { UsageError } from '../core/errors.ts';
import { Journal } from '../core/journal.ts';
import { SqliteLedger } from '../ledger/sqlite-ledger.ts';
import { LockHeldError } from '../lock/lock.ts';
import { SqliteLock } from '../lock/sqlite-lock.ts';
import { lockDir } from '../runner/state.ts';
import { EXIT } from './exit-codes.ts';
import { STATE_DIR_HELP } from './flags.ts';
import { existingLedgerFile } from './ledger-access.ts';
import { stdout } from './output.ts';
import { resolveTaskRef } from './task-ref.ts';

export interface ResolveOptions {
  effect: string;
  done?: boolean;
  retry?: boolean;
  stateDir?: string;
}

/**
 * `idem resolve <task> <key> --effect NAME --done|--retry`: settles an in-doubt
 * effect. `--done`: it happened, never run it again. `--retry`: it did not;
 * the next run performs it. The settlement is kept in the history.
 */
export async function resolveCommand(ref: string, key: string, opts: ResolveOptions): Promise<number> {
  if (Boolean(opts.done) === Boolean(opts.retry))
    throw new UsageError('say either --done (it happened) or --retry (it did not)');
  const target = await resolveTaskRef(ref, opts.stateDir);
  const { name, stateDir } = target;
  const path = existingLedgerFile(target, name);
  const lock = new SqliteLock(lockDir(stateDir));
  const got = await lock.acquire(
    { pid: process.pid, host: hostname(), runId: 'resolve', task: name, since: Date.now() },
    { waitMs: 0 },
  );
  if (!got.acquired) throw new LockHeldError(name, got.holder, 'resolve after it finishes');
  const ledger = new SqliteLedger(path);
  try {
    const effects = new Effects(ledger, new Journal(ledger, systemClock, ledger.location), systemClock, name);
    const effect = await effects.get(key, opts.effect);
    if (!effect) throw new UsageError(`task ${name} has no record of effect ${opts.effect} for ${key}`);
    if (effect.state === 'done') {
      stdout.write(`effect ${opts.effect} for ${key} is already done; nothing to settle\n`);
      return EXIT.ok;
    }
    let who = 'an operator';
    try {
      who = `${userInfo().username}@${hostname()}`;
    } catch {}
    await effects.settle(effect, opts.done ? 'done' : 'retry', who);
    stdout.write(
      opts.done
        ? `settled: effect ${opts.effect} for ${key} is recorded as done and will not run again\n`
        : `settled: effect ${opts.effect} for ${key} will run again on the next run of task ${name}\n`,
    );
    return EXIT.ok;
  } finally {
    await ledger.close();
    await got.handle.release();
  }
}

export function registerResolve(program: Command, action: (code: Promise<number>) => void): void {
  program
    .command('resolve')
    .description('settle an in-doubt once-effect after checking by hand whether it happened')
    .argument('<task>', 'a task file, or a task name with --state-dir')
    .argument('<key>', 'the record key')
    .requiredOption('--effect <name>', 'the effect, e.g. welcome-mail')
    .option('--done', 'it happened: record it as done, never run it again')
    .option('--retry', 'it did not happen: the next run performs it')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .addHelpText(
      'after',
      `
Examples:
  $ idem doubts tasks/onboard-accounts.ts
  $ idem resolve tasks/onboard-accounts.ts u0042 --effect welcome-mail --done
  $ idem resolve tasks/onboard-accounts.ts u0042 --effect welcome-mail --retry && idem run tasks/onboard-accounts.ts`,
    )
    .action((ref: string, key: string, opts: ResolveOptions) => action(resolveCommand(ref, key, opts)));
}
