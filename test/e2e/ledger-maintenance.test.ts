/**
 * `idem unlock --force` (a lock the OS cannot release) and `idem ledger prune`
 * (retention), end to end on real lock and ledger files.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { until } from '../support/wait.ts';
import { committed, holdLock, kvWorld, lockHolder, summaryOf, TASKS } from './support/kv-world.ts';
import { jsonDoc } from './support/schemas.ts';

describe('idem unlock', () => {
  it('refuses without --force, and while the holder is alive on this host (exit 75)', async () => {
    const w = kvWorld(3);
    expect((await w.run()).exitCode).toBe(0);
    const { child } = await holdLock(join(w.state, 'locks'), 'kv', hostname());
    try {
      const lockFile = join(w.state, 'locks', 'kv.lock');
      const asked = await w.cmd(['unlock', 'kv']);
      expect(asked.exitCode).toBe(2);
      expect(asked.stderr).toContain(`idem unlock removes the lock of task kv (${lockFile})`);
      expect(asked.stderr).toContain('then run it again with --force');
      const refused = await w.cmd(['unlock', 'kv', '--force']);
      expect(refused.exitCode).toBe(75);
      expect(refused.stderr).toContain(
        `task kv is locked by pid ${child.pid} on host ${hostname()} (run r-20261124-020000-abcd, started`,
      );
      expect(refused.stderr).toContain(
        `that process is alive on this host: let it finish, or stop it (kill ${child.pid})`,
      );
      expect(existsSync(lockFile) && existsSync(`${lockFile}.json`)).toBe(true);
      expect((await w.run()).exitCode).toBe(75);
    } finally {
      child.kill('SIGKILL');
      await child;
    }
  });

  it('removes a lock the OS still holds for a holder on another host, and says what it removed; a run then starts', async () => {
    const w = kvWorld(3);
    // A holder on another machine: its lock stays held here, as a dead holder's does on a network filesystem.
    const { child } = await holdLock(join(w.state, 'locks'), 'kv', 'nfs-client-7');
    try {
      expect((await w.run()).exitCode).toBe(75);
      const lockFile = join(w.state, 'locks', 'kv.lock');
      const unlocked = await w.cmd(['unlock', 'kv', '--force']);
      expect(unlocked.exitCode, String(unlocked.stderr)).toBe(0);
      expect(String(unlocked.stdout).split('\n')).toEqual([
        'removed the lock of task kv, which the operating system still held: its holder is on host nfs-client-7, which idem cannot check from here; --force says it is gone',
        expect.stringMatching(
          new RegExp(
            `^ {2}holder: pid ${child.pid} on host nfs-client-7, run r-20261124-020000-abcd, since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d [+-]\\d\\d:\\d\\d$`,
          ),
        ),
        `  removed ${lockFile}`,
        `  removed ${lockFile}.json`,
        // The holder's open transaction, which belongs to the lock file.
        `  removed ${lockFile}-journal`,
      ]);
      expect(existsSync(lockFile)).toBe(false);
      const next = await w.run();
      expect(next.exitCode, String(next.stderr)).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await child;
    }
  });

  it('a lock the OS already released only loses the stale holder details of its dead holder (JSON form)', async () => {
    const w = kvWorld(2000);
    const run = w.run(['--concurrency', '1'], { KV_SLOW_MS: '5' });
    await until('the run holds the lock', () => Boolean(lockHolder(w.state, 'kv')) && committed(w.state) > 0);
    run.kill('SIGKILL');
    await run;
    expect(existsSync(join(w.state, 'locks', 'kv.lock.json'))).toBe(true);
    const out = jsonDoc('unlock', (await w.cmd(['unlock', 'kv', '--force', '--json'])).stdout);
    expect(out).toMatchObject({
      task: 'kv',
      wasHeld: false,
      holder: { pid: run.pid, host: hostname() },
      removed: [join(w.state, 'locks', 'kv.lock.json')],
    });
    expect(out.message).toContain(
      `its last holder (pid ${run.pid} on host ${hostname()}) is gone and the operating system released it`,
    );
    expect(existsSync(join(w.state, 'locks', 'kv.lock.json'))).toBe(false);
    const nothing = await w.cmd(['unlock', 'nosuch', '--force']);
    expect(nothing.exitCode).toBe(2);
    expect(nothing.stderr).toContain(`no lock of task nosuch at ${join(w.state, 'locks', 'nosuch.lock')}`);
  });
});

describe('idem ledger prune', () => {
  it('removes old runs with their outcomes and history, keeps the last run and once effects unless asked; the history stays append-only', async () => {
    const w = kvWorld(4);
    const ids: string[] = [];
    for (const value of ['a', 'b', 'c', 'd']) {
      w.write(`id,value\nk1,${value}\nk2,${value}\nk3,${value}\nk4,${value}\n`);
      const r = await w.run(['--json'], {}, TASKS.notify);
      expect(r.exitCode).toBe(0);
      ids.push(summaryOf(r.stdout).runId);
    }
    const times = w.ledger(
      (db) =>
        db.prepare('SELECT id, started_at, ended_at FROM runs ORDER BY started_at').all() as {
          id: string;
          started_at: number;
          ended_at: number;
        }[],
    );
    expect(times.map((t) => t.id)).toEqual(ids);
    const count = (sql: string) => w.ledger((db) => (db.prepare(sql).get() as { n: number }).n);
    const before = {
      results: count(`SELECT count(*) AS n FROM results WHERE run_id IN ('${ids[0]}', '${ids[1]}')`),
      events: count(`SELECT count(*) AS n FROM events WHERE run_id IN ('${ids[0]}', '${ids[1]}')`),
    };
    expect(before.results).toBe(8);
    // What else a run keeps (its plan, finished lines, keys) goes with it, and only with it.
    const parts = (runs: (string | undefined)[]) =>
      ['planned', 'finished', 'run_key_chunks'].map((table) =>
        count(
          `SELECT count(*) AS n FROM ${table} WHERE run_id IN (${runs.map((id) => `'${id}'`).join(', ')})`,
        ),
      );
    const kept = parts([ids[2], ids[3]]);
    for (const n of [...parts([ids[0], ids[1]]), ...kept]) expect(n).toBeGreaterThan(0);
    // Between the end of the second run and the start of the third.
    const cutoff = new Date((times[1]!.ended_at + times[2]!.started_at) / 2).toISOString();

    const planned = jsonDoc(
      'prune',
      (await w.cmd(['ledger', 'prune', 'kv-notify', '--before', cutoff, '--dry-run', '--json'])).stdout,
    );
    expect(planned).toMatchObject({
      task: 'kv-notify',
      dryRun: true,
      removed: { runs: 2, results: 8, events: before.events, effects: 0, idempotencyKeys: 0 },
      kept: { latestRun: ids[3], inDoubtRuns: [], onceEffects: 4 },
    });
    expect(count('SELECT count(*) AS n FROM runs')).toBe(4);

    const pruned = await w.cmd(['ledger', 'prune', 'kv-notify', '--before', cutoff]);
    expect(pruned.exitCode, String(pruned.stderr)).toBe(0);
    expect(pruned.stdout).toMatch(
      new RegExp(
        `^task kv-notify: removed 2 run\\(s\\) that ended before .*, 8 record outcome\\(s\\) and ${before.events} history line\\(s\\) \\(runs started `,
      ),
    );
    expect(pruned.stdout).toContain(`kept the last run ${ids[3]} (status and --resume read it)`);
    expect(pruned.stdout).toContain(
      'kept 4 completed once effect(s) and 0 idempotency key(s) older than that: they stop a second welcome mail; --forget-once-effects removes them',
    );
    expect(w.ledger((db) => db.prepare('SELECT id FROM runs ORDER BY started_at').all())).toEqual([
      { id: ids[2] },
      { id: ids[3] },
    ]);
    expect(count(`SELECT count(*) AS n FROM events WHERE run_id IN ('${ids[0]}', '${ids[1]}')`)).toBe(0);
    expect(count(`SELECT count(*) AS n FROM results WHERE run_id IN ('${ids[0]}', '${ids[1]}')`)).toBe(0);
    expect(parts([ids[0], ids[1]])).toEqual([0, 0, 0]);
    expect(parts([ids[2], ids[3]])).toEqual(kept);
    expect(count(`SELECT count(*) AS n FROM effects WHERE state = 'done'`)).toBe(4);
    expect(
      w.ledger((db) => db.prepare('SELECT task, runs, results, events, effects, by_whom FROM prunes').all()),
    ).toEqual([
      {
        task: 'kv-notify',
        runs: 2,
        results: 8,
        events: before.events,
        effects: 0,
        by_whom: expect.stringMatching(/@/),
      },
    ]);

    // Ordinary deletes and updates of the history still fail: the trigger is back.
    const db = new Database(join(w.state, 'ledger.db'));
    try {
      expect(() => db.prepare('DELETE FROM events').run()).toThrow('the events history is append-only');
      expect(() => db.prepare("UPDATE events SET detail = 'x'").run()).toThrow(
        'the events history is append-only',
      );
    } finally {
      db.close();
    }

    // Everything older than now, once effects too: the last run stays, and so does what stops a second mail... unless asked.
    const all = jsonDoc(
      'prune',
      (await w.cmd(['ledger', 'prune', 'kv-notify', '--older-than', '0s', '--forget-once-effects', '--json']))
        .stdout,
    );
    expect(all).toMatchObject({
      removed: { runs: 1, results: 4, effects: 4 },
      kept: { latestRun: ids[3], onceEffects: 0 },
    });
    expect(w.ledger((db) => db.prepare('SELECT id FROM runs').all())).toEqual([{ id: ids[3] }]);
    expect(count('SELECT count(*) AS n FROM effects')).toBe(0);
    // And the status still reads the last run.
    expect((await w.cmd(['status', 'kv-notify'])).exitCode).toBe(0);
  });

  it('keeps the last run that went through when a later one did not: the next plan is still judged against it', async () => {
    const w = kvWorld(2);
    w.write('id,value\nk1,a\nk2,a\n');
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await w.run(['--json'], {}, TASKS.notify);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      ids.push(summaryOf(r.stdout).runId);
    }
    // The newest run did not go through (stopped by SIGTERM, say): the one before stays the baseline.
    const db = new Database(join(w.state, 'ledger.db'));
    try {
      db.prepare(`UPDATE runs SET status = 'aborted' WHERE id = ?`).run(ids[1]);
    } finally {
      db.close();
    }
    const pruned = await w.cmd(['ledger', 'prune', 'kv-notify', '--older-than', '0s']);
    expect(pruned.exitCode, String(pruned.stderr)).toBe(0);
    expect(pruned.stdout).toContain(`kept the last run ${ids[1]} (status and --resume read it)`);
    expect(pruned.stdout).toContain(
      `kept the last accepted run ${ids[0]} (the change budgets compare the next plan with it)`,
    );
    const json = jsonDoc(
      'prune',
      (await w.cmd(['ledger', 'prune', 'kv-notify', '--older-than', '0s', '--json', '--dry-run'])).stdout,
    );
    expect(json).toMatchObject({ removed: { runs: 0 }, kept: { latestRun: ids[1], acceptedRun: ids[0] } });
    const next = await w.run(['--json'], {}, TASKS.notify);
    expect(next.exitCode, String(next.stderr)).toBe(0);
    expect(summaryOf(next.stdout).plan).toMatchObject({ identicalTo: ids[0] });
  });

  it('keeps a run whose once effect is in doubt, refuses while a run holds the lock, and needs an age', async () => {
    const w = kvWorld(2);
    const crashed = await w.runFaulty([], { IDEM_CRASH_AT: 'effect-done:notify' }, TASKS.notify);
    expect(crashed.signal).toBe('SIGKILL');
    const doubtRun = w.ledger((db) => (db.prepare('SELECT id FROM runs').get() as { id: string }).id);
    w.write('id,value\nk9,z\n');
    expect((await w.run([], {}, TASKS.notify)).exitCode).toBe(0);
    const kept = jsonDoc(
      'prune',
      (await w.cmd(['ledger', 'prune', 'kv-notify', '--older-than', '0s', '--json'])).stdout,
    );
    expect(kept).toMatchObject({ removed: { runs: 0 }, kept: { inDoubtRuns: [doubtRun] } });
    expect((await w.cmd(['ledger', 'prune', 'kv-notify'])).exitCode).toBe(2);
    expect((await w.cmd(['ledger', 'prune', 'kv-notify', '--older-than', 'soon'])).exitCode).toBe(2);

    const { child } = await holdLock(join(w.state, 'locks'), 'kv-notify', hostname());
    try {
      const locked = await w.cmd(['ledger', 'prune', 'kv-notify', '--older-than', '90d']);
      expect(locked.exitCode).toBe(75);
      expect(locked.stderr).toContain('prune after it finishes');
    } finally {
      child.kill('SIGKILL');
      await child;
    }
  });
});
