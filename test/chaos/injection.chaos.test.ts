/**
 * Injection payloads for `npm run test:chaos` (issue 9): hostile values (LDAP filter
 * metacharacters, DN specials, `\00`, `../` and absolute paths, shell command
 * substitution, backticks, `;`, `|`, `&&`, a newline, a NUL byte, an option-like
 * `-rf`) through
 *
 * - the LDAP task (tasks/provision-users.ts, the built CLI, a private slapd) as uid,
 *   as part of cn (the surname) and as a group name: uids and group names are
 *   validated (refused as `invalid`), a surname is written literally;
 * - the fs connector as the whole path of a folder and a file under a base folder;
 * - the cmd connector as an argument of a real program that records its argv.
 *
 * Figures come from the targets: slapd searched directly with escaped equality
 * filters (a payload matches its own entry only; a victim entry and group stay as
 * they were; no entry or group beyond the expected ones), the files under the test's
 * folder listed before and after (nothing changed outside the base), the argv the
 * program recorded (each payload arrived as one literal argument), and the sentinel
 * file the shell payloads would create (it never exists).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Client, type Entry, EqualityFilter } from 'ldapts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { run as runCommand } from '../../src/connectors/cmd/index.ts';
import { ensureDir, ensureFile, root } from '../../src/connectors/fs/index.ts';
import { snapshot } from '../connectors/fs/snapshot.ts';
import { engineFor } from '../connectors/helpers.ts';
import { runTask, writeUsers } from '../ldap/provision-support.ts';
import { describeLdap } from '../ldap/slapd-env.ts';
import type { User } from '../ldap/users.ts';
import { ndjson, ROOT } from '../support/cli.ts';
import { Slapd } from '../support/slapd.ts';
import { tempDir } from '../support/temp.ts';
import { asAdmin } from './support/as-admin.ts';
import { chaosRow } from './support/table.ts';

const parent = tempDir('chaos-inject-');
const base = join(parent, 'base');
const outside = join(parent, 'outside');
const SENTINEL = join(parent, 'SENTINEL');
const work = tempDir('chaos-inject-work-');

/** The hostile values; the shell ones would create SENTINEL if anything ran them through a shell. */
const PAYLOADS: string[] = [
  '*)(uid=*',
  '*',
  'admin)(|(uid=*))',
  'x\\00y',
  'cn=evil,dc=example,dc=com',
  'a,b',
  'a+cn=b',
  '"quoted"',
  'back\\slash',
  '<angle>',
  'semi;colon',
  'eq=ual',
  '#hash',
  ' lead',
  '..',
  '../../outside/pwned',
  '/etc/passwd',
  join(outside, 'pwned'),
  `$(touch ${SENTINEL})`,
  `\`touch ${SENTINEL}\``,
  `; touch ${SENTINEL}`,
  `| touch ${SENTINEL}`,
  `&& touch ${SENTINEL}`,
  `x\ntouch ${SENTINEL}`,
  'nul\0byte',
  '-rf',
];

const BASE_DN = 'dc=example,dc=com';
/** The task's rule for uids and group names (tasks/provision-users.ts). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A value as the CSV source reads it back: unquoted fields are trimmed (writeUsers quotes `"`, `,` and LF). */
const csvValue = (v: string) => (/[",\n]/.test(v) ? v : v.trim());
const VICTIM = `uid=victim,ou=people,${BASE_DN}`;
const VICTIMS = `cn=victims,ou=groups,${BASE_DN}`;
const SEED = [
  `dn: ${VICTIM}\nobjectClass: inetOrgPerson\nuid: victim\ncn: Victim One\nsn: One\nmail: victim@example.com`,
  `dn: ${VICTIMS}\nobjectClass: groupOfNames\ncn: victims\nmember: ${VICTIM}`,
].join('\n\n');

/** Where the fs connector puts a relative path: `/` and `\` both separate segments. */
const fsSegments = (path: string) => path.split(/[\\/]+/).filter((x) => x !== '' && x !== '.');

/** Files outside the base folder: the parent's listing without the base. */
function outsideBase(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(snapshot(parent)).filter(([p]) => p !== base && !p.startsWith(`${base}/`)),
  );
}

/** Sentinel files wherever a payload's command could have run (the parent, the base, the CLI's folder). */
function sentinels(): string[] {
  return [SENTINEL, join(base, 'SENTINEL'), join(ROOT, 'SENTINEL'), join(work, 'SENTINEL')].filter((p) =>
    existsSync(p),
  );
}

let listedBefore: Record<string, string>;

beforeAll(() => {
  mkdirSync(base);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'do not touch\n');
  listedBefore = outsideBase();
});

describeLdap('chaos: injection payloads through the LDAP task', () => {
  let slapd: Slapd;
  beforeAll(async () => {
    slapd = await Slapd.start({ ldif: SEED });
  }, 60_000);
  afterAll(async () => {
    await slapd?.destroy();
  });

  const search = async (c: Client, filter: EqualityFilter | string, scope: 'sub' | 'one' = 'sub') =>
    (await c.search(BASE_DN, { scope, filter, attributes: ['*'] })).searchEntries;
  const same = (a: Entry | undefined, b: Entry | undefined) => JSON.stringify(a) === JSON.stringify(b);

  it('uids and group names are refused, surnames written literally; no extra match, the victim untouched', {
    timeout: 180_000,
  }, async () => {
    const person = (uid: string, sn: string, groups: string[]): User => ({
      uid,
      givenName: 'Inj',
      sn,
      mail: '',
      employeeNumber: '',
      department: '',
      groups,
    });
    const rows = PAYLOADS.flatMap((p, i) => [
      { field: 'uid', payload: p, user: person(p, 'Uid', []) },
      { field: 'cn', payload: p, user: person(`cn${i}`, p, []) },
      // The group list is split at ";" (the task's separator): that payload stays one value here.
      { field: 'group', payload: p, user: person(`grp${i}`, 'Grp', [p]) },
    ]);
    let victimBefore: Entry[] = [];
    let victimsBefore: Entry[] = [];
    await asAdmin(slapd, async (c) => {
      victimBefore = await search(c, new EqualityFilter({ attribute: 'uid', value: 'victim' }));
      victimsBefore = await search(c, new EqualityFilter({ attribute: 'cn', value: 'victims' }));
    });
    const csv = writeUsers(
      join(work, 'users.csv'),
      rows.map((r) => r.user),
    );
    const r = await runTask(['--state-dir', join(work, 'state'), '--input', csv, '--json'], slapd.env());
    // By line: a row the CSV source refuses (a NUL byte) has no key to find it by.
    const records = new Map(
      ndjson(r.stdout)
        .filter((e) => e.type === 'record')
        .map((e) => [e.line as number, e]),
    );

    const problems: string[] = [];
    let refused = 0;
    let literal = 0;
    let extra = 0;
    let groupsWritten = 0;
    const byField: Record<string, number> = {};
    await asAdmin(slapd, async (c) => {
      let line = 2; // the header is line 1; a quoted line feed makes a row two lines long
      for (const row of rows) {
        const value = csvValue(row.payload);
        const rec = records.get(line);
        line += 1 + Object.values(row.user).join('').split('\n').length - 1;
        const outcome = rec?.outcome ?? 'none';
        const where = `${row.field} ${JSON.stringify(row.payload)}`;
        const pieces = value
          .split(';')
          .map((g) => g.trim())
          .filter(Boolean);
        const valid =
          row.field === 'cn'
            ? !value.includes('\0')
            : row.field === 'uid'
              ? NAME.test(value)
              : pieces.every((g) => NAME.test(g));
        if (!valid) {
          if (outcome === 'invalid') {
            refused++;
            byField[row.field] = (byField[row.field] ?? 0) + 1;
          } else
            problems.push(`${where}: ${outcome}, but it should be refused: ${rec?.error?.message ?? ''}`);
        } else if (outcome !== 'changed') problems.push(`${where}: ${outcome} ${rec?.error?.message ?? ''}`);
        // Only entries that hold the value literally match an escaped equality filter.
        const attribute = row.field === 'uid' ? 'uid' : row.field === 'cn' ? 'sn' : 'cn';
        const matches = valid
          ? await search(
              c,
              new EqualityFilter({ attribute, value: row.field === 'group' ? (pieces[0] as string) : value }),
            )
          : await search(c, new EqualityFilter({ attribute, value: row.payload }));
        const want = valid ? 1 : 0;
        if (matches.length !== want) {
          extra += Math.max(0, matches.length - want);
          problems.push(`${where}: ${matches.length} entries match, expected ${want}`);
        }
        if (!valid) continue;
        const e = matches[0];
        const exact =
          row.field === 'cn'
            ? e?.sn === value && e?.cn === `Inj ${value}` && e?.uid === row.user.uid
            : row.field === 'uid'
              ? e?.uid === value && e?.dn === `uid=${value},ou=people,${BASE_DN}`
              : e?.dn === `cn=${pieces[0]},ou=groups,${BASE_DN}`;
        if (exact) literal++;
        else problems.push(`${where}: written as ${JSON.stringify(e)}`);
        if (row.field === 'group') groupsWritten += pieces.length;
      }
      const people = await search(c, '(objectClass=inetOrgPerson)');
      const groups = await search(c, '(objectClass=groupOfNames)');
      const wantPeople = 1 + [...records.values()].filter((x) => x.outcome === 'changed').length;
      extra += Math.max(0, people.length - wantPeople) + Math.max(0, groups.length - 1 - groupsWritten);
      if (people.length !== wantPeople) problems.push(`${people.length} people, expected ${wantPeople}`);
      if (groups.length !== 1 + groupsWritten)
        problems.push(`${groups.length} groups, expected ${1 + groupsWritten}`);
      const victimNow = await search(c, new EqualityFilter({ attribute: 'uid', value: 'victim' }));
      const victimsNow = await search(c, new EqualityFilter({ attribute: 'cn', value: 'victims' }));
      if (!same(victimNow[0], victimBefore[0]) || !same(victimsNow[0], victimsBefore[0])) {
        extra++;
        problems.push(`the victim changed: ${JSON.stringify([victimNow, victimsNow])}`);
      }
    });
    chaosRow({
      test: 'injection payloads: extra LDAP matches (task: uid, cn, group name)',
      count: rows.length,
      bound: '0, the victim entry and group unchanged, every value written literally or refused',
      result: `${extra}; ${refused} refused as invalid (${Object.entries(byField)
        .map(([f, n]) => `${f} ${n}`)
        .join(', ')}), ${literal} written literally (trimmed as the CSV source trims), exit ${r.exitCode}`,
      ok: extra === 0 && problems.length === 0,
    });
    expect(problems, String(r.stderr).slice(0, 3000)).toEqual([]);
  });
});

it('chaos: injection payloads as fs paths and cmd arguments', { timeout: 120_000 }, async () => {
  const rows = PAYLOADS.map((p, i) => ({ id: `p${i}`, payload: p }));
  const problems: string[] = [];

  // fs: the payload is the whole path (no prefix defuses an absolute path or a `..`).
  const fsEngine = engineFor({ fs: root(base) }, (r) => [
    ensureDir(r.payload as string),
    ensureFile(`${r.payload}/note.txt`, 'injected\n'),
  ]);
  const fsRun = await fsEngine.run(rows);
  let fsRefused = 0;
  let fsLiteral = 0;
  for (const row of rows) {
    const rec = fsRun.reporter.records.find((x) => x.key === row.id);
    if (rec?.outcome === 'invalid') fsRefused++;
    else if (
      rec?.outcome === 'changed' &&
      readFileSync(join(base, ...fsSegments(row.payload), 'note.txt'), 'utf8') === 'injected\n'
    )
      fsLiteral++;
    else problems.push(`fs ${JSON.stringify(row.payload)}: ${rec?.outcome} ${rec?.error?.message ?? ''}`);
  }

  // cmd: a real program that appends the arguments it got (after the log path) as one JSON line.
  const argvLog = join(base, 'argv.jsonl');
  const script = join(work, 'argv.cjs');
  writeFileSync(
    script,
    "require('node:fs').appendFileSync(process.argv[2], JSON.stringify(process.argv.slice(3)) + '\\n');\n",
  );
  const cmdEngine = engineFor({}, (r) => [
    runCommand({
      name: 'record argv',
      command: process.execPath,
      args: [script, argvLog, '--', r.payload as string],
      cwd: base,
      timeout: 20_000,
    }),
  ]);
  const cmdRun = await cmdEngine.run(rows);
  const seen = existsSync(argvLog)
    ? readFileSync(argvLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string[])
    : [];
  let cmdRefused = 0;
  let cmdLiteral = 0;
  for (const row of rows) {
    const rec = cmdRun.reporter.records.find((x) => x.key === row.id);
    const got = seen.filter((a) => a.length === 2 && a[0] === '--' && a[1] === row.payload).length;
    if (rec?.outcome === 'changed' && got === 1) cmdLiteral++;
    else if (rec?.outcome !== 'changed' && got === 0) cmdRefused++;
    else problems.push(`cmd ${JSON.stringify(row.payload)}: ${rec?.outcome}, argv seen ${got} times`);
  }
  if (seen.length !== cmdLiteral) problems.push(`cmd: ${seen.length} argv lines for ${cmdLiteral} runs`);

  const listedAfter = outsideBase();
  const changedOutside = [
    ...Object.keys(listedAfter).filter((p) => listedAfter[p] !== listedBefore[p]),
    ...Object.keys(listedBefore).filter((p) => !(p in listedAfter)),
  ];
  const found = sentinels();
  chaosRow({
    test: 'injection payloads: writes outside the base (fs paths)',
    count: rows.length,
    bound: '0 (files under the parent listed before and after)',
    result: `${changedOutside.length}; ${fsRefused} refused as invalid, ${fsLiteral} written literally under the base`,
    ok: changedOutside.length === 0 && fsRefused + fsLiteral === rows.length,
  });
  chaosRow({
    test: 'injection payloads: sentinel files (cmd arguments, and every payload above)',
    count: rows.length,
    bound: '0, every argument passed as one literal argv entry',
    result: `${found.length}; ${cmdLiteral} passed literally, ${cmdRefused} refused before the program ran`,
    ok: found.length === 0 && cmdLiteral + cmdRefused === rows.length,
  });
  expect(problems).toEqual([]);
  expect(changedOutside).toEqual([]);
  expect(found).toEqual([]);
});
