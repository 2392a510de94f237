/**
 * Stale checks and lost answers: the directory changes between check and
 * apply, or a write is applied but its answer never arrives. Each primitive
 * must end converged without duplicating anything, and the engine's retry
 * (which checks first) must report a lost-but-applied write as `absorbed`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureAbsent } from '../../src/connectors/ldap/ensure-absent.ts';
import { ensureEntry } from '../../src/connectors/ldap/ensure-entry.ts';
import { ensureMembers } from '../../src/connectors/ldap/ensure-members.ts';
import { ensureRenamed } from '../../src/connectors/ldap/ensure-renamed.ts';
import type { LdapContext } from '../../src/connectors/ldap/locate.ts';
import type { LdapPool } from '../../src/connectors/ldap/pool.ts';
import { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import { Slapd } from '../support/slapd.ts';
import { makeEnv } from '../support/step-env.ts';
import { DropProxy } from './drop-proxy.ts';
import { converge, engineRun, failure, person, plan, poolFor } from './helpers.ts';
import { describeLdap } from './slapd-env.ts';

const people = 'ou=people,dc=example,dc=com';
const groups = 'ou=groups,dc=example,dc=com';

describeLdap('stale checks and lost answers against slapd', () => {
  let slapd: Slapd;
  let admin: LdapPool;
  let ctx: LdapContext;

  beforeAll(async () => {
    slapd = await Slapd.start();
    admin = poolFor(slapd);
    ctx = { ldap: poolFor(slapd, { permissiveModify: 'never' }) };
  });
  afterAll(async () => {
    await admin?.close();
    await ctx?.ldap.close();
    await slapd?.destroy();
  });

  it('an entry added between check and apply: the add meets 68 and falls back to a modify', async () => {
    const step = ensureEntry({ base: people, attribute: 'uid', value: 'stale1' }, person('stale1', 'want@x'));
    const diff = await plan(step, ctx);
    expect(diff?.action).toBe('create');
    await admin.add(`uid=stale1,${people}`, {
      objectClass: ['inetOrgPerson'],
      uid: ['stale1'],
      cn: ['x'],
      sn: ['x'],
      mail: ['other@x'],
    });
    const before = slapd.audit().length;
    await step.apply(undefined, ctx, diff!, makeEnv());
    expect(await plan(step, ctx)).toBeUndefined();
    expect(
      slapd
        .audit()
        .slice(before)
        .map((a) => a.op),
    ).toEqual(['modify']);
    expect(await admin.search(people, { filter: '(uid=stale1)', attributes: ['1.1'] })).toHaveLength(1);
  });

  it('an entry deleted between check and apply: the modify meets 32 and falls back to an add', async () => {
    const step = ensureEntry({ base: people, attribute: 'uid', value: 'stale2' }, person('stale2', 'new@x'));
    await converge(
      ensureEntry({ base: people, attribute: 'uid', value: 'stale2' }, person('stale2', 'old@x')),
      ctx,
    );
    const diff = await plan(step, ctx);
    expect(diff?.action).toBe('modify');
    await admin.del(`uid=stale2,${people}`);
    await step.apply(undefined, ctx, diff!, makeEnv());
    expect(await plan(step, ctx)).toBeUndefined();
    expect((await admin.read(`uid=stale2,${people}`, ['mail']))?.attrs.mail).toEqual(['new@x']);
  });

  it('members changed between check and apply: 20 and 16 count as converged after a re-read', async () => {
    const g = `cn=stale,${groups}`;
    const [a, b, c] = ['a', 'b', 'c'].map((u) => `uid=${u},${people}`) as [string, string, string];
    await converge(ensureMembers(g, [a, b]), ctx);
    const step = ensureMembers(g, [a, c], { exact: true });
    const diff = await plan(step, ctx);
    expect(diff?.add).toEqual([c]);
    expect(diff?.remove).toEqual([b]);
    // Someone else makes exactly that change first.
    await admin.modify(g, [
      { op: 'add', attribute: 'member', values: [c] },
      { op: 'delete', attribute: 'member', values: [b] },
    ]);
    const before = slapd.audit().length;
    await step.apply(undefined, ctx, diff!, makeEnv());
    expect(slapd.audit().length).toBe(before); // nothing left to write
    expect((await admin.read(g, ['member']))?.attrs.member?.sort()).toEqual([a, c].sort());
  });

  it('ensureAbsent: an entry already gone is fine; a replaced entry (new entryUUID) is refused with 122', async () => {
    const ref = { base: people, attribute: 'uid', value: 'stale3' };
    await converge(ensureEntry(ref, person('stale3', 'x@x')), ctx);
    const del = ensureAbsent(ref);
    let diff = await plan(del, ctx);
    await admin.del(`uid=stale3,${people}`);
    await del.apply(undefined, ctx, diff!, makeEnv());

    await converge(ensureEntry(ref, person('stale3', 'x@x')), ctx);
    diff = await plan(del, ctx);
    await admin.del(`uid=stale3,${people}`);
    await converge(ensureEntry(ref, person('stale3', 'replacement@x')), ctx);
    const err = await failure(del.apply(undefined, ctx, diff!, makeEnv()));
    expect(err.code).toBe(122);
    expect(err.kind).toBe('transient');
    expect(err.message).toMatch(/changed since it was checked/);
    expect(await admin.read(`uid=stale3,${people}`, ['1.1'])).toBeDefined();
  });

  it('a lost answer to an add is ambiguous; the retry checks first and the record is absorbed', async () => {
    const proxy = new DropProxy(slapd.port);
    await proxy.start();
    const pool = poolFor(slapd, { url: proxy.url });
    try {
      const ledger = new MemoryLedger();
      const step = ensureEntry({ base: people, attribute: 'uid', value: 'lost1' }, person('lost1', 'l@x'));
      await pool.verify();
      proxy.dropNextAnswer('add');
      const before = slapd.audit().length;
      const result = await engineRun(step, { ldap: pool }, ledger);
      expect(proxy.dropped).toEqual(['add']);
      expect(result.kind).toBe('absorbed');
      expect(ledger.history.map((e) => e.kind)).toEqual(['apply', 'retry', 'absorbed']);
      expect(ledger.history[1]?.detail).toMatch(
        /^ambiguous: ldap add uid=lost1,ou=people,dc=example,dc=com .*connection lost/,
      );
      expect(
        slapd
          .audit()
          .slice(before)
          .map((a) => a.op),
      ).toEqual(['add']);
      // The pool rebound on a fresh connection: a bound-only read works.
      expect((await pool.read(`uid=lost1,${people}`, ['mail']))?.attrs.mail).toEqual(['l@x']);
    } finally {
      await pool.close();
      await proxy.stop();
    }
  });

  it('a lost answer to a modifyDN: the retry finds the entry moved and absorbs it', async () => {
    const proxy = new DropProxy(slapd.port);
    await proxy.start();
    const pool = poolFor(slapd, { url: proxy.url });
    try {
      await converge(
        ensureEntry(`ou=dept-a,${people}`, { objectClass: 'organizationalUnit', ou: 'dept-a' }),
        ctx,
      );
      await converge(
        ensureEntry(`ou=dept-b,${people}`, { objectClass: 'organizationalUnit', ou: 'dept-b' }),
        ctx,
      );
      await converge(ensureEntry(`uid=mover,ou=dept-a,${people}`, person('mover', 'm@x')), ctx);
      const ledger = new MemoryLedger();
      const step = ensureRenamed(
        { base: people, attribute: 'uid', value: 'mover' },
        `uid=mover,ou=dept-b,${people}`,
      );
      proxy.dropNextAnswer('modifyDN');
      const result = await engineRun(step, { ldap: pool }, ledger);
      expect(result.kind).toBe('absorbed');
      expect(await admin.read(`uid=mover,ou=dept-b,${people}`, ['1.1'])).toBeDefined();
      expect(await admin.search(people, { filter: '(uid=mover)', attributes: ['1.1'] })).toHaveLength(1);
    } finally {
      await pool.close();
      await proxy.stop();
    }
  });
});
