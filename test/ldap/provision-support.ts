/**
 * Support for the end-to-end tests of tasks/provision-users.ts: HR CSVs, the
 * built CLI run the way cron runs it, and the directory read back.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { expect } from 'vitest';
import { firstRdn } from '../../src/connectors/ldap/dn.ts';
import type { LdapPool } from '../../src/connectors/ldap/pool.ts';
import { BIN, ndjson, ROOT } from '../support/cli.ts';
import type { Slapd } from '../support/slapd.ts';

/** The CLI under test (`IDEM_E2E_BIN` points the suite at another build). */
export const CLI = process.env.IDEM_E2E_BIN ?? BIN;
export const TASK = join(ROOT, 'tasks', 'provision-users.ts');

/** A password that must never show up in any output or state file. */
export const CANARY = 'Canary-9f3b2e-DoNotLeak';

export { makeUsers, type User, writeUsers } from './users.ts';

import type { User } from './users.ts';

/** Runs `idem run tasks/provision-users.ts` with the built CLI, no TTY, as cron would. */
export function runTask(args: string[], env: Record<string, string>) {
  return execa(process.execPath, [CLI, 'run', TASK, ...args], {
    reject: false,
    cwd: ROOT,
    env: { NO_COLOR: '1', IDEM_PRUNE: '', ...env },
  });
}

/** The NDJSON summary event. */
export function summaryOf(stdout: unknown): Record<string, any> {
  const summary = ndjson(stdout).find((e) => e.type === 'summary');
  if (!summary) throw new Error(`no summary event in:\n${String(stdout)}`);
  return summary;
}

/** The NDJSON record events by key. */
export function recordsOf(stdout: unknown): Map<string, Record<string, any>> {
  return new Map(
    ndjson(stdout)
      .filter((e) => e.type === 'record')
      .map((e) => [e.key as string, e]),
  );
}

/** What the directory holds: people by uid, and each group's member uids. */
export async function directory(pool: LdapPool, slapd: Slapd) {
  const people = new Map<string, Record<string, string[]>>();
  for (const e of await pool.search(slapd.peopleDn, {
    scope: 'sub',
    filter: '(objectClass=inetOrgPerson)',
  })) {
    const uid = e.attrs.uid?.[0] as string;
    expect(people.has(uid), `duplicate uid ${uid}`).toBe(false);
    people.set(uid, e.attrs);
  }
  const groups = new Map<string, string[]>();
  for (const e of await pool.search(slapd.groupsDn, { scope: 'one', filter: '(objectClass=groupOfNames)' })) {
    const members = (e.attrs.member ?? []).map((m) => firstRdn(m)[0]?.value as string);
    expect(new Set(members).size, `duplicate members in ${e.dn}`).toBe(members.length);
    groups.set(e.attrs.cn?.[0] as string, members.sort());
  }
  return { people, groups };
}

/** Checks that the directory holds exactly these users with the right attributes and groups. */
export async function expectDirectory(pool: LdapPool, slapd: Slapd, users: User[]): Promise<void> {
  const { people, groups } = await directory(pool, slapd);
  expect(people.size).toBe(users.length);
  const want = new Map<string, string[]>();
  for (const u of users) {
    const p = people.get(u.uid);
    expect(p, `person ${u.uid}`).toBeDefined();
    expect(p?.cn).toEqual([`${u.givenName} ${u.sn}`]);
    expect(p?.mail).toEqual([u.mail]);
    expect(p?.departmentnumber).toEqual([u.department]);
    expect(p?.employeenumber).toEqual([u.employeeNumber]);
    for (const g of u.groups) want.set(g, [...(want.get(g) ?? []), u.uid]);
  }
  // Emptied groups keep only the task's placeholder member (cn=nobody).
  const real = [...groups]
    .map(([g, m]) => [g, m.filter((x) => x !== 'nobody')] as const)
    .filter(([, m]) => m.length);
  expect(new Map(real)).toEqual(new Map([...want].map(([g, m]) => [g, m.sort()])));
}

/** Fails when the canary shows up in the outputs or in the state files (ledger, WAL). */
export function expectNoCanary(outputs: unknown[], stateDir: string, files: string[] = []): void {
  for (const out of outputs) expect(String(out)).not.toContain(CANARY);
  for (const f of [join(stateDir, 'ledger.db'), join(stateDir, 'ledger.db-wal'), ...files]) {
    if (existsSync(f)) expect(readFileSync(f).includes(Buffer.from(CANARY)), `canary in ${f}`).toBe(false);
  }
}
