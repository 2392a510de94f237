/**
 * Part 3, LDAP: a raw `ldapadd` of an LDIF with N people and their groups into a
 * fresh private slapd, against `idem run tasks/provision-users.ts` (first run) into
 * another fresh slapd over the same N people, and the idem rerun (which must make
 * zero writes, counted in the server's audit log). Both sides are timed from
 * process spawn to exit. Every slapd is private, on 127.0.0.1, and destroyed after.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Client } from 'ldapts';
import { makeUsers, type User, writeUsers } from '../ldap/provision-support.ts';
import { Slapd, slapdAvailability } from '../support/slapd.ts';
import {
  type BenchLine,
  child,
  fmtRatio,
  fmtSamples,
  idemCli,
  median,
  now,
  ROOT,
  Skip,
  scaled,
  settings,
  summaryOf,
  tail,
  tempDir,
} from './common.ts';

const TASK = join(ROOT, 'tasks', 'provision-users.ts');
const LIMIT_MS = 240_000;

/** The same end state as LDIF: the people (the attributes the task sets), then each group with its members. */
function writeLdif(path: string, users: User[], slapd: Slapd): { path: string; entries: number } {
  const dnOf = (uid: string) => `uid=${uid},${slapd.peopleDn}`;
  const blocks = users.map((u) =>
    [
      `dn: ${dnOf(u.uid)}`,
      'objectClass: inetOrgPerson',
      'objectClass: organizationalPerson',
      'objectClass: person',
      'objectClass: top',
      `uid: ${u.uid}`,
      `cn: ${u.givenName} ${u.sn}`,
      `sn: ${u.sn}`,
      `givenName: ${u.givenName}`,
      `mail: ${u.mail}`,
      `employeeNumber: ${u.employeeNumber}`,
      `departmentNumber: ${u.department}`,
    ].join('\n'),
  );
  const groups = new Map<string, string[]>();
  for (const u of users) for (const g of u.groups) groups.set(g, [...(groups.get(g) ?? []), u.uid]);
  for (const [g, members] of groups) {
    blocks.push(
      [
        `dn: cn=${g},${slapd.groupsDn}`,
        'objectClass: groupOfNames',
        `cn: ${g}`,
        ...members.map((m) => `member: ${dnOf(m)}`),
      ].join('\n'),
    );
  }
  writeFileSync(path, `${blocks.join('\n\n')}\n`);
  return { path, entries: blocks.length };
}

function onPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, program);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** How many inetOrgPerson entries are under ou=people, and how many member values under ou=groups. */
async function census(slapd: Slapd): Promise<{ people: number; members: number }> {
  const client = new Client({ url: slapd.url, timeout: 10_000, connectTimeout: 2000 });
  try {
    await client.bind(slapd.adminDn, slapd.adminPassword);
    const p = await client.search(slapd.peopleDn, {
      scope: 'one',
      filter: '(objectClass=inetOrgPerson)',
      attributes: ['1.1'],
      sizeLimit: 0,
    });
    const g = await client.search(slapd.groupsDn, {
      scope: 'one',
      filter: '(objectClass=groupOfNames)',
      attributes: ['member'],
    });
    let members = 0;
    for (const e of g.searchEntries) {
      const m = e.member;
      members += (Array.isArray(m) ? m : [m])
        .map(String)
        .filter((dn) => dn.toLowerCase().startsWith('uid=')).length;
    }
    return { people: p.searchEntries.length, members };
  } finally {
    await client.unbind().catch(() => {});
  }
}

async function ldapadd(ldapaddPath: string, users: User[], expected: { members: number }) {
  const slapd = await Slapd.start();
  try {
    const dir = tempDir('ldapadd');
    const pw = join(dir, 'bind.pw');
    writeFileSync(pw, slapd.adminPassword, { mode: 0o600 }); // -y reads the whole file: no newline
    const { path, entries } = writeLdif(join(dir, 'people.ldif'), users, slapd);
    const start = now();
    const r = await child(ldapaddPath, ['-x', '-H', slapd.url, '-D', slapd.adminDn, '-y', pw, '-f', path], {
      timeoutMs: LIMIT_MS,
    });
    const ms = now() - start;
    if (r.exitCode !== 0) throw new Error(`ldapadd exited ${r.exitCode}: ${tail(r.stderr)}`);
    const got = await census(slapd);
    if (got.people !== users.length || got.members !== expected.members) {
      throw new Error(
        `after ldapadd the directory holds ${JSON.stringify(got)}, expected ${users.length} people`,
      );
    }
    return { ms, writes: slapd.writes(), entries };
  } finally {
    await slapd.destroy();
  }
}

/** idem first run, a census, then (unless `firstOnly`) the rerun, into one fresh slapd. */
async function idem(csv: string, users: User[], expected: { members: number }, firstOnly = false) {
  const slapd = await Slapd.start();
  try {
    const state = join(tempDir('ldap-state'), 'state');
    // Plain ldap:// to this slapd, whatever the caller's environment says.
    const env = {
      ...slapd.env(),
      IDEM_PRUNE: '',
      IDEM_LDAP_STARTTLS: '',
      IDEM_LDAP_CA_FILE: '',
      IDEM_LDAP_TLS_INSECURE: '',
    };
    const args = ['run', TASK, '--state-dir', state, '--input', csv, '--json'];
    const run = async (what: string, changed: number) => {
      const start = now();
      const r = await idemCli(args, env, LIMIT_MS);
      const ms = now() - start;
      if (r.exitCode !== 0) {
        throw new Error(
          `idem run tasks/provision-users.ts (${what}) exited ${r.exitCode}: ${tail(r.stderr)}`,
        );
      }
      const { status, counts } = summaryOf(r.stdout);
      if (status !== 'succeeded' || counts.changed !== changed || counts.ok !== users.length - changed) {
        throw new Error(
          `idem run tasks/provision-users.ts (${what}) ended ${status} with ${JSON.stringify(counts)}, expected ${changed} changed`,
        );
      }
      return ms;
    };
    const first = await run('first run', users.length);
    const firstWrites = slapd.writes();
    const got = await census(slapd);
    if (got.people !== users.length || got.members !== expected.members) {
      throw new Error(
        `after the idem first run the directory holds ${JSON.stringify(got)}, expected ${users.length} people and ${expected.members} memberships`,
      );
    }
    const rerun = firstOnly ? Number.NaN : await run('rerun', 0);
    const rerunWrites = slapd.writes() - firstWrites;
    return { first, rerun, firstWrites, rerunWrites };
  } finally {
    await slapd.destroy();
  }
}

export async function benchLdap(): Promise<BenchLine> {
  const available = slapdAvailability();
  if (!available.ok) throw new Skip(`no slapd: ${available.reason}`);
  const ldapaddPath = onPath('ldapadd');
  if (!ldapaddPath) throw new Skip('no ldapadd on PATH (apt-get install ldap-utils)');
  if (!existsSync(TASK)) throw new Skip(`${TASK} does not exist`);

  const n = scaled(500);
  const users = makeUsers(n, { plain: true });
  const csv = writeUsers(join(tempDir('ldap-input'), 'users.csv'), users);
  const expected = { members: users.reduce((sum, u) => sum + u.groups.length, 0) };
  // One person: what each side costs before its first entry (process start-up, bind, loading).
  const one = makeUsers(1, { plain: true });
  const oneCsv = writeUsers(join(tempDir('ldap-input'), 'one.csv'), one);
  const oneExpected = { members: (one[0] as User).groups.length };

  const s = {
    raw: [] as number[],
    first: [] as number[],
    rerun: [] as number[],
    raw1: [] as number[],
    idem1: [] as number[],
  };
  let rawWrites = 0;
  let firstWrites = 0;
  const rerunWrites: number[] = [];
  for (let rep = 0; rep < settings.runs; rep++) {
    s.raw1.push((await ldapadd(ldapaddPath, one, oneExpected)).ms);
    s.idem1.push((await idem(oneCsv, one, oneExpected, true)).first);
    const raw = await ldapadd(ldapaddPath, users, expected);
    s.raw.push(raw.ms);
    rawWrites = raw.writes;
    const r = await idem(csv, users, expected);
    s.first.push(r.first);
    s.rerun.push(r.rerun);
    firstWrites = r.firstWrites;
    rerunWrites.push(r.rerunWrites);
  }
  const base = median(s.raw);
  const perPerson = (xs: number[], startup: number[]) => (median(xs) - median(startup)) / Math.max(1, n - 1);
  const rawPer = perPerson(s.raw, s.raw1);
  const firstPer = perPerson(s.first, s.idem1);
  const rerunPer = perPerson(s.rerun, s.idem1);
  const fmtPer = (ms: number) => (ms > 0 ? `${ms.toFixed(2)} ms` : '~0 (within noise)');
  const notes = [
    'wall time per process, each side into its own fresh private slapd (mdb, auditlog) on 127.0.0.1;',
    `ldapadd = one ldapadd -x -f over ${n} people + their groups (members inline): ${rawWrites} writes;`,
    `idem = node bin/idem.js run tasks/provision-users.ts --json (concurrency 4): ${firstWrites} writes first run;`,
    `ratios: idem first/ldapadd, idem rerun/ldapadd (rerun writes, audit log: ${rerunWrites.join(', ')});`,
    `start-up (1 person): ldapadd ${fmtSamples(s.raw1)}, idem ${fmtSamples(s.idem1)};`,
    `per person after start-up: ldapadd ${fmtPer(rawPer)}, idem first ${fmtPer(firstPer)} ` +
      `(x${fmtRatio(firstPer / rawPer)}), idem rerun ${fmtPer(rerunPer)} (x${fmtRatio(rerunPer / rawPer)})`,
  ];
  if (rerunWrites.some((w) => w !== 0)) {
    throw new Error(`the idem rerun made writes at the server (${rerunWrites.join(', ')}); expected none`);
  }
  return {
    name: 'ldap',
    size: `${n} people`,
    cells: [
      `ldapadd ${fmtSamples(s.raw)}`,
      `idem first ${fmtSamples(s.first)} (x${fmtRatio(median(s.first) / base)})`,
      `idem rerun ${fmtSamples(s.rerun)} (x${fmtRatio(median(s.rerun) / base)}, 0 writes)`,
    ],
    notes,
  };
}
