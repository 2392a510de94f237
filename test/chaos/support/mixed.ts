/**
 * Support for the SIGKILL chaos tests of the mixed task (test/chaos/tasks/mixed.ts):
 * a small tmpfs for the targets and ledgers, one private slapd with a base per
 * directory under test, the built CLI run as cron runs it, and the targets read
 * back (never idem's ledger): LDAP entries and the audit log of slapd's writes, the
 * SQLite target and its insert log, the files, the outbox.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { afterAll, beforeAll } from 'vitest';
import { LdapPool } from '../../../src/connectors/ldap/pool.ts';
import { makeUsers, type User, writeUsers } from '../../ldap/users.ts';
import { BIN, FAULTY_BIN, ndjson, ROOT } from '../../support/cli.ts';
import { BASE_DN, Slapd } from '../../support/slapd.ts';
import { tempDir } from '../../support/temp.ts';
import { mountTmpfs } from '../../support/tmpfs.ts';

export { makeUsers, type User, writeUsers };
export const MIXED_TASK = join(ROOT, 'test', 'chaos', 'tasks', 'mixed.ts');
export const EFFECT = 'welcome-mail';
const RESOLVE_MANY = join(ROOT, 'test', 'chaos', 'support', 'resolve-many.mjs');

/** The LDIF of one base per directory under test: `ou=<name>,dc=example,dc=com` with its people and groups. */
export function basesLdif(names: string[]): string {
  return names
    .map((n) =>
      [
        `dn: ${baseOf(n)}\nobjectClass: organizationalUnit\nou: ${n}`,
        `dn: ou=people,${baseOf(n)}\nobjectClass: organizationalUnit\nou: people`,
        `dn: ou=groups,${baseOf(n)}\nobjectClass: organizationalUnit\nou: groups`,
      ].join('\n\n'),
    )
    .join('\n\n');
}

export const baseOf = (name: string) => `ou=${name},${BASE_DN}`;

/** One directory under test: a base in the shared slapd, its target folder and its state folder. */
export interface Target {
  name: string;
  base: string;
  dir: string;
  state: string;
  input: string;
  env: Record<string, string>;
}

export function target(slapd: Slapd, root: string, name: string, input: string): Target {
  const dir = join(root, name, 'targets');
  const state = join(root, name, 'state');
  mkdirSync(dir, { recursive: true });
  return {
    name,
    base: baseOf(name),
    dir,
    state,
    input,
    env: { ...slapd.env(), IDEM_LDAP_BASE: baseOf(name), MIXED_DIR: dir, MIXED_INPUT: input, IDEM_PRUNE: '' },
  };
}

/** `idem run <mixed task> …` with the built CLI (or the faulty one), no TTY, as cron runs it. */
export function runMixed(
  t: Target,
  args: string[],
  opts: { env?: Record<string, string>; faulty?: boolean } = {},
) {
  return execa(
    process.execPath,
    [
      opts.faulty ? FAULTY_BIN : BIN,
      'run',
      MIXED_TASK,
      '--state-dir',
      t.state,
      '--input',
      t.input,
      '--json',
      ...args,
    ],
    { reject: false, cwd: ROOT, env: { NO_COLOR: '1', ...t.env, ...opts.env } },
  );
}

/** Another idem command on the task's state dir (doubts, resolve). */
export function idemCommand(t: Target, args: string[]) {
  return execa(process.execPath, [BIN, ...args, '--state-dir', t.state], {
    reject: false,
    cwd: ROOT,
    env: { NO_COLOR: '1', ...t.env },
  });
}

export function summaryOf(stdout: unknown): Record<string, any> | undefined {
  return ndjson(stdout).find((e) => e.type === 'summary');
}

/** A temporary of an interrupted atomic write (fs.writeAtomic's `.<name>.<hex>.idem-tmp`). */
const isTemporary = (f: string) => f.endsWith('.idem-tmp');

/** The mail files of the outbox by uid (temporaries of interrupted writes apart). */
export function outbox(t: Target): { mails: Map<string, string[]>; leftovers: string[] } {
  const dir = join(t.dir, 'outbox');
  const mails = new Map<string, string[]>();
  const leftovers: string[] = [];
  if (!existsSync(dir)) return { mails, leftovers };
  for (const f of readdirSync(dir)) {
    const m = /^([^.]+)\.[0-9a-f]{12}\.eml$/.exec(f);
    if (!m) {
      leftovers.push(f);
      continue;
    }
    const uid = m[1] as string;
    mails.set(uid, [...(mails.get(uid) ?? []), readFileSync(join(dir, f), 'utf8')]);
  }
  return { mails, leftovers };
}

/**
 * Settles every in-doubt mail the way an operator would: `idem doubts --json`, then
 * per record `resolve --done` when its mail is in the outbox, `--retry` when it is not
 * (the first with the CLI, the rest with the same command in one process).
 */
export async function resolveDoubts(t: Target): Promise<{
  doubts: string[];
  done: number;
  retried: number;
  exitCode: number | undefined;
}> {
  const listed = await idemCommand(t, ['doubts', MIXED_TASK, '--json']);
  const doubts = ndjson(listed.stdout)
    .filter((d) => d.type === 'in-doubt' && d.effect === EFFECT)
    .map((d) => d.key as string);
  const { mails } = outbox(t);
  const verdicts = doubts.map((key) => `${key}=${mails.has(key) ? 'done' : 'retry'}`);
  const [first, ...rest] = verdicts;
  if (first) {
    const [key, verdict] = first.split('=') as [string, string];
    const r = await idemCommand(t, ['resolve', MIXED_TASK, key, '--effect', EFFECT, `--${verdict}`]);
    if (r.exitCode !== 0) throw new Error(`idem resolve ${key} failed (${r.exitCode}): ${r.stderr}`);
  }
  if (rest.length > 0) {
    // The same resolve command, one process for all of them (see resolve-many.mjs).
    const r = await execa(process.execPath, [RESOLVE_MANY, MIXED_TASK, t.state, EFFECT, ...rest], {
      reject: false,
      cwd: ROOT,
      env: { NO_COLOR: '1', ...t.env },
    });
    if (r.exitCode !== 0) throw new Error(`idem resolve failed (${r.exitCode}): ${r.stderr}`);
  }
  const done = verdicts.filter((v) => v.endsWith('=done')).length;
  return { doubts, done, retried: verdicts.length - done, exitCode: listed.exitCode };
}

/** `PRAGMA integrity_check` of a ledger left by a killed run: 'ok' or the problems. */
export function integrity(t: Target): string {
  const file = join(t.state, 'ledger.db');
  if (!existsSync(file)) return 'ok';
  const db = new Database(file, { fileMustExist: true });
  try {
    return (db.pragma('integrity_check') as { integrity_check: string }[])
      .map((r) => r.integrity_check)
      .join('; ');
  } finally {
    db.close();
  }
}

/** A pool bound as the slapd's admin, to read the bases back. */
export function adminPool(slapd: Slapd): LdapPool {
  return new LdapPool(
    {
      url: slapd.url,
      bindDn: slapd.adminDn,
      password: slapd.adminPassword,
      timeoutMs: 10_000,
      connectTimeoutMs: 5000,
    },
    2,
  );
}

/** What one directory under test holds, normalized so two bases compare (the base renamed to BASE). */
export interface Dump {
  ldap: Record<string, Record<string, string[]>>;
  rows: Record<string, unknown>[];
  files: Record<string, string>;
  mails: Record<string, string[]>;
}

/** The targets of one directory under test, read back from the targets themselves. */
export async function dump(pool: LdapPool, t: Target): Promise<Dump> {
  const ldap: Dump['ldap'] = {};
  const base = t.base.toLowerCase();
  const norm = (v: string) =>
    v.toLowerCase().endsWith(base) ? `${v.slice(0, v.length - base.length)}BASE` : v;
  for (const e of await pool.search(t.base, { scope: 'sub', attributes: ['*'] })) {
    if (e.dn.toLowerCase() === base) continue; // the base itself, made by the test, named after the target
    const attrs: Record<string, string[]> = {};
    for (const k of Object.keys(e.attrs).sort()) attrs[k] = [...(e.attrs[k] ?? [])].map(norm).sort();
    ldap[norm(e.dn)] = attrs;
  }
  // Entries in DN order: the order of a search's results is the order of their adds.
  const sorted = Object.fromEntries(Object.entries(ldap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const rows = sqlRows(t).rows;
  const files: Dump['files'] = {};
  const homes = join(t.dir, 'homes');
  if (existsSync(homes)) {
    for (const f of readdirSync(homes).sort()) {
      if (isTemporary(f)) continue;
      const mode = (statSync(join(homes, f)).mode & 0o777).toString(8);
      files[f] = `${mode} ${readFileSync(join(homes, f), 'utf8')}`;
    }
  }
  const mails: Dump['mails'] = {};
  for (const [uid, bodies] of [...outbox(t).mails].sort(([a], [b]) => a.localeCompare(b))) {
    mails[uid] = bodies.map((b) => b.replace(/^Message-ID: <[^>]*>/m, 'Message-ID: <ID>')).sort();
  }
  return { ldap: sorted, rows, files, mails };
}

/** The SQLite target's rows, and how many times each uid was inserted (its trigger's log). */
export function sqlRows(t: Target): { rows: Record<string, unknown>[]; inserts: Map<string, number> } {
  const file = join(t.dir, 'app.db');
  if (!existsSync(file)) return { rows: [], inserts: new Map() };
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT * FROM people ORDER BY uid').all() as Record<string, unknown>[];
    const inserts = new Map(
      (
        db.prepare('SELECT uid, count(*) AS n FROM inserts GROUP BY uid').all() as {
          uid: string;
          n: number;
        }[]
      ).map((r) => [r.uid, r.n]),
    );
    return { rows, inserts };
  } finally {
    db.close();
  }
}

/** slapd's audit log, read for one base: adds per entry and member values added per group and member. */
export function auditOf(
  slapd: Slapd,
  t: Target,
): { adds: Map<string, number>; memberAdds: Map<string, number> } {
  const adds = new Map<string, number>();
  const memberAdds = new Map<string, number>();
  if (!existsSync(slapd.auditFile)) return { adds, memberAdds };
  const text = readFileSync(slapd.auditFile, 'utf8').replace(/\n /g, '');
  const suffix = `,${t.base}`.toLowerCase();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  for (const block of text.split(/^# end /m)) {
    const head = /^# (add|modify) \d+ .*\ndn: (.*)$/m.exec(block);
    if (!head) continue;
    const dn = (head[2] as string).toLowerCase();
    if (!dn.endsWith(suffix)) continue;
    if (head[1] === 'add') {
      bump(adds, dn);
      // A group created with its first members: those are member adds too.
      if (dn.startsWith('cn=')) {
        for (const m of block.matchAll(/^member: (uid=[^,]+)/gim))
          bump(memberAdds, `${dn} ${m[1]?.toLowerCase()}`);
      }
      continue;
    }
    // modify: the member values of each `add: member` section.
    for (const section of block.split(/^-$/m)) {
      if (!/^add: member$/m.test(section)) continue;
      for (const m of section.matchAll(/^member: (uid=[^,]+)/gim))
        bump(memberAdds, `${dn} ${m[1]?.toLowerCase()}`);
    }
  }
  return { adds, memberAdds };
}

/** Losses and duplicates of one directory under test, counted at the targets. */
export async function tally(pool: LdapPool, slapd: Slapd, t: Target, users: User[]) {
  const d = await dump(pool, t);
  const { inserts } = sqlRows(t);
  const { adds, memberAdds } = auditOf(slapd, t);
  const { mails, leftovers } = outbox(t);
  const homes = join(t.dir, 'homes');
  if (existsSync(homes))
    leftovers.push(
      ...(readdirSync(homes, { recursive: true }) as string[]).filter(
        (f) => isTemporary(f) || f.endsWith('.tmp'),
      ),
    );
  // What the base's own temporaries' folder still holds after the last run (dead writers' files are removed).
  const tmp = join(t.dir, '.idem-tmp');
  const parked = existsSync(tmp) ? readdirSync(tmp) : [];
  const lost = { ldap: 0, members: 0, rows: 0, files: 0, mails: 0 };
  const dup = { ldapAdds: 0, memberValues: 0, rows: 0, mails: 0 };
  const rowUids = new Set(d.rows.map((r) => r.uid as string));
  for (const u of users) {
    const dn = `uid=${u.uid},ou=people,BASE`;
    const entry = d.ldap[dn];
    if (!entry) lost.ldap++;
    for (const g of u.groups) {
      const members = d.ldap[`cn=${g},ou=groups,BASE`]?.member ?? [];
      if (!members.includes(dn)) lost.members++;
    }
    if (!rowUids.has(u.uid)) lost.rows++;
    if (!d.files[`${u.uid}.toml`]) lost.files++;
    if (!mails.has(u.uid)) lost.mails++;
    const realDn = `uid=${u.uid},ou=people,${t.base}`.toLowerCase();
    if ((adds.get(realDn) ?? 0) > 1) dup.ldapAdds += (adds.get(realDn) ?? 0) - 1;
    if ((inserts.get(u.uid) ?? 0) > 1) dup.rows += (inserts.get(u.uid) ?? 0) - 1;
    if ((mails.get(u.uid)?.length ?? 0) > 1) dup.mails += (mails.get(u.uid)?.length ?? 0) - 1;
  }
  for (const n of memberAdds.values()) if (n > 1) dup.memberValues += n - 1;
  // Values repeated inside a multi-valued attribute (slapd refuses them, but count anyway).
  for (const attrs of Object.values(d.ldap)) {
    for (const values of Object.values(attrs)) dup.memberValues += values.length - new Set(values).size;
  }
  return { dump: d, lost, dup, leftovers, parked };
}

/** The first place two dumps differ in each part, for a failure message (empty when they are identical). */
export function differences(a: Dump, b: Dump): string[] {
  const out: string[] = [];
  for (const part of ['ldap', 'rows', 'files', 'mails'] as const) {
    const x = a[part] as Record<string, unknown>;
    const y = b[part] as Record<string, unknown>;
    for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
      const [u, v] = [JSON.stringify(x[k]), JSON.stringify(y[k])];
      if (u !== v) {
        out.push(`${part} ${k}: ${u?.slice(0, 300)} vs clean ${v?.slice(0, 300)}`);
        break;
      }
    }
  }
  return out;
}

/** What a chaos file shares: its tmpfs, one slapd with a base per target, a pool to read them, the input. */
export interface World {
  slapd: Slapd;
  pool: LdapPool;
  dir: string;
  input: string;
  /** A directory under test on the tmpfs, with its own base. */
  target(name: string): Target;
  /**
   * False (after a loud notice) when the tmpfs could not be mounted outside CI, so
   * the test skips itself; in CI it throws, as a missing tmpfs is a failure there.
   */
  ready(ctx: { skip(): void }, what: string): boolean;
}

/**
 * Sets up a chaos file's world in beforeAll (tmpfs of `sizeMb`, a slapd with the
 * bases `names`, the users as the input CSV) and takes it down in afterAll.
 */
export function chaosWorld(names: string[], users: User[], sizeMb: number): World {
  let mount: ReturnType<typeof mountTmpfs> | undefined;
  const world = {
    target: (name: string) => target(world.slapd, world.dir, name, world.input),
    ready(ctx: { skip(): void }, what: string) {
      if (mount && !('error' in mount)) return true;
      const why = mount && 'error' in mount ? mount.error : 'not mounted';
      if (process.env.CI === 'true') throw new Error(`${what} needs a tmpfs (CI): ${why}`);
      console.warn(`\n!!! SKIPPING ${what.toUpperCase()}: ${why}; it runs as root with mount. !!!\n`);
      ctx.skip();
      return false;
    },
  } as World;
  beforeAll(async () => {
    // A tmpfs (mode 0700, so a state dir on it passes idem's ownership checks): on disk the campaign is 3x slower.
    mount = mountTmpfs(join(tempDir('idem-chaos-tmpfs-'), 'mnt'), `${sizeMb}m`);
    if ('error' in mount) return;
    world.dir = mount.dir;
    world.slapd = await Slapd.start({ ldif: basesLdif(names) });
    world.pool = adminPool(world.slapd);
    world.input = writeUsers(join(mount.dir, 'users.csv'), users);
  });
  afterAll(async () => {
    await world.pool?.close();
    await world.slapd?.destroy();
    if (mount && !('error' in mount)) mount.unmount();
  });
  return world;
}
