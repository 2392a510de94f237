import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { FAULTY_BIN, idem, openLedger, ROOT, tempDir, writeCsv } from '../../support/cli.ts';
import { createKvTarget } from '../../support/kv-target.ts';

/** The kv test tasks (test/e2e/tasks/). */
export const TASKS = {
  kv: 'test/e2e/tasks/kv.ts',
  notify: 'test/e2e/tasks/kv-notify.ts',
  prune: 'test/e2e/tasks/kv-prune.ts',
} as const;

/** `id,value` rows k1..kn. */
export const rows = (n: number, from = 1, value = 'v') =>
  Array.from({ length: n }, (_, i) => `k${from + i},${value}${from + i}`).join('\n');

/**
 * A folder with a kv target, an input, a state folder and an outbox, and the
 * built CLI pointed at them the way cron would run it (no TTY, NO_COLOR).
 */
export function kvWorld(n: number) {
  const dir = tempDir('idem-ops-');
  const target = createKvTarget(join(dir, 'target.db'));
  const input = writeCsv(dir, 'in.csv', `id,value\n${rows(n)}\n`);
  const state = join(dir, 'state');
  const env = { KV_TARGET: target, KV_INPUT: input, KV_OUTBOX: join(dir, 'outbox') };
  const world = {
    dir,
    state,
    env,
    /** `idem run <task> --state-dir <state> ...args`. */
    run: (args: string[] = [], more: Record<string, string> = {}, task: string = TASKS.kv) =>
      idem(['run', task, '--state-dir', state, ...args], { env: { ...env, ...more } }),
    /** `idem run` through the test-only faulty build (IDEM_CRASH_AT). */
    runFaulty: (args: string[], more: Record<string, string>, task: string = TASKS.kv) =>
      idem(['run', task, '--state-dir', state, ...args], { env: { ...env, ...more }, bin: FAULTY_BIN }),
    /** Any other command, with `--state-dir <state>` appended. */
    cmd: (args: string[], more: Record<string, string> = {}) =>
      idem([...args, '--state-dir', state], { env: { ...env, ...more } }),
    write: (content: string) => writeCsv(dir, 'in.csv', content),
    /** Reads the ledger (read-only) in `fn`. */
    ledger: <T>(fn: (db: Database.Database) => T): T => {
      const db = openLedger(state);
      try {
        return fn(db);
      } finally {
        db.close();
      }
    },
  };
  return world;
}

export { summaryOf } from '../../ldap/provision-support.ts';

/** The holder file of a task's lock, once a run has started (its run id known). */
export function lockHolder(state: string, task: string): Record<string, any> | undefined {
  const info = join(state, 'locks', `${task}.lock.json`);
  if (!existsSync(info)) return undefined;
  try {
    const holder = JSON.parse(readFileSync(info, 'utf8'));
    return holder.runId === 'starting' ? undefined : holder;
  } catch {
    return undefined;
  }
}

/** Rows committed so far in the ledger (0 while it has no tables yet). */
export function committed(state: string): number {
  const path = join(state, 'ledger.db');
  if (!existsSync(path)) return 0;
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM results').get() as { n: number }).n;
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

/**
 * A separate process holding a task's lock (in `lockDir`) under `host`, until
 * killed: a live holder on this host, or one on another machine.
 */
export async function holdLock(lockDir: string, task: string, host: string) {
  const child = execa(
    process.execPath,
    ['--import', 'tsx', 'test/e2e/support/hold-lock.ts', lockDir, task, host],
    {
      reject: false,
      cwd: ROOT,
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) =>
      d.toString().includes('held') ? resolve() : reject(new Error(d.toString())),
    );
    void child.then((r) => reject(new Error(`lock holder exited early: ${r.stderr}`)));
  });
  return { child }; // not `return child`: a subprocess is thenable and would be awaited
}
