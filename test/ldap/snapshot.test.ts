/**
 * The directory snapshot and the member batcher against a real slapd, with the
 * operations counted at the server (slapd's stats log) and the writes in its
 * audit log: checks read the population once; an entry edited by another writer
 * between the snapshot and the apply is detected and ends right; member values of
 * concurrent records travel in few modifies, and one value the server rejects
 * fails only its record; beyond the size limit each record is read once.
 */

import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { connect } from '../../src/connectors/ldap/connect.ts';
import { ensureAbsent } from '../../src/connectors/ldap/ensure-absent.ts';
import { ensureEntry } from '../../src/connectors/ldap/ensure-entry.ts';
import { ensureMemberships } from '../../src/connectors/ldap/ensure-memberships.ts';
import { ensureRenamed } from '../../src/connectors/ldap/ensure-renamed.ts';
import { listValues } from '../../src/connectors/ldap/list-values.ts';
import type { FindBy, LdapContext } from '../../src/connectors/ldap/locate.ts';
import type { LdapPool } from '../../src/connectors/ldap/pool.ts';
import type { SnapshotOptions } from '../../src/connectors/ldap/snapshot.ts';
import type { Diff } from '../../src/core/diff.ts';
import { defineTask } from '../../src/core/task.ts';
import { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import { csv } from '../../src/sources/csv.ts';
import { runInMemory } from '../../src/testing.ts';
import { LdapFaultProxy } from '../chaos/support/ldap-fault-proxy.ts';
import { Slapd } from '../support/slapd.ts';
import { makeEnv } from '../support/step-env.ts';
import { until } from '../support/wait.ts';
import { collect, converge, engineRun, fakeSetup, ops, person, poolFor } from './helpers.ts';
import { describeLdap } from './slapd-env.ts';

const people = 'ou=people,dc=example,dc=com';
const groups = 'ou=groups,dc=example,dc=com';
const placeholder = 'cn=nobody,dc=example,dc=com';
const dnOf = (uid: string) => `uid=${uid},${people}`;
const groupDn = (cn: string) => `cn=${cn},${groups}`;

/** A person in the groups named by the row: what tasks/provision-users.ts does, in small. */
function peopleTask(opts: { exact?: boolean; memberships?: boolean } = {}) {
  return defineTask<Record<string, string>, LdapContext>({
    name: 'snapshot-test',
    source: csv('unused.csv'),
    key: 'uid',
    connect: (): LdapContext => {
      throw new Error('each test passes its own pool to runInMemory');
    },
    steps: (r) => [
      ensureRenamed({ base: people, attribute: 'uid', value: r.uid as string }, dnOf(r.uid as string), {
        references: { base: groups },
      }),
      ensureEntry(
        { base: people, attribute: 'uid', value: r.uid as string, dn: dnOf(r.uid as string) },
        person(r.uid as string, r.mail as string),
      ),
      ...(opts.memberships === false
        ? []
        : [
            ensureMemberships(
              r.member ?? dnOf(r.uid as string),
              (r.groups ?? '')
                .split(';')
                .filter(Boolean)
                .map((g) => groupDn(g)),
              { base: groups, exact: opts.exact ?? true, placeholder },
            ),
          ]),
    ],
  });
}

const FULL: SnapshotOptions = { entries: { base: people, attribute: 'uid' }, groups: { base: groups } };

describeLdap('the directory snapshot and the member batcher, against slapd', () => {
  let slapd: Slapd;
  let admin: LdapPool;
  const pools: LdapPool[] = [];
  /** A pool with a snapshot (not loaded until its first use). */
  const snapshotPool = (options: SnapshotOptions = FULL, warn?: (m: string) => void) => {
    const pool = poolFor(slapd, { poolSize: 4 });
    pool.useSnapshot(options, warn);
    pools.push(pool);
    return pool;
  };
  /** The audit log's writes since `from`, as `op dn`. */
  const writesSince = (from: number) =>
    slapd
      .audit()
      .slice(from)
      .map((a) => `${a.op} ${a.dn}`);

  /** c-uid with mail old@x, then a snapshot pool loaded, then another writer's `edit`. */
  const editedSinceSnapshot = async (uid: string, edit: () => Promise<void>) => {
    await converge(ensureEntry(dnOf(uid), person(uid, 'old@x')), { ldap: admin });
    const pool = snapshotPool();
    await pool.snapshot?.ready();
    await edit();
    return pool;
  };

  beforeAll(async () => {
    slapd = await Slapd.start({ stats: true });
    admin = poolFor(slapd);
  });
  afterEach(async () => {
    for (const p of pools.splice(0)) await p.close();
  });
  afterAll(async () => {
    await admin?.close();
    await slapd?.destroy();
  });

  it('30 records are checked and applied with a constant number of searches; the rerun writes nothing', async () => {
    const rows = Array.from({ length: 30 }, (_, i) => ({
      uid: `s${i}`,
      mail: `s${i}@x`,
      groups: i % 2 ? 'sstaff;sodd' : 'sstaff',
    }));
    const before = await slapd.operations();
    const writes = slapd.writes();
    const pool = snapshotPool();
    const first = await runInMemory(peopleTask(), rows, { connect: () => ({ ldap: pool }), concurrency: 10 });
    expect(first.summary.counts).toMatchObject({ changed: 30, ok: 0, failed: 0 });
    const after = await slapd.operations();
    // Two snapshot searches and the root DSE: nothing per record.
    expect(after.SRCH - before.SRCH).toBeLessThanOrEqual(3);
    expect(after.ADD - before.ADD).toBe(30 + 2);
    // 30 + 15 member values: never more than one modify per value (how many fewer depends on timing).
    expect(after.MOD - before.MOD).toBeLessThanOrEqual(45);
    const members = (await admin.read(groupDn('sstaff'), ['member']))?.attrs.member ?? [];
    expect(members.map((m) => m.toLowerCase()).sort()).toEqual(rows.map((r) => dnOf(r.uid)).sort());

    const rerunPool = snapshotPool();
    const again = await runInMemory(peopleTask(), rows, {
      connect: () => ({ ldap: rerunPool }),
      concurrency: 10,
    });
    expect(again.summary.counts).toMatchObject({ changed: 0, ok: 30 });
    expect((await slapd.operations()).SRCH - after.SRCH).toBeLessThanOrEqual(3);
    expect(slapd.writes() - writes).toBe(30 + 2 + (after.MOD - before.MOD));
  });

  it('another writer changed the managed attribute since the snapshot: the asserted modify fails (122), the record is re-checked and ends with the desired value', async () => {
    const pool = await editedSinceSnapshot('c1', async () => {
      await admin.modify(dnOf('c1'), [{ op: 'replace', attribute: 'mail', values: ['other@x'] }]);
    });
    const writes = slapd.writes();
    const ledger = new MemoryLedger();
    const notes: string[] = [];
    const step = ensureEntry({ base: people, attribute: 'uid', value: 'c1' }, person('c1', 'want@x'));
    const result = await engineRun(step, { ldap: pool }, ledger, notes);
    expect(result.kind).toBe('changed');
    // The diff is the one the re-check saw, not the stale one.
    expect(result.kind === 'changed' && result.diff.changes).toEqual([
      { op: '~', field: 'mail', from: 'other@x', to: 'want@x' },
    ]);
    expect(ledger.history.map((e) => e.kind)).toEqual(['apply', 'retry', 'apply']);
    expect(ledger.history[1]?.detail).toMatch(
      /^transient: ldap modify uid=c1,.*the entry changed since the run's snapshot was read \(assertionFailed \(122\)\)/,
    );
    expect(writesSince(writes)).toEqual([`modify ${dnOf('c1')}`]);
    expect((await admin.read(dnOf('c1'), ['mail']))?.attrs.mail).toEqual(['want@x']);
    expect(pool.snapshot?.stats().conflicts).toBe(1);
    expect(notes).toEqual([
      `${dnOf('c1')} changed since the run's snapshot was read (another writer): checked again against the server`,
    ]);
  });

  it('another writer made the very change since the snapshot: nothing is written over it, and the record is not counted as our change', async () => {
    const pool = await editedSinceSnapshot('c2', async () => {
      await admin.modify(dnOf('c2'), [{ op: 'replace', attribute: 'mail', values: ['want@x'] }]);
    });
    const writes = slapd.writes();
    const step = ensureEntry({ base: people, attribute: 'uid', value: 'c2' }, person('c2', 'want@x'));
    const result = await engineRun(step, { ldap: pool }, new MemoryLedger());
    expect(result.kind).toBe('absorbed');
    expect(slapd.writes()).toBe(writes);
  });

  it('another writer changed an attribute the step does not manage: it is kept (no lost update)', async () => {
    const pool = await editedSinceSnapshot('c3', async () => {
      await admin.modify(dnOf('c3'), [{ op: 'replace', attribute: 'description', values: ['theirs'] }]);
    });
    const step = ensureEntry({ base: people, attribute: 'uid', value: 'c3' }, person('c3', 'want@x'));
    expect((await engineRun(step, { ldap: pool }, new MemoryLedger())).kind).toBe('changed');
    const now = await admin.read(dnOf('c3'), ['mail', 'description']);
    expect(now?.attrs).toMatchObject({ mail: ['want@x'], description: ['theirs'] });
  });

  it('deleted by another writer since the snapshot: re-checked and created again; created by another writer: the add meets 68 and ends as a modify', async () => {
    const pool = await editedSinceSnapshot('c4', async () => {
      await admin.del(dnOf('c4'));
      await admin.add(dnOf('c5'), {
        objectClass: ['inetOrgPerson'],
        uid: ['c5'],
        cn: ['c5'],
        sn: ['c5'],
        mail: ['theirs@x'],
      });
    });
    const writes = slapd.writes();
    const ledger = new MemoryLedger();
    const deleted = ensureEntry({ base: people, attribute: 'uid', value: 'c4' }, person('c4', 'want@x'));
    const d = await engineRun(deleted, { ldap: pool }, ledger);
    expect(d.kind === 'changed' && d.diff.changes.map((c) => `${c.op}${c.field}`)).toContain('+entry');
    const created = ensureEntry({ base: people, attribute: 'uid', value: 'c5' }, person('c5', 'want@x'));
    const c = await engineRun(created, { ldap: pool }, ledger);
    expect(c.kind === 'changed' && c.diff.changes).toEqual([
      { op: '~', field: 'mail', from: 'theirs@x', to: 'want@x' },
    ]);
    expect(writesSince(writes)).toEqual([`add ${dnOf('c4')}`, `modify ${dnOf('c5')}`]);
    expect(await admin.search(people, { filter: '(uid=c5)', attributes: ['1.1'] })).toHaveLength(1);
  });

  it('ensureAbsent of an entry edited since the snapshot: 122, re-checked, then disabled', async () => {
    const pool = await editedSinceSnapshot('c6', async () => {
      await admin.modify(dnOf('c6'), [{ op: 'replace', attribute: 'mail', values: ['other@x'] }]);
    });
    const step = ensureAbsent(
      { base: people, attribute: 'uid', value: 'c6' },
      { mode: 'disable', disable: { objectClass: 'shadowAccount', shadowExpire: '1' } },
    );
    const ledger = new MemoryLedger();
    expect((await engineRun(step, { ldap: pool }, ledger)).kind).toBe('changed');
    expect(ledger.history.map((e) => e.kind)).toEqual(['apply', 'retry', 'apply']);
    expect((await admin.read(dnOf('c6'), ['shadowExpire', 'mail']))?.attrs).toMatchObject({
      shadowexpire: ['1'],
      mail: ['other@x'],
    });
  });

  it("a write the steps do not own (a task's own ldap.modify) makes the snapshot read that entry again", async () => {
    await converge(ensureEntry(dnOf('c7'), person('c7', 'old@x')), { ldap: admin });
    const pool = snapshotPool();
    await pool.snapshot?.ready();
    await pool.modify(dnOf('c7'), [{ op: 'replace', attribute: 'mail', values: ['mine@x'] }]);
    const step = ensureEntry({ base: people, attribute: 'uid', value: 'c7' }, person('c7', 'mine@x'));
    const writes = slapd.writes();
    expect((await engineRun(step, { ldap: pool }, new MemoryLedger())).kind).toBe('ok');
    expect(slapd.writes()).toBe(writes);
  });

  it('member values of 20 concurrent records go to their group in one modify', async () => {
    const pool = snapshotPool();
    // Sent when the 20th value arrives (no time limit): the test does not depend on timing.
    pool.batchMembers({ maxValues: 20, delayMs: 600_000 });
    const rows = Array.from({ length: 20 }, (_, i) => ({ uid: `b${i}`, mail: `b${i}@x`, groups: 'bgroup' }));
    const writes = slapd.writes();
    const { summary } = await runInMemory(peopleTask(), rows, {
      connect: () => ({ ldap: pool }),
      concurrency: 20,
    });
    expect(summary.counts).toMatchObject({ changed: 20, failed: 0 });
    // The group did not exist: it was added once, with its 20 first members.
    expect(writesSince(writes).filter((w) => w.includes('cn=bgroup'))).toEqual([`add ${groupDn('bgroup')}`]);
    expect(pool.members.stats).toEqual({ batches: 1, values: 20, fallbacks: 0 });
    expect((await admin.read(groupDn('bgroup'), ['member']))?.attrs.member).toHaveLength(20);
  });

  it('values that arrive while a group modify is in flight wait for more after it returns', async () => {
    await admin.add(groupDn('wgroup'), {
      objectClass: ['groupOfNames'],
      cn: ['wgroup'],
      member: [dnOf('w0')],
    });
    const pool = poolFor(slapd, { poolSize: 1 });
    try {
      // A full batch goes at once; a partial one waits (here: until it is full, no time limit).
      pool.batchMembers({ maxValues: 3, delayMs: 600_000 });
      const add = (...uids: string[]) =>
        pool.members.change(groupDn('wgroup'), 'member', { add: uids.map(dnOf) });
      const first = add('w1', 'w2', 'w3');
      const during = add('w4', 'w5'); // queued while the first modify is in flight
      await first;
      const writes = slapd.writes();
      const late = add('w6'); // fills the waiting batch
      await Promise.all([during, late]);
      expect(pool.members.stats).toEqual({ batches: 2, values: 6, fallbacks: 0 });
      expect(slapd.writes() - writes).toBe(1);
      expect((await admin.read(groupDn('wgroup'), ['member']))?.attrs.member).toHaveLength(7);
    } finally {
      await pool.close();
    }
  });

  it('one member value the server rejects inside a coalesced batch fails only its record', async () => {
    await admin.add(groupDn('vgroup'), {
      objectClass: ['groupOfNames'],
      cn: ['vgroup'],
      member: [dnOf('v-first')],
    });
    const pool = snapshotPool();
    pool.batchMembers({ maxValues: 10, delayMs: 600_000 });
    const rows = Array.from({ length: 10 }, (_, i) => ({
      uid: `v${i}`,
      mail: `v${i}@x`,
      groups: 'vgroup',
      // Not a valid member value for slapd: invalidAttributeSyntax (21).
      ...(i === 4 ? { member: 'foo=bar,dc=example,dc=com' } : {}),
    }));
    const { summary, reporter } = await runInMemory(peopleTask({ exact: false }), rows, {
      connect: () => ({ ldap: pool }),
      concurrency: 10,
    });
    expect(summary.counts).toMatchObject({ changed: 9, failed: 1 });
    const bad = reporter.byKey('v4');
    expect(bad?.outcome).toBe('failed');
    expect(bad?.error).toMatchObject({ class: 'permanent', step: 'ldap.memberships' });
    expect(bad?.error?.message).toMatch(
      /ldap modify cn=vgroup,ou=groups,dc=example,dc=com \[member\]: invalidAttributeSyntax \(21\)/,
    );
    // The batch carrying the bad value was rejected, then resent value by value.
    expect(pool.members.stats.fallbacks).toBe(1);
    const members = (await admin.read(groupDn('vgroup'), ['member']))?.attrs.member ?? [];
    expect(members.map((m) => m.toLowerCase()).sort()).toEqual(
      [dnOf('v-first'), ...rows.filter((r) => !r.member).map((r) => dnOf(r.uid))].sort(),
    );
  });

  it('an emptied group keeps the placeholder, a joining member replaces it, with no search per record', async () => {
    const rows = [
      { uid: 'p1', mail: 'p1@x', groups: 'pgroup' },
      { uid: 'p2', mail: 'p2@x', groups: 'pgroup' },
    ];
    await runInMemory(peopleTask(), rows, { connect: () => ({ ldap: snapshotPool() }) });
    let searches = (await slapd.operations()).SRCH;
    const leave = await runInMemory(
      peopleTask(),
      rows.map((r) => ({ ...r, groups: '' })),
      { connect: () => ({ ldap: snapshotPool() }), concurrency: 2 },
    );
    // The run's searches: the snapshot's two and the root DSE, none per record.
    expect((await slapd.operations()).SRCH - searches).toBe(3);
    expect(leave.summary.counts).toMatchObject({ changed: 2, failed: 0 });
    expect((await admin.read(groupDn('pgroup'), ['member']))?.attrs.member).toEqual([placeholder]);
    searches = (await slapd.operations()).SRCH;
    const join = await runInMemory(peopleTask(), [{ uid: 'p3', mail: 'p3@x', groups: 'pgroup' }], {
      connect: () => ({ ldap: snapshotPool() }),
    });
    expect((await slapd.operations()).SRCH - searches).toBe(3);
    expect(join.summary.counts).toMatchObject({ changed: 1 });
    expect((await admin.read(groupDn('pgroup'), ['member']))?.attrs.member).toEqual([dnOf('p3')]);
  });

  it('beyond the size limit each record is read once, its steps sharing the read, with a warning', async () => {
    const rows = Array.from({ length: 8 }, (_, i) => ({ uid: `l${i}`, mail: `l${i}@x`, groups: 'lgroup' }));
    await runInMemory(peopleTask(), rows, { connect: () => ({ ldap: snapshotPool() }) });
    const warnings: string[] = [];
    const pool = snapshotPool({ ...FULL, maxEntries: 3, maxMembers: 2 }, (m) => warnings.push(m));
    const before = await slapd.operations();
    const again = await runInMemory(peopleTask(), rows, { connect: () => ({ ldap: pool }), concurrency: 4 });
    expect(again.summary.counts).toMatchObject({ ok: 8, changed: 0 });
    expect(pool.snapshot?.stats().mode).toEqual({ entries: 'lazy', groups: 'lazy' });
    expect(warnings.sort()).toEqual([
      expect.stringMatching(
        /^LDAP snapshot: more than 2 member values under ou=groups,dc=example,dc=com; each/,
      ),
      expect.stringMatching(
        /^LDAP snapshot: more than 3 entries under ou=people,dc=example,dc=com; each record's/,
      ),
    ]);
    // The two snapshot attempts, then per record one read of its entry (shared by ensureRenamed,
    // ensureEntry and the verifying re-checks) and one search for its groups.
    expect((await slapd.operations()).SRCH - before.SRCH).toBe(2 + 8 * 2);
  });

  it('listValues of the snapshot population lists from the snapshot', async () => {
    const pool = snapshotPool();
    await pool.snapshot?.ready();
    const before = await slapd.operations();
    const spec = { base: people, attribute: 'uid', objectClass: 'inetOrgPerson' };
    const uids = await collect(listValues(pool, spec));
    expect((await slapd.operations()).SRCH).toBe(before.SRCH);
    const live = await collect(listValues(admin, spec));
    expect(uids.sort()).toEqual(live.sort());
    expect(uids.length).toBeGreaterThan(30);
  });

  it('ldap.connect starts reading the snapshot at once, before any check asks; a read that failed there is handed to the first check, which fails as it would have', async () => {
    const config = { url: slapd.url, bindDn: slapd.adminDn, password: slapd.adminPassword };
    const setup = fakeSetup();
    for (const uid of ['p1', 'p2', 'p3'])
      await converge(ensureEntry(dnOf(uid), person(uid, `${uid}@x`)), { ldap: admin });
    try {
      const pool = await connect(setup, config, { snapshot: FULL });
      const held = (await admin.search(people, { filter: '(uid=*)', attributes: ['1.1'] })).length;
      expect(held).toBeGreaterThan(0);
      // Nothing calls ready() or checks: the snapshot fills by itself.
      await until('the snapshot to fill by itself', () => (pool.snapshot?.stats().entries ?? 0) > 0);
      expect(pool.snapshot?.stats().entries).toBe(held);

      const missing = { base: 'ou=nowhere,dc=example,dc=com', attribute: 'uid', value: 'x' };
      const broken = await connect(setup, config, { snapshot: { entries: missing } });
      const first = broken.snapshot?.entriesFor(missing);
      await expect(first).rejects.toMatchObject({ code: 32 });
    } finally {
      await setup.close();
    }
  });

  it('a transient fault on the prefetched read is met by the first check (retried there, reported), not read again unseen', async () => {
    const proxy = await new LdapFaultProxy(slapd.port).start();
    proxy.inject({ op: 'search', dn: /^ou=people,/i, action: { kind: 'answer', code: 3 } });
    const setup = fakeSetup();
    try {
      const pool = await connect(
        setup,
        { url: proxy.url, bindDn: slapd.adminDn, password: slapd.adminPassword },
        { snapshot: FULL },
      );
      await until('the fault to fire', () => proxy.pending === 0);
      // Let the failed answer reach the client before anything asks (the case that hid it).
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      const find = { ...FULL.entries, value: '' } as FindBy;
      await expect(pool.snapshot?.entriesFor(find)).rejects.toMatchObject({ code: 3 });
      await expect(pool.snapshot?.entriesFor(find)).resolves.toBeDefined();
      expect(proxy.sent('search', /^ou=people,/i)).toHaveLength(2);
    } finally {
      await setup.close();
      await proxy.stop();
    }
  });

  it('checks against a loaded snapshot answer at once (no promise) and the same as waiting would; a key in doubt is read from the server', async () => {
    const uid = 'sync1';
    await converge(ensureEntry(dnOf(uid), person(uid, 'sync1@x')), { ldap: admin });
    await converge(ensureMemberships(dnOf(uid), [groupDn('sstaff')], { base: groups, placeholder }), {
      ldap: admin,
    });
    const pool = snapshotPool();
    await pool.snapshot?.ready();
    const find = { base: people, attribute: 'uid', value: uid };
    const steps = [
      ensureRenamed(find, dnOf(uid), { references: { base: groups } }),
      ensureEntry({ ...find, dn: dnOf(uid) }, person(uid, 'changed@x')),
      ensureMemberships(dnOf(uid), [groupDn('sstaff'), groupDn('sodd')], {
        base: groups,
        exact: true,
        placeholder,
      }),
    ];
    const env = makeEnv();
    const now = steps.map((s) => s.check(undefined, { ldap: pool }, env));
    for (const answer of now)
      expect(typeof (answer as { then?: unknown } | undefined)?.then).not.toBe('function');
    expect(now[0]).toBeUndefined();
    expect(ops(now[1] as Diff)).toEqual(['~mail']);
    expect(now[2]).toMatchObject({ join: [groupDn('sodd')], leave: [] });
    const searches = pool.snapshot?.stats().liveReads ?? 0;
    pool.snapshot?.entries?.unsure(uid);
    const later = steps[1]?.check(undefined, { ldap: pool }, env);
    expect(typeof (later as { then?: unknown } | undefined)?.then).toBe('function');
    expect(ops((await later) as Diff)).toEqual(['~mail']);
    expect(pool.snapshot?.stats().liveReads).toBe(searches + 1);
  });
});
