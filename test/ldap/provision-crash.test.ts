/**
 * SIGKILL during a 2,000-row run of tasks/provision-users.ts, then --resume:
 * the directory must equal a clean single run's, entry for entry, with no
 * duplicate entries or group values; the bind password never reaches the
 * ledger or its WAL. Killed while member batches are in flight, no record the
 * run reported changed may lack a write at the server.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LdapPool } from '../../src/connectors/ldap/pool.ts';
import { openLedger, tempDir } from '../support/cli.ts';
import { Slapd } from '../support/slapd.ts';
import { poolFor, snapshot } from './helpers.ts';
import {
  CANARY,
  directory,
  expectDirectory,
  expectNoCanary,
  makeUsers,
  recordsOf,
  runTask,
  summaryOf,
  type User,
  writeUsers,
} from './provision-support.ts';
import { describeLdap } from './slapd-env.ts';

const N = 2000;

/** Two fresh directories for a describe block: one to crash and resume, one for the clean run. */
function twoDirectories(adminPassword?: string) {
  const d = {} as { crashed: Slapd; clean: Slapd; crashedPool: LdapPool; cleanPool: LdapPool };
  beforeAll(async () => {
    const options = adminPassword ? { adminPassword } : {};
    [d.crashed, d.clean] = await Promise.all([Slapd.start(options), Slapd.start(options)]);
    d.crashedPool = poolFor(d.crashed);
    d.cleanPool = poolFor(d.clean);
  });
  afterAll(async () => {
    await d.crashedPool?.close();
    await d.cleanPool?.close();
    await d.crashed?.destroy();
    await d.clean?.destroy();
  });
  return d;
}

/** Runs the task and SIGKILLs it once `writes` writes reached the server (a bounded wait, no timing). */
async function killAfter(slapd: Slapd, writes: number, args: string[], env: Record<string, string>) {
  const child = runTask(args, env);
  const deadline = Date.now() + 120_000;
  while (slapd.writes() < writes) {
    if (child.exitCode !== null || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(slapd.writes(), 'the run ended before it could be killed').toBeGreaterThanOrEqual(writes);
  child.kill('SIGKILL');
  const killed = await child;
  expect(killed.signal).toBe('SIGKILL');
  return killed;
}

/** The clean single run into the other directory; both must hold the same entries, value for value. */
async function expectSameAsClean(
  d: ReturnType<typeof twoDirectories>,
  users: User[],
  args: string[],
  env: Record<string, string>,
): Promise<void> {
  const single = await runTask([...args, '-q'], env);
  expect(single.exitCode, String(single.stderr)).toBe(0);
  await expectDirectory(d.crashedPool, d.crashed, users);
  const [a, b] = await Promise.all([
    snapshot(d.crashedPool, d.crashed.baseDn),
    snapshot(d.cleanPool, d.clean.baseDn),
  ]);
  // 2,000 people, 7 groups (staff, 5 departments, oncall), and the 4 entries the harness made.
  expect(Object.keys(a)).toHaveLength(N + 7 + 4);
  expect(a).toEqual(b);
}

describeLdap('provision-users: SIGKILL mid-run, then --resume', () => {
  const d = twoDirectories(CANARY);
  const dir = tempDir('idem-ldap-crash-');
  const users = makeUsers(N);
  const csv = writeUsers(join(dir, 'users.csv'), users);
  const passwordFile = join(dir, 'bind.pw');
  writeFileSync(passwordFile, CANARY, { mode: 0o600 });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const envFor = (s: Slapd) => {
    const { IDEM_LDAP_PASSWORD: _, ...env } = s.env();
    return { ...env, IDEM_LDAP_PASSWORD_FILE: passwordFile };
  };

  it('the resumed directory equals a clean single run, entry for entry', { timeout: 300_000 }, async () => {
    const state = join(dir, 'state-crashed');
    const outputs: unknown[] = [];
    const killed = await killAfter(
      d.crashed,
      1500,
      ['--state-dir', state, '--input', csv, '--json'],
      envFor(d.crashed),
    );
    outputs.push(killed.stdout, killed.stderr);
    const finishedBefore = String(killed.stdout)
      .split('\n')
      .filter((l) => l.includes('"type":"record"')).length;
    expect(finishedBefore).toBeLessThan(N);
    // A crash leaves the WAL behind: check it now, before the resume checkpoints it away.
    expect(existsSync(join(state, 'ledger.db-wal'))).toBe(true);
    expectNoCanary(outputs, state);

    const resumed = await runTask(
      ['--state-dir', state, '--input', csv, '--json', '--resume'],
      envFor(d.crashed),
    );
    outputs.push(resumed.stdout, resumed.stderr);
    expect(resumed.exitCode, String(resumed.stderr)).toBe(0);
    const summary = summaryOf(resumed.stdout);
    expect(summary).toMatchObject({ status: 'succeeded', resumed: true, counts: { failed: 0 } });
    expect(summary.alreadyDone).toBeGreaterThan(0);
    expect(summary.alreadyDone).toBeLessThan(N);

    await expectSameAsClean(
      d,
      users,
      ['--state-dir', join(dir, 'state-clean'), '--input', csv],
      envFor(d.clean),
    );
    expectNoCanary(outputs, state);
  });
});

describeLdap('provision-users: SIGKILL while member batches are in flight, then --resume', () => {
  const d = twoDirectories();
  const dir = tempDir('idem-ldap-crash-batches-');
  const users = makeUsers(N);
  const csv = writeUsers(join(dir, 'users.csv'), users);
  const byUid = new Map(users.map((u) => [u.uid, u]));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('no record reported changed lacks its writes, and the resumed directory equals a clean run', {
    timeout: 300_000,
  }, async () => {
    const state = join(dir, 'state-crashed');
    // 64 records at once: most of them wait for the modify carrying their member values.
    const args = ['--state-dir', state, '--input', csv, '--json', '--concurrency', '64'];
    const killed = await killAfter(d.crashed, N / 2, args, d.crashed.env());

    // What the killed run reported changed: on stdout, and in the ledger.
    const printed = [...recordsOf(killed.stdout).values()].filter((e) => e.outcome === 'changed');
    const ledger = openLedger(state);
    const recorded = ledger.prepare("SELECT key FROM results WHERE outcome = 'changed'").all() as {
      key: string;
    }[];
    ledger.close();
    const reported = new Set([...printed.map((e) => e.key as string), ...recorded.map((r) => r.key)]);
    expect(reported.size).toBeGreaterThan(0);
    expect(reported.size).toBeLessThan(N);

    // Every one of them has its entry and every membership at the server.
    const { people, groups } = await directory(d.crashedPool, d.crashed);
    for (const uid of reported) {
      const u = byUid.get(uid) as User;
      expect(people.get(uid)?.mail, `person ${uid}`).toEqual([u.mail]);
      for (const g of u.groups) expect(groups.get(g), `${uid} in ${g}`).toContain(uid);
    }
    // The kill caught records between their add and their member writes (batches in flight).
    const partial = [...people.keys()].filter(
      (uid) =>
        !reported.has(uid) && (byUid.get(uid)?.groups ?? []).some((g) => !groups.get(g)?.includes(uid)),
    );
    expect(partial.length).toBeGreaterThan(0);

    const resumed = await runTask([...args, '--resume'], d.crashed.env());
    expect(resumed.exitCode, String(resumed.stderr)).toBe(0);
    expect(summaryOf(resumed.stdout)).toMatchObject({
      status: 'succeeded',
      resumed: true,
      counts: { failed: 0 },
    });
    await expectSameAsClean(
      d,
      users,
      ['--state-dir', join(dir, 'state-clean'), '--input', csv],
      d.clean.env(),
    );
  });
});
