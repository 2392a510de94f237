/**
 * The ldap primitives against a real slapd: first run, rerun with zero writes
 * counted at the server, merge/exact, createOnly, secrets, members, absence, moves.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { childDn } from '../../src/connectors/ldap/dn.ts';
import { ensureAbsent } from '../../src/connectors/ldap/ensure-absent.ts';
import { ensureEntry } from '../../src/connectors/ldap/ensure-entry.ts';
import { ensureMember, ensureMembers } from '../../src/connectors/ldap/ensure-members.ts';
import { ensureMemberships } from '../../src/connectors/ldap/ensure-memberships.ts';
import { ensureRenamed } from '../../src/connectors/ldap/ensure-renamed.ts';
import { listValues } from '../../src/connectors/ldap/list-values.ts';
import type { LdapContext } from '../../src/connectors/ldap/locate.ts';
import type { LdapPool } from '../../src/connectors/ldap/pool.ts';
import { formatChange } from '../../src/core/diff.ts';
import { Slapd } from '../support/slapd.ts';
import { converge, failure, ops, plan, poolFor } from './helpers.ts';
import { describeLdap } from './slapd-env.ts';

describeLdap('ldap primitives against slapd', () => {
  let slapd: Slapd;
  let pool: LdapPool;
  let ctx: LdapContext;
  const people = 'ou=people,dc=example,dc=com';
  const groups = 'ou=groups,dc=example,dc=com';
  const person = (uid: string, extra: Record<string, string | string[] | null> = {}) => ({
    objectClass: ['inetOrgPerson', 'organizationalPerson', 'person', 'top'],
    uid,
    cn: `User ${uid}`,
    sn: uid,
    ...extra,
  });

  beforeAll(async () => {
    slapd = await Slapd.start();
    pool = poolFor(slapd);
    ctx = { ldap: pool };
  });
  afterAll(async () => {
    await pool?.close();
    await slapd?.destroy();
  });

  it('ensureEntry creates, then a rerun finds nothing to do and writes nothing', async () => {
    const step = ensureEntry(
      { base: people, attribute: 'uid', value: 'alice' },
      person('alice', { mail: 'alice@example.com', userPassword: 'initial-pw-123' }),
      { createOnly: ['userPassword'] },
    );
    const first = await converge(step, ctx);
    expect(first.diff?.action).toBe('create');
    expect(first.diff?.dn).toBe(`uid=alice,${people}`);
    expect(first.after).toBeUndefined();
    const lines = first.diff?.changes.map(formatChange) ?? [];
    expect(lines).toContain('+mail: alice@example.com');
    expect(lines).toContain('+userPassword: <secret>');
    expect(lines.join('\n')).not.toContain('initial-pw-123');

    const before = slapd.writes();
    expect(await plan(step, ctx)).toBeUndefined();
    expect(slapd.writes()).toBe(before);
  });

  it('merge changes only what differs, createOnly is never overwritten, exact removes unlisted attributes', async () => {
    const ref = { base: people, attribute: 'uid', value: 'bob' };
    await converge(
      ensureEntry(ref, person('bob', { description: 'keep me', userPassword: 'pw-one' }), {
        createOnly: ['userPassword'],
      }),
      ctx,
    );
    const merge = ensureEntry(ref, person('bob', { mail: 'bob@example.com', userPassword: 'pw-two' }), {
      createOnly: ['userPassword'],
    });
    const r = await converge(merge, ctx);
    expect(r.diff?.changes.map(formatChange)).toEqual(['+mail: bob@example.com']);
    expect(r.after).toBeUndefined();
    let entry = await pool.read(`uid=bob,${people}`, ['*']);
    expect(entry?.attrs.description).toEqual(['keep me']);
    expect(entry?.attrs.userpassword).toEqual(['pw-one']);

    const changed = await converge(ensureEntry(ref, person('bob', { mail: 'b@example.com' })), ctx);
    expect(changed.diff?.changes.map(formatChange)).toEqual(['~mail: bob@example.com -> b@example.com']);

    const exact = ensureEntry(ref, person('bob', { mail: 'b@example.com' }), {
      mode: 'exact',
      createOnly: ['userPassword'],
    });
    const ex = await converge(exact, ctx);
    expect(ex.diff?.changes.map(formatChange)).toEqual(['-description: keep me']);
    entry = await pool.read(`uid=bob,${people}`, ['*', '+']);
    expect(entry?.attrs.description).toBeUndefined();
    expect(entry?.attrs.userpassword).toEqual(['pw-one']);
    expect(entry?.attrs.entryuuid).toHaveLength(1);

    const absent = await converge(ensureEntry(ref, { mail: null }), ctx);
    expect(absent.diff?.changes.map(formatChange)).toEqual(['-mail: b@example.com']);
  });

  it('a password is set on create only and never compared: a changed one in the input changes nothing, unless rotateSecrets', async () => {
    const find = { base: people, attribute: 'uid', value: 'pat' };
    const first = await converge(ensureEntry(find, person('pat', { userPassword: 'first-pw-111' })), ctx);
    expect(first.diff?.changes.map(formatChange)).toContain('+userPassword: <secret>');
    const before = slapd.writes();
    // The input now says another password: no comparison, no write, nothing reported.
    expect(
      await plan(ensureEntry(find, person('pat', { userPassword: 'second-pw-222' })), ctx),
    ).toBeUndefined();
    expect(slapd.writes()).toBe(before);
    // A rotation is asked for explicitly, and never shows the values.
    const rotate = await converge(
      ensureEntry(find, person('pat', { userPassword: 'second-pw-222' }), { rotateSecrets: true }),
      ctx,
    );
    expect(rotate.diff?.changes.map(formatChange)).toEqual(['~userPassword: <secret> -> <secret>']);
    expect(rotate.after).toBeUndefined();
  });

  it('ensureEntry by DN fails permanently when the parent is missing, naming the DN', async () => {
    const step = ensureEntry('uid=x,ou=nowhere,dc=example,dc=com', person('x'));
    const diff = await plan(step, ctx);
    expect(diff?.action).toBe('create');
    const err = await failure(step.apply(undefined, ctx, diff!, undefined as never));
    expect(err.kind).toBe('permanent');
    expect(err.code).toBe(32);
    expect(err.message).toContain('ldap add uid=x,ou=nowhere,dc=example,dc=com');
    expect(err.message).toContain('parent entry does not exist');
  });

  for (const permissiveModify of ['never', 'always'] as const) {
    it(`ensureMember(s) creates the group, adds, removes with exact (permissive modify: ${permissiveModify})`, async () => {
      const p = poolFor(slapd, { permissiveModify });
      const c = { ldap: p };
      try {
        const g = childDn('cn', `team-${permissiveModify}`, groups);
        const a = `uid=alice,${people}`;
        const b = `uid=bob,${people}`;
        const created = await converge(ensureMember(g, a), c);
        expect(ops(created.diff)).toEqual(['+group', '+member']);
        expect(created.after).toBeUndefined();
        const group = await p.read(g, ['objectClass', 'member', 'cn']);
        expect(group?.attrs.objectclass).toEqual(['groupOfNames']);
        expect(group?.attrs.member).toEqual([a]);

        const writes = slapd.writes();
        expect(await plan(ensureMember(g, a.toUpperCase()), c)).toBeUndefined();
        expect(slapd.writes()).toBe(writes);

        const both = await converge(ensureMembers(g, [a, b]), c);
        expect(both.diff?.changes.map(formatChange)).toEqual([`+member: ${b}`]);
        const onlyB = await converge(ensureMembers(g, [b], { exact: true }), c);
        expect(onlyB.diff?.changes.map(formatChange)).toEqual([`-member: ${a}`]);
        expect((await p.read(g, ['member']))?.attrs.member).toEqual([b]);

        // The last member cannot leave a groupOfNames without a placeholder.
        const none = ensureMembers(g, [], { exact: true });
        const diff = await plan(none, c);
        const err = await failure(none.apply(undefined, c, diff!, undefined as never));
        expect(err.kind).toBe('permanent');
        expect(err.message).toMatch(/would leave no member value/);
        const placeholder = 'cn=nobody,dc=example,dc=com';
        const emptied = await converge(ensureMembers(g, [], { exact: true, placeholder }), c);
        expect(emptied.after).toBeUndefined();
        expect((await p.read(g, ['member']))?.attrs.member).toEqual([placeholder]);
        const back = await converge(ensureMembers(g, [a], { exact: true, placeholder }), c);
        expect(back.diff?.changes.map(formatChange)).toEqual([`+member: ${a}`]);
        expect((await p.read(g, ['member']))?.attrs.member).toEqual([a]);
      } finally {
        await p.close();
      }
    });
  }

  it('ensureMemberships joins and leaves groups under its base only', async () => {
    const carol = `uid=carol,${people}`;
    await converge(ensureEntry(carol, person('carol')), ctx);
    const staff = childDn('cn', 'staff', groups);
    const eng = childDn('cn', 'eng', groups);
    const outside = childDn('cn', 'outside', 'dc=example,dc=com');
    await converge(ensureMember(outside, carol), ctx);
    await converge(ensureMember(staff, `uid=alice,${people}`), ctx);
    const join = await converge(ensureMemberships(carol, [staff, eng], { base: groups, exact: true }), ctx);
    expect(join.diff?.changes.map(formatChange)).toEqual([`+group: ${staff}`, `+group: ${eng}`]);
    expect((await pool.read(eng, ['member']))?.attrs.member).toEqual([carol]);
    expect(join.after).toBeUndefined();
    const writes = slapd.writes();
    expect(
      await plan(ensureMemberships(carol, [staff, eng], { base: groups, exact: true }), ctx),
    ).toBeUndefined();
    expect(slapd.writes()).toBe(writes);
    const leave = await converge(ensureMemberships(carol, [eng], { base: groups, exact: true }), ctx);
    expect(leave.diff?.changes.map(formatChange)).toEqual([`-group: ${staff}`]);
    expect((await pool.read(outside, ['member']))?.attrs.member).toEqual([carol]);
    expect((await pool.read(staff, ['member']))?.attrs.member).toEqual([`uid=alice,${people}`]);
  });

  it('ensureAbsent deletes or disables, counts one deletion, and a missing entry is ok', async () => {
    const ref = { base: people, attribute: 'uid', value: 'dave' };
    await converge(ensureEntry(ref, person('dave')), ctx);
    const disable = ensureAbsent(ref, {
      mode: 'disable',
      disable: { objectClass: 'shadowAccount', shadowExpire: '1' },
    });
    expect(disable.destructive).toBe(true);
    const d = await converge(disable, ctx);
    expect(d.diff?.deletes).toBe(1);
    expect(d.diff?.changes.map(formatChange)).toEqual([
      `~entry: uid=dave,${people} -> disabled`,
      '+objectClass: shadowAccount',
      '+shadowExpire: 1',
    ]);
    expect(d.after).toBeUndefined();
    const del = ensureAbsent(ref);
    const r = await converge(del, ctx);
    expect(r.diff?.deletes).toBe(1);
    expect(r.diff?.changes.map(formatChange)).toEqual([`-entry: uid=dave,${people}`]);
    expect(await pool.read(`uid=dave,${people}`)).toBeUndefined();
    expect(await plan(del, ctx)).toBeUndefined();
  });

  it('ensureRenamed moves an entry with modifyDN, keeping its attributes, entryUUID and group references', async () => {
    const eng = `ou=eng,${people}`;
    const sales = `ou=sales,${people}`;
    for (const ou of [eng, sales])
      await converge(
        ensureEntry(ou, { objectClass: 'organizationalUnit', ou: ou.slice(3, ou.indexOf(',')) }),
        ctx,
      );
    const from = `uid=erin,${eng}`;
    await converge(
      ensureEntry(from, person('erin', { description: 'not in any CSV', telephoneNumber: '+1 555 0100' })),
      ctx,
    );
    const group = childDn('cn', 'erin-team', groups);
    await converge(ensureMember(group, from), ctx);
    const before = await pool.read(from, ['*', 'entryUUID']);

    const move = ensureRenamed({ base: people, attribute: 'uid', value: 'erin' }, `uid=erin,${sales}`, {
      references: { base: groups },
    });
    const r = await converge(move, ctx);
    expect(r.diff?.changes.map(formatChange)).toEqual([
      `~dn: ${from} -> uid=erin,${sales}`,
      `~member in ${group}: ${from} -> uid=erin,${sales}`,
    ]);
    expect(r.after).toBeUndefined();
    const after = await pool.read(`uid=erin,${sales}`, ['*', 'entryUUID']);
    expect(after?.attrs.entryuuid).toEqual(before?.attrs.entryuuid);
    expect(after?.attrs.description).toEqual(['not in any CSV']);
    expect(after?.attrs.telephonenumber).toEqual(['+1 555 0100']);
    expect(await pool.read(from)).toBeUndefined();
    expect((await pool.read(group, ['member']))?.attrs.member).toEqual([`uid=erin,${sales}`]);
    const audit = slapd.audit().filter((a) => a.op === 'delete' || a.op === 'add');
    expect(audit.some((a) => a.dn.toLowerCase().startsWith('uid=erin'))).toBe(true); // the original add only
    expect(audit.filter((a) => a.dn.toLowerCase().startsWith('uid=erin')).map((a) => a.op)).toEqual(['add']);

    const missingParent = ensureRenamed(
      { base: people, attribute: 'uid', value: 'erin' },
      `uid=erin,ou=nope,${people}`,
    );
    const diff = await plan(missingParent, ctx);
    const err = await failure(missingParent.apply(undefined, ctx, diff!, undefined as never));
    expect(err.kind).toBe('permanent');
    expect(err.message).toContain(`the new parent ou=nope,${people} does not exist`);
  });

  it('listValues pages through every key under a base', async () => {
    const many = Array.from({ length: 30 }, (_, i) => `bulk${String(i).padStart(2, '0')}`);
    for (const uid of many)
      await converge(ensureEntry({ base: people, attribute: 'uid', value: uid }, person(uid)), ctx);
    const seen: string[] = [];
    const p = poolFor(slapd);
    try {
      for await (const v of listValues(p, {
        base: people,
        attribute: 'uid',
        objectClass: 'inetOrgPerson',
        pageSize: 7,
      }))
        seen.push(v);
    } finally {
      await p.close();
    }
    for (const uid of many) expect(seen).toContain(uid);
    expect(new Set(seen).size).toBe(seen.length);
  });
});
