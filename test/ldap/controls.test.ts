/**
 * The controls the running slapd really supports, read from its root DSE, and
 * their real behaviour: Permissive Modify and Assertion (RFC 4528).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ASSERTION_OID,
  assertion,
  PERMISSIVE_MODIFY_OID,
  permissiveModify,
} from '../../src/connectors/ldap/controls.ts';
import { ensureMembers } from '../../src/connectors/ldap/ensure-members.ts';
import { eq } from '../../src/connectors/ldap/filter.ts';
import type { LdapPool, RootDse } from '../../src/connectors/ldap/pool.ts';
import { Slapd } from '../support/slapd.ts';
import { converge, failure, plan, poolFor } from './helpers.ts';
import { describeLdap } from './slapd-env.ts';

describeLdap('controls of the running slapd', () => {
  let slapd: Slapd;
  let pool: LdapPool;
  let dse: RootDse;
  const group = 'cn=ctl,ou=groups,dc=example,dc=com';
  const a = 'uid=a,ou=people,dc=example,dc=com';
  const b = 'uid=b,ou=people,dc=example,dc=com';

  beforeAll(async () => {
    slapd = await Slapd.start();
    pool = poolFor(slapd);
    dse = await pool.verify();
    await pool.add(group, { objectClass: ['groupOfNames'], cn: ['ctl'], member: [a] });
  });
  afterAll(async () => {
    await pool?.close();
    await slapd?.destroy();
  });

  it('reads supportedControl from the root DSE', () => {
    expect(dse.namingContexts).toContain('dc=example,dc=com');
    expect(dse.supportedControl.length).toBeGreaterThan(0);
    console.info(
      `slapd root DSE: Permissive Modify ${dse.supportedControl.includes(PERMISSIVE_MODIFY_OID) ? 'listed' : 'NOT listed'}, ` +
        `Assertion ${dse.supportedControl.includes(ASSERTION_OID) ? 'listed' : 'NOT listed'}`,
    );
  });

  it('Permissive Modify: used only when listed; when listed, re-adding and deleting a missing value succeed', async () => {
    const listed = dse.supportedControl.includes(PERMISSIVE_MODIFY_OID);
    expect(await pool.usePermissiveModify()).toBe(listed);
    if (listed) {
      await pool.modify(group, [{ op: 'add', attribute: 'member', values: [a] }], [permissiveModify()]);
      await pool.modify(group, [{ op: 'delete', attribute: 'member', values: [b] }], [permissiveModify()]);
    } else {
      // Without it the server answers 20 and 16 ...
      expect(
        (await failure(pool.modify(group, [{ op: 'add', attribute: 'member', values: [a] }]))).code,
      ).toBe(20);
      expect(
        (await failure(pool.modify(group, [{ op: 'delete', attribute: 'member', values: [b] }]))).code,
      ).toBe(16);
    }
    // ... and either way a stale membership diff converges: a is already in, b already out.
    const stale = { group, add: [a], remove: [b], placeholderPresent: false, changes: [] };
    const writes = slapd.writes();
    await ensureMembers(group, [a], { exact: true }).apply(
      undefined,
      { ldap: pool },
      stale,
      undefined as never,
    );
    if (!listed) expect(slapd.writes()).toBe(writes);
    expect((await pool.read(group, ['member']))?.attrs.member).toEqual([a]);
    expect(await plan(ensureMembers(group, [a], { exact: true }), { ldap: pool })).toBeUndefined();
  });

  it('Assertion: a false assertion fails with 122 and writes nothing; a true one lets the write through', async () => {
    expect(await pool.supportsAssertion()).toBe(dse.supportedControl.includes(ASSERTION_OID));
    if (!(await pool.supportsAssertion())) return;
    const writes = slapd.writes();
    const err = await failure(
      pool.modify(
        group,
        [{ op: 'replace', attribute: 'description', values: ['x'] }],
        [assertion(eq('cn', 'not-ctl'))],
      ),
    );
    expect(err.code).toBe(122);
    expect(err.kind).toBe('transient');
    expect(err.message).toContain(`ldap modify ${group} [description]: assertionFailed (122)`);
    expect(slapd.writes()).toBe(writes);
    expect((await pool.read(group, ['description']))?.attrs.description).toBeUndefined();

    await pool.modify(
      group,
      [{ op: 'replace', attribute: 'description', values: ['y'] }],
      [assertion(eq('cn', 'ctl'))],
    );
    expect((await pool.read(group, ['description']))?.attrs.description).toEqual(['y']);
    expect(slapd.writes()).toBe(writes + 1);
  });

  it('the membership primitives converge with Permissive Modify forced on and off', async () => {
    for (const mode of ['always', 'never'] as const) {
      const p = poolFor(slapd, { permissiveModify: mode });
      try {
        const g = `cn=ctl-${mode},ou=groups,dc=example,dc=com`;
        const r1 = await converge(ensureMembers(g, [a, b]), { ldap: p });
        expect(r1.after).toBeUndefined();
        const r2 = await converge(ensureMembers(g, [b], { exact: true }), { ldap: p });
        expect(r2.after).toBeUndefined();
        expect((await p.read(g, ['member']))?.attrs.member).toEqual([b]);
      } finally {
        await p.close();
      }
    }
  });
});
