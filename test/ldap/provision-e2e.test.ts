/**
 * tasks/provision-users.ts end to end: the built CLI against a private slapd,
 * run the way cron runs it. Writes are counted at the server (audit log).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Attribute, Change, Client } from 'ldapts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LdapPool } from '../../src/connectors/ldap/pool.ts';
import { openLedger, tempDir } from '../support/cli.ts';
import { Slapd, type SlapdOptions } from '../support/slapd.ts';
import { poolFor } from './helpers.ts';
import {
  CANARY,
  directory,
  expectDirectory,
  expectNoCanary,
  makeUsers,
  recordsOf,
  runTask,
  summaryOf,
  writeUsers,
} from './provision-support.ts';
import { describeLdap } from './slapd-env.ts';

/** A fresh slapd (admin password = the canary), a state dir, and a run helper. */
async function fixture(server: SlapdOptions = {}) {
  const slapd = await Slapd.start({ ...server, adminPassword: CANARY });
  const dir = tempDir('idem-ldap-e2e-');
  const state = join(dir, 'state');
  const passwordFile = join(dir, 'bind.pw');
  writeFileSync(passwordFile, `${CANARY}\n`, { mode: 0o600 });
  const { IDEM_LDAP_PASSWORD: _, ...base } = slapd.env();
  const env = { ...base, IDEM_LDAP_PASSWORD_FILE: passwordFile };
  const outputs: unknown[] = [];
  const run = async (args: string[], more: Record<string, string> = {}) => {
    const r = await runTask(['--state-dir', state, ...args], { ...env, ...more });
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  return { slapd, dir, state, env, run, outputs, pool: poolFor(slapd) as LdapPool };
}

type Fixture = Awaited<ReturnType<typeof fixture>>;

/** A fixture for the describe block it is called in: made before its tests, removed after them. */
function useFixture(prepare?: (f: Fixture) => Promise<void>, server?: SlapdOptions): () => Fixture {
  let f: Fixture | undefined;
  beforeAll(async () => {
    f = await fixture(server);
    await prepare?.(f);
  });
  afterAll(async () => {
    await f?.pool.close();
    await f?.slapd.destroy();
    if (f) rmSync(f.dir, { recursive: true, force: true });
  });
  return () => f as Fixture;
}

describeLdap('provision-users against a server that keeps member values sorted (sortvals member)', () => {
  // The README advises `sortvals member` for large groups: slapd then keeps and returns
  // member values in its own order, not the order they were written in, and idem must
  // still see each group as it is. The CSV is written backwards, so the members join
  // each group in the reverse of the order slapd keeps them in.
  const users = makeUsers(60);
  let csv: string;
  const fx = useFixture(
    async (f) => {
      csv = writeUsers(join(f.dir, 'users.csv'), [...users].reverse());
    },
    { sortvals: ['member'] },
  );

  /** A rerun of `input`: nothing changed, nothing written at the server. */
  async function expectNoWrites(f: Fixture, input: string): Promise<void> {
    const before = f.slapd.writes();
    const rerun = await f.run(['--input', input, '--json']);
    expect(rerun.exitCode, String(rerun.stderr)).toBe(0);
    expect(summaryOf(rerun.stdout)).toMatchObject({ counts: { changed: 0, ok: 60, failed: 0 } });
    expect(f.slapd.writes()).toBe(before);
  }

  it('the first run builds the people and groups; the rerun writes nothing; a move writes only the move', async () => {
    const f = fx();
    const first = await f.run(['--input', csv, '--json']);
    expect(first.exitCode, String(first.stderr)).toBe(0);
    expect(summaryOf(first.stdout)).toMatchObject({ counts: { changed: 60, ok: 0, failed: 0 } });
    await expectDirectory(f.pool, f.slapd, users);
    // The server kept them sorted: u0001 first, although it joined last.
    const [staff] = await f.pool.search(f.slapd.groupsDn, { scope: 'one', filter: '(cn=staff)' });
    const members = staff?.attrs.member ?? [];
    expect(members).toHaveLength(60);
    expect(members[0]).toBe('uid=u0001,ou=people,dc=example,dc=com');
    expect(members).toEqual([...members].sort());

    await expectNoWrites(f, csv);

    // u0002 (sales) moves to research: its entry, one group loses it, one gains it.
    const moved = users.map((u) =>
      u.uid === 'u0002'
        ? { ...u, department: 'research', groups: u.groups.map((g) => (g === 'sales' ? 'research' : g)) }
        : u,
    );
    expect(users.find((u) => u.uid === 'u0002')?.department).toBe('sales');
    const audit = f.slapd.audit().length;
    const edit = await f.run(['--input', writeUsers(join(f.dir, 'moved.csv'), moved), '--json']);
    expect(edit.exitCode, String(edit.stderr)).toBe(0);
    expect(summaryOf(edit.stdout)).toMatchObject({ counts: { changed: 1, ok: 59, failed: 0 } });
    expect(
      f.slapd
        .audit()
        .slice(audit)
        .map((a) => a.dn)
        .sort(),
    ).toEqual([
      'cn=research,ou=groups,dc=example,dc=com',
      'cn=sales,ou=groups,dc=example,dc=com',
      'uid=u0002,ou=people,dc=example,dc=com',
    ]);
    await expectDirectory(f.pool, f.slapd, moved);
    // u0002 joined research last, yet sits in its values ahead of members that joined before it.
    const [research] = await f.pool.search(f.slapd.groupsDn, { scope: 'one', filter: '(cn=research)' });
    const inResearch = research?.attrs.member ?? [];
    expect(inResearch).toEqual([...inResearch].sort());
    expect(inResearch.indexOf('uid=u0002,ou=people,dc=example,dc=com')).toBe(0);
    await expectNoWrites(f, writeUsers(join(f.dir, 'moved-again.csv'), moved));
  });
});

describeLdap('provision-users: first run, rerun, an edited CSV', () => {
  const users = makeUsers(200);
  let csv: string;
  const fx = useFixture(async (f) => {
    csv = writeUsers(join(f.dir, 'users.csv'), users);
  });

  it('the first run of 200 rows reports 200 changed and builds exactly 200 people and their groups', async () => {
    const f = fx();
    const r = await f.run(['--input', csv, '--json']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(summaryOf(r.stdout)).toMatchObject({
      status: 'succeeded',
      counts: { changed: 200, ok: 0, failed: 0 },
    });
    await expectDirectory(f.pool, f.slapd, users);
    const alan = recordsOf(r.stdout).get('u0002');
    expect(alan?.diff.map((d: { step: string }) => d.step)).toEqual(['ldap.entry', 'ldap.memberships']);
  });

  it('a rerun reports 0 changed and 200 ok, and makes zero writes at the server', async () => {
    const f = fx();
    const writes = f.slapd.writes();
    const r = await f.run(['--input', csv, '--json', '--detailed-exitcode']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(summaryOf(r.stdout)).toMatchObject({ counts: { changed: 0, ok: 200, failed: 0, absorbed: 0 } });
    expect(f.slapd.writes()).toBe(writes);
  });

  it('an edited CSV changes exactly what was edited; the dry run before showed the same diffs and wrote nothing', async () => {
    const f = fx();
    const edited = users.map((u) => ({ ...u, groups: [...u.groups] }));
    const byUid = (uid: string) => edited.find((u) => u.uid === uid) as (typeof edited)[number];
    byUid('u0003').mail = 'new.u0003@example.com';
    byUid('u0010').mail = 'new.u0010@example.com';
    const mover = byUid('u0021'); // eng -> sales: departmentNumber and the department group
    expect(mover.department).toBe('eng');
    mover.department = 'sales';
    mover.groups = mover.groups.map((g) => (g === 'eng' ? 'sales' : g));
    const leaver = byUid('u0008'); // on call: leaves oncall only
    expect(leaver.groups).toContain('oncall');
    leaver.groups = leaver.groups.filter((g) => g !== 'oncall');
    const editedCsv = writeUsers(join(f.dir, 'users-edited.csv'), edited);

    const writes = f.slapd.writes();
    const dry = await f.run(['--input', editedCsv, '--json', '--dry-run', '--detailed-exitcode']);
    expect(dry.exitCode, String(dry.stderr)).toBe(5);
    expect(f.slapd.writes()).toBe(writes);
    expect(summaryOf(dry.stdout)).toMatchObject({ dryRun: true, counts: { changed: 4, ok: 196 } });
    const planned = recordsOf(dry.stdout);

    const real = await f.run(['--input', editedCsv, '--json']);
    expect(real.exitCode, String(real.stderr)).toBe(0);
    expect(summaryOf(real.stdout)).toMatchObject({ counts: { changed: 4, ok: 196, failed: 0 } });
    const done = recordsOf(real.stdout);
    const changedKeys = (m: Map<string, Record<string, any>>) =>
      [...m.values()]
        .filter((e) => e.outcome === 'changed')
        .map((e) => e.key)
        .sort();
    expect(changedKeys(planned)).toEqual(['u0003', 'u0008', 'u0010', 'u0021']);
    expect(changedKeys(done)).toEqual(['u0003', 'u0008', 'u0010', 'u0021']);
    // A step checked after a pending one is marked provisional in the preview (it checked the target as it
    // is, not as the pending step would leave it); the changes themselves are the same.
    const unmarked = (diff: Record<string, unknown>[] | undefined) =>
      diff?.map(({ provisional: _, ...d }) => d);
    for (const key of changedKeys(done))
      expect(done.get(key)?.diff).toEqual(unmarked(planned.get(key)?.diff));

    const groups = 'ou=groups,dc=example,dc=com';
    expect(done.get('u0003')?.diff).toEqual([
      {
        step: 'ldap.entry',
        changes: [{ op: '~', field: 'mail', from: 'u0003@example.com', to: 'new.u0003@example.com' }],
      },
    ]);
    expect(done.get('u0021')?.diff).toEqual([
      { step: 'ldap.entry', changes: [{ op: '~', field: 'departmentNumber', from: 'eng', to: 'sales' }] },
      {
        step: 'ldap.memberships',
        changes: [
          { op: '+', field: 'group', to: `cn=sales,${groups}` },
          { op: '-', field: 'group', from: `cn=eng,${groups}` },
        ],
      },
    ]);
    expect(done.get('u0008')?.diff).toEqual([
      { step: 'ldap.memberships', changes: [{ op: '-', field: 'group', from: `cn=oncall,${groups}` }] },
    ]);
    // Exactly the writes those diffs call for, at the server.
    const audit = f.slapd.audit().slice(writes);
    expect(audit.map((a) => `${a.op} ${a.dn}`).sort()).toEqual(
      [
        'modify uid=u0003,ou=people,dc=example,dc=com',
        'modify uid=u0010,ou=people,dc=example,dc=com',
        'modify uid=u0021,ou=people,dc=example,dc=com',
        `modify cn=sales,${groups}`,
        `modify cn=eng,${groups}`,
        `modify cn=oncall,${groups}`,
      ].sort(),
    );
    await expectDirectory(f.pool, f.slapd, edited);
    expectNoCanary(f.outputs, f.state);
  });
});

describeLdap('provision-users: the deletion guard and the prune phase', () => {
  const users = makeUsers(200);
  const fx = useFixture(async (f) => {
    const r = await f.run(['--input', writeUsers(join(f.dir, 'all.csv'), users)]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
  });

  it('a truncated CSV with prune on deletes nothing, exits 6 and names the number refused', async () => {
    const f = fx();
    const truncated = writeUsers(join(f.dir, 'truncated.csv'), users.slice(0, 3));
    for (const mode of ['disable', 'delete']) {
      const writes = f.slapd.writes();
      const r = await f.run(['--input', truncated, '--json'], { IDEM_PRUNE: mode });
      expect(r.exitCode, String(r.stderr)).toBe(6);
      const summary = summaryOf(r.stdout);
      expect(summary.status).toBe('refused');
      expect(summary.message).toMatch(/would delete 197 of 200 entries/);
      expect(String(r.stderr)).toMatch(/197/);
      expect(f.slapd.writes()).toBe(writes);
    }
    expect((await directory(f.pool, f.slapd)).people.size).toBe(200);
  });

  it('a CSV missing 5 people (within 10%) disables exactly those 5 and takes them out of their groups', async () => {
    const f = fx();
    const kept = users.filter((_, i) => i % 40 !== 5);
    const gone = users.filter((_, i) => i % 40 === 5).map((u) => u.uid);
    expect(gone).toHaveLength(5);
    const csv = writeUsers(join(f.dir, 'minus5.csv'), kept);
    const r = await f.run(['--input', csv, '--json'], { IDEM_PRUNE: 'disable' });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(summaryOf(r.stdout)).toMatchObject({ counts: { changed: 5, ok: 195, failed: 0 } });
    const { people, groups } = await directory(f.pool, f.slapd);
    expect(people.size).toBe(200);
    for (const uid of gone) {
      expect(people.get(uid)?.shadowexpire).toEqual(['1']);
      for (const [, members] of groups) expect(members).not.toContain(uid);
    }
    for (const u of kept) expect(people.get(u.uid)?.shadowexpire).toBeUndefined();
    const again = await f.run(['--input', csv, '--json'], { IDEM_PRUNE: 'disable' });
    expect(summaryOf(again.stdout)).toMatchObject({ counts: { changed: 0, ok: 200 } });
    expectNoCanary(f.outputs, f.state);
  });
});

describeLdap('provision-users: a read-only bind account', () => {
  const fx = useFixture();

  it('fails permanently on the first record with a clear message, is not retried, and the breaker stops the run', async () => {
    const f = fx();
    const csv = writeUsers(join(f.dir, 'users.csv'), makeUsers(50));
    const reader = f.slapd.env('reader');
    const r = await f.run(['--input', csv, '--json', '--concurrency', '1'], {
      IDEM_LDAP_BIND_DN: reader.IDEM_LDAP_BIND_DN as string,
      IDEM_LDAP_PASSWORD: reader.IDEM_LDAP_PASSWORD as string,
      IDEM_LDAP_PASSWORD_FILE: '',
    });
    expect(r.exitCode, String(r.stderr)).toBe(4);
    const first = recordsOf(r.stdout).get('u0001');
    expect(first?.outcome).toBe('failed');
    expect(first?.error.class).toBe('permanent');
    expect(first?.error.message).toContain('ldap add uid=u0001,ou=people,dc=example,dc=com');
    expect(first?.error.message).toContain('insufficientAccessRights (50)');
    expect(first?.error.message).toContain('cn=reader,dc=example,dc=com lacks the rights');
    const summary = summaryOf(r.stdout);
    expect(summary.status).toBe('aborted');
    expect(summary.counts.failed).toBe(5);
    expect(summary.notProcessed).toBe(45);
    const ledger = openLedger(f.state);
    try {
      expect(ledger.prepare("SELECT count(*) AS n FROM events WHERE kind = 'retry'").get()).toEqual({ n: 0 });
      expect(
        ledger.prepare("SELECT step, attempt FROM events WHERE kind = 'failed' AND slot = 'u0001'").all(),
      ).toEqual([{ step: 'ldap.entry', attempt: 1 }]);
    } finally {
      ledger.close();
    }
    expect(f.slapd.writes()).toBe(0);
  });

  it('a wrong password stops before any record (exit 2) without printing it', async () => {
    const f = fx();
    const csv = writeUsers(join(f.dir, 'few.csv'), makeUsers(3));
    const wrong = join(f.dir, 'wrong.pw');
    writeFileSync(wrong, `${CANARY}-wrong\n`);
    const r = await f.run(['--input', csv], { IDEM_LDAP_PASSWORD_FILE: wrong });
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toContain('invalidCredentials (49)');
    expect(String(r.stderr)).toContain('cn=admin,dc=example,dc=com');
    expectNoCanary(f.outputs, f.state);
  });
});

describeLdap('provision-users: a leaver disabled by prune comes back', () => {
  const users = makeUsers(20);
  const fx = useFixture();

  it('is enabled again (shadowExpire removed) with their groups, and the next run writes nothing', async () => {
    const f = fx();
    const all = writeUsers(join(f.dir, 'all.csv'), users);
    expect((await f.run(['--input', all, '--json'])).exitCode).toBe(0);
    const leaver = users[6] as (typeof users)[number];
    const without = writeUsers(
      join(f.dir, 'without.csv'),
      users.filter((u) => u !== leaver),
    );
    const gone = await f.run(['--input', without, '--json'], { IDEM_PRUNE: 'disable' });
    expect(gone.exitCode, String(gone.stderr)).toBe(0);
    let dir = await directory(f.pool, f.slapd);
    expect(dir.people.get(leaver.uid)?.shadowexpire).toEqual(['1']);
    for (const [, members] of dir.groups) expect(members).not.toContain(leaver.uid);

    // Back in the export, prune still on (as in the nightly cron line).
    const back = await f.run(['--input', all, '--json'], { IDEM_PRUNE: 'disable' });
    expect(back.exitCode, String(back.stderr)).toBe(0);
    expect(summaryOf(back.stdout)).toMatchObject({ counts: { changed: 1, ok: 19, failed: 0 } });
    const record = recordsOf(back.stdout).get(leaver.uid);
    const groups = 'ou=groups,dc=example,dc=com';
    expect(record?.diff).toEqual([
      { step: 'ldap.entry', changes: [{ op: '-', field: 'shadowExpire', from: '1' }] },
      {
        step: 'ldap.memberships',
        changes: leaver.groups.map((g) => ({ op: '+', field: 'group', to: `cn=${g},${groups}` })),
      },
    ]);
    dir = await directory(f.pool, f.slapd);
    expect(dir.people.get(leaver.uid)?.shadowexpire).toBeUndefined();
    await expectDirectory(f.pool, f.slapd, users);

    const writes = f.slapd.writes();
    const again = await f.run(['--input', all, '--json'], { IDEM_PRUNE: 'disable' });
    expect(summaryOf(again.stdout)).toMatchObject({ counts: { changed: 0, ok: 20 } });
    expect(f.slapd.writes()).toBe(writes);
  });
});

describeLdap('provision-users: group names are validated like uids', () => {
  const fx = useFixture();

  it('a row naming *, .., a DN, -lead or a/b as a group is invalid with its line; nothing is written for it', async () => {
    const f = fx();
    const users = makeUsers(6);
    const hostile = ['*', '..', 'cn=evil,dc=example,dc=com', '-lead', 'a/b'];
    const rows = users.map((u, i) =>
      i < hostile.length ? { ...u, groups: ['staff', hostile[i] as string] } : u,
    );
    const csv = writeUsers(join(f.dir, 'hostile.csv'), rows);
    const r = await f.run(['--input', csv, '--json']);
    expect(r.exitCode, String(r.stderr)).toBe(3);
    expect(summaryOf(r.stdout)).toMatchObject({ counts: { changed: 1, invalid: 5 } });
    const records = recordsOf(r.stdout);
    hostile.forEach((g, i) => {
      const record = records.get((users[i] as (typeof users)[number]).uid);
      expect(record?.outcome).toBe('invalid');
      expect(record?.line).toBe(i + 2);
      expect(record?.error.message).toContain(`group "${g}" must be 1-64 letters`);
    });
    const { people, groups } = await directory(f.pool, f.slapd);
    expect([...people.keys()]).toEqual(['u0006']);
    expect([...groups.keys()].sort()).toEqual([...(users[5]?.groups ?? [])].sort());
    expect(f.slapd.audit().map((a) => a.dn.toLowerCase())).not.toContainEqual(
      expect.stringContaining('evil'),
    );
  });
});

describeLdap('provision-users: the dry run predicts a move and the steps after it', () => {
  const users = makeUsers(30);
  const fx = useFixture(async (f) => {
    const r = await f.run(['--input', writeUsers(join(f.dir, 'all.csv'), users)]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
  });

  it('an entry another tool moved (groups following it) and a surname change: the preview shows exactly the diffs the run makes, none provisional', async () => {
    const f = fx();
    const base = 'dc=example,dc=com';
    const moved = users[5] as (typeof users)[number];
    const home = `uid=${moved.uid},ou=people,${base}`;
    const away = `uid=${moved.uid},ou=contractors,ou=people,${base}`;
    // Another tool moves the person and, like OpenLDAP's refint overlay, updates the groups naming them.
    const client = new Client({ url: f.slapd.url });
    await client.bind(f.slapd.adminDn, f.slapd.adminPassword);
    await client.add(`ou=contractors,ou=people,${base}`, {
      objectClass: ['organizationalUnit'],
      ou: 'contractors',
    });
    await client.modifyDN(home, `uid=${moved.uid},ou=contractors,ou=people,${base}`);
    for (const g of moved.groups) {
      const group = `cn=${g},ou=groups,${base}`;
      await client.modify(group, [
        new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [away] }) }),
        new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [home] }) }),
      ]);
    }
    await client.unbind();
    const edited = users.map((u) => (u.uid === moved.uid ? { ...u, sn: `${u.sn}-Smith` } : u));
    const csv = writeUsers(join(f.dir, 'moved.csv'), edited);

    const writes = f.slapd.writes();
    const dry = await f.run(['--input', csv, '--json', '--dry-run']);
    expect(dry.exitCode, String(dry.stderr)).toBe(0);
    expect(f.slapd.writes()).toBe(writes);
    expect(summaryOf(dry.stdout)).toMatchObject({ counts: { changed: 1, ok: 29, provisional: 0 } });
    const preview = recordsOf(dry.stdout).get(moved.uid)?.diff as Record<string, unknown>[];
    expect(preview.map((d) => d.step)).toEqual(['ldap.renamed', 'ldap.entry']);
    expect(preview.some((d) => 'provisional' in d)).toBe(false);

    const real = await f.run(['--input', csv, '--json']);
    expect(real.exitCode, String(real.stderr)).toBe(0);
    expect(summaryOf(real.stdout)).toMatchObject({ counts: { changed: 1, ok: 29, failed: 0 } });
    expect(recordsOf(real.stdout).get(moved.uid)?.diff).toEqual(preview);
    await expectDirectory(f.pool, f.slapd, edited);
  });
});

describeLdap('provision-users: the gate at a real slapd (writes counted by its audit log)', () => {
  const users = makeUsers(200);
  const fx = useFixture(async (f) => {
    const r = await f.run(['--input', writeUsers(join(f.dir, 'all.csv'), users)]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
  });

  it('a truncated export (10% of the rows) is refused with 0 writes; --accept <hash> lets exactly that plan through', async () => {
    const f = fx();
    const truncated = writeUsers(join(f.dir, 'truncated.csv'), users.slice(0, 20));
    const writes = f.slapd.writes();
    const r = await f.run(['--input', truncated, '--json']);
    expect(r.exitCode, String(r.stderr)).toBe(6);
    const s = summaryOf(r.stdout);
    expect(s.plan.exceeded).toEqual(['shrink']);
    expect(s.message).toMatch(/the input holds 20 records, down from 200/);
    expect(f.slapd.writes()).toBe(writes);
    const accepted = await f.run(['--input', truncated, '--json', '--accept', s.plan.hash]);
    expect(accepted.exitCode, String(accepted.stderr)).toBe(0);
    expect(summaryOf(accepted.stdout).counts).toMatchObject({ ok: 20, changed: 0 });
    expect(f.slapd.writes()).toBe(writes); // nothing to change for those 20, and no prune: nobody removed
  });

  it('every department blank is refused by the per-attribute budget on departmentNumber, 0 writes', async () => {
    const f = fx();
    const blank = writeUsers(
      join(f.dir, 'blank-department.csv'),
      users.map((u) => ({ ...u, department: '' })),
    );
    const writes = f.slapd.writes();
    const r = await f.run(['--input', blank, '--json']);
    expect(r.exitCode, String(r.stderr)).toBe(6);
    const s = summaryOf(r.stdout);
    expect(s.plan.exceeded).toContain('attribute departmentNumber');
    expect(s.message).toMatch(/attribute departmentNumber: the plan changes it on 200 of 200 records/);
    expect(f.slapd.writes()).toBe(writes);
    expect((await directory(f.pool, f.slapd)).people.size).toBe(200);
  });
});
