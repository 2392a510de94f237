/**
 * tasks/provision-users.ts when the directory goes away mid-run: back within
 * the retry window (the run completes, the retries are in the ledger history),
 * or gone for good (the breaker aborts with exit 4; a later --resume completes).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { LdapPool } from '../../src/connectors/ldap/pool.ts';
import { openLedger, tempDir } from '../support/cli.ts';
import { Slapd } from '../support/slapd.ts';
import { linesSeen } from '../support/wait.ts';
import { poolFor } from './helpers.ts';
import {
  expectDirectory,
  makeUsers,
  recordsOf,
  runTask,
  summaryOf,
  writeUsers,
} from './provision-support.ts';
import { describeLdap } from './slapd-env.ts';

const N = 300;

/** Waits (bounded) until the server has seen `n` writes while the run is still going. */
async function untilWrites(slapd: Slapd, n: number, run: { exitCode: number | null }): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (slapd.writes() < n && run.exitCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(slapd.writes(), 'the run ended before the fault could be injected').toBeGreaterThanOrEqual(n);
  expect(run.exitCode).toBeNull();
}

function eventsOf(state: string, kind: string): { slot: string; detail: string }[] {
  const ledger = openLedger(state);
  try {
    return ledger.prepare('SELECT slot, detail FROM events WHERE kind = ?').all(kind) as {
      slot: string;
      detail: string;
    }[];
  } finally {
    ledger.close();
  }
}

describeLdap('provision-users: slapd goes away mid-run', () => {
  let slapd: Slapd | undefined;
  let pool: LdapPool | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await pool?.close();
    await slapd?.destroy();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** A fresh slapd, a state dir and the HR export of N users. */
  async function freshDirectory() {
    const server = await Slapd.start();
    const serverPool = poolFor(server);
    slapd = server; // for afterEach
    pool = serverPool;
    const dir = tempDir('idem-ldap-faults-');
    dirs.push(dir);
    const users = makeUsers(N);
    const csv = writeUsers(join(dir, 'users.csv'), users);
    return { slapd: server, pool: serverPool, state: join(dir, 'state'), users, csv };
  }

  it('stopped and restarted within the retry window: the run completes, with retries in the history', {
    timeout: 180_000,
  }, async () => {
    const { slapd, pool, state, users, csv } = await freshDirectory();
    const run = runTask(['--state-dir', state, '--input', csv, '--json'], slapd.env());
    await untilWrites(slapd, 150, run);
    await slapd.stop();
    // Down until the run has felt it (a retry line), not for a fixed second.
    await linesSeen(run.stderr, /^retry /);
    await slapd.resume();
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const summary = summaryOf(r.stdout);
    expect(summary).toMatchObject({ status: 'succeeded', counts: { failed: 0 } });
    expect(summary.counts.changed + summary.counts.ok).toBe(N);
    const retries = eventsOf(state, 'retry');
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((e) => /^(transient|ambiguous): ldap /.test(e.detail))).toBe(true);
    await expectDirectory(pool, slapd, users);
  });

  it('stays down: exit 4 after K failed records; --resume later re-checks the failed and finishes the rest', {
    timeout: 180_000,
  }, async () => {
    const { slapd, pool, state, users, csv } = await freshDirectory();
    // 8 at once, not the task's 256: records must be left unreached when the server goes (N is 300).
    const run = runTask(
      ['--state-dir', state, '--input', csv, '--json', '--breaker', '3', '--concurrency', '8'],
      slapd.env(),
    );
    await untilWrites(slapd, 150, run);
    await slapd.stop();
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(4);
    const summary = summaryOf(r.stdout);
    expect(summary.status).toBe('aborted');
    expect(summary.message).toMatch(/3 consecutive records failed with the same error/);
    expect(summary.counts.failed).toBeGreaterThanOrEqual(3);
    expect(summary.notProcessed).toBeGreaterThan(0);
    const failed = eventsOf(state, 'failed');
    expect(failed.some((e) => /^transient: .*server unreachable/.test(e.detail))).toBe(true);

    const failedBefore = [...recordsOf(r.stdout).values()].filter((e) => e.outcome === 'failed');
    expect(failedBefore.every((e) => e.error.class === 'transient' || e.error.class === 'ambiguous')).toBe(
      true,
    );

    await slapd.resume();
    const again = await runTask(['--state-dir', state, '--input', csv, '--json', '--resume'], slapd.env());
    expect(again.exitCode, String(again.stderr)).toBe(0);
    const resumed = summaryOf(again.stdout);
    expect(resumed).toMatchObject({
      resumed: true,
      runId: summary.runId,
      status: 'succeeded',
      counts: { failed: 0 },
    });
    // The resume re-checks the records that failed while the server was down, and does every record
    // the aborted run never reached; nothing else.
    const redone = recordsOf(again.stdout);
    expect(redone.size).toBe(summary.notProcessed + failedBefore.length);
    for (const e of failedBefore) expect(redone.get(e.key)?.outcome).toMatch(/^(changed|ok)$/);
    expect([...redone.values()].every((e) => e.outcome === 'changed' || e.outcome === 'ok')).toBe(true);
    await expectDirectory(pool, slapd, users);
  });
});
