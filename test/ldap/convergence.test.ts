/**
 * Convergence against a real slapd (issue 11): a record whose step changes the same
 * thing on each of the last 3 runs is flagged non-converging, with the values.
 * Two causes are produced at the server itself: another writer fighting over a group
 * (the real provisioning task), and a value the server normalises on write (a naive
 * step comparing strings byte for byte).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Attribute, Change, Client } from 'ldapts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineTask, type Step } from '../../src/index.ts';
import { MemoryLedger, runInMemory } from '../../src/testing.ts';
import { tempDir } from '../support/cli.ts';
import { BASE_DN, GROUPS_DN, PEOPLE_DN, Slapd } from '../support/slapd.ts';
import { CANARY, makeUsers, recordsOf, runTask, summaryOf, writeUsers } from './provision-support.ts';
import { describeLdap } from './slapd-env.ts';

let slapd: Slapd;
let dir: string;
const admin = async () => {
  const client = new Client({ url: slapd.url });
  await client.bind(slapd.adminDn, slapd.adminPassword);
  return client;
};

describeLdap('convergence at a real slapd', () => {
  beforeAll(async () => {
    slapd = await Slapd.start({ adminPassword: CANARY });
    dir = tempDir('idem-ldap-converge-');
  });
  afterAll(async () => {
    await slapd?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('another writer that takes a person out of a group every night: flagged non-converging on the third run, not before', async () => {
    const users = makeUsers(20);
    const fought = users.find((u) => u.groups.includes('staff')) as (typeof users)[number];
    const csv = writeUsers(join(dir, 'users.csv'), users);
    const env = { ...slapd.env(), IDEM_LDAP_PASSWORD: CANARY };
    const state = join(dir, 'state');
    const member = `uid=${fought.uid},${PEOPLE_DN}`;
    const night = async () => {
      const r = await runTask(['--state-dir', state, '--input', csv, '--json'], env);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      // The other rule: takes the person out of staff again.
      const client = await admin();
      await client.modify(`cn=staff,${GROUPS_DN}`, [
        new Change({
          operation: 'delete',
          modification: new Attribute({ type: 'member', values: [member] }),
        }),
      ]);
      await client.unbind();
      return r;
    };
    const first = await night();
    expect(summaryOf(first.stdout).counts).toMatchObject({ changed: 20, 'non-converging': 0 });
    const second = await night();
    expect(recordsOf(second.stdout).get(fought.uid)).toMatchObject({ outcome: 'changed' });
    expect(summaryOf(second.stdout).counts).toMatchObject({ changed: 1, ok: 19, 'non-converging': 0 });
    const third = await night();
    expect(summaryOf(third.stdout).counts).toMatchObject({ changed: 1, ok: 19, 'non-converging': 1 });
    const warnings = recordsOf(third.stdout).get(fought.uid)?.warnings as string[];
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^non-converging: step ldap\.memberships changed group on each of the last 3 runs/,
    );
    expect(warnings[0]).toContain(`cn=staff,${GROUPS_DN}`);
    expect(third.stderr + third.stdout).not.toContain(CANARY);
  });

  it('a value the server normalises on write (a DN with spaces), compared byte for byte: flagged on the third run; with the verifying re-check it fails on the first', async () => {
    const uid = 'norm1';
    const dn = `uid=${uid},${PEOPLE_DN}`;
    const client = await admin();
    await client.add(dn, { objectClass: ['inetOrgPerson'], uid, cn: uid, sn: uid });
    await client.unbind();
    // What the export says, as a person typed it; slapd stores DN values in their pretty form.
    const wanted = `cn=Boss, ou=people, ${BASE_DN}`;
    const naive = (verify: boolean): Step<{ id: string }, Client> => ({
      name: 'naive.seeAlso',
      verify,
      check: async (_r, ldap) => {
        const { searchEntries } = await ldap.search(dn, { scope: 'base', attributes: ['seeAlso'] });
        const now = searchEntries[0]?.seeAlso;
        const have = Array.isArray(now) ? String(now[0]) : now === undefined ? undefined : String(now);
        if (have === wanted) return undefined;
        return {
          changes: [{ op: have === undefined ? '+' : '~', field: 'seeAlso', from: have, to: wanted }],
        };
      },
      apply: async (_r, ldap) => {
        await ldap.modify(dn, [
          new Change({
            operation: 'replace',
            modification: new Attribute({ type: 'seeAlso', values: [wanted] }),
          }),
        ]);
      },
    });
    const task = (verify: boolean) =>
      defineTask<{ id: string }, Client>({
        name: `normalised-${verify}`,
        source: { kind: 'memory', path: '-', open: () => ({}) as never },
        key: 'id',
        connect: async (setup) => {
          const c = await admin();
          setup.onClose(() => c.unbind());
          return c;
        },
        steps: [naive(verify)],
      });

    // Without the re-check: the change is "made" every night, and the third night says why it keeps coming back.
    const ledger = new MemoryLedger();
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await runInMemory(task(false), [{ id: uid }], { ledger }));
    expect(runs.map((r) => r.summary.counts.changed)).toEqual([1, 1, 1]);
    expect(runs.map((r) => r.summary.counts['non-converging'])).toEqual([0, 0, 1]);
    const warning = runs[2]?.reporter.byKey(uid)?.warnings?.[0] as string;
    expect(warning).toMatch(
      /^non-converging: step naive\.seeAlso changed seeAlso on each of the last 3 runs/,
    );
    // The values show what the server did to it: it keeps the pretty form, without the spaces.
    expect(warning).toContain(`cn=Boss,ou=people,${BASE_DN} -> ${wanted}`);

    // With the default verifying re-check, the first run already fails the record, naming what is left.
    const checked = await runInMemory(task(true), [{ id: uid }]);
    expect(checked.summary.counts).toMatchObject({ failed: 1, changed: 0 });
    expect(checked.reporter.byKey(uid)?.error).toMatchObject({
      message: expect.stringMatching(/did not converge: after apply it still reports/),
    });
  });
});
