/**
 * idem as a scheduler runs it. First the way cron starts any job (an
 * environment of PATH and HOME only, HOME as the working directory, no TTY);
 * then the README's own crontab line, taken from the README, over three
 * "nights" against a private slapd: killed in the first, a new HR export each
 * night, and every night makes progress.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LdapPool } from '../../src/connectors/ldap/pool.ts';
import { poolFor } from '../ldap/helpers.ts';
import { expectDirectory, makeUsers, type User, writeUsers } from '../ldap/provision-support.ts';
import { describeLdap } from '../ldap/slapd-env.ts';
import { BIN, openLedger, ROOT, tempDir } from '../support/cli.ts';
import { Slapd } from '../support/slapd.ts';
import { until } from '../support/wait.ts';
import { committed, holdLock, lockHolder } from './support/kv-world.ts';
import { parsePrometheus, sample } from './support/prometheus.ts';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The fenced block under `<!-- readme-example: name -->` in the README. */
function readmeExample(name: string): string {
  const marker = README.indexOf(`<!-- readme-example: ${name} -->`);
  if (marker < 0) throw new Error(`README has no example ${name}`);
  const m = /```[a-z]*\n([\s\S]*?)\n```/.exec(README.slice(marker));
  if (!m) throw new Error(`no code block after the example marker ${name}`);
  return m[1] as string;
}

/** No escape sequences, carriage returns or other control characters: only text, tabs and newlines. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** Runs the built CLI as cron runs a job: PATH and HOME only, in HOME, no TTY. */
function asCron(home: string, args: string[], env: Record<string, string> = {}) {
  return execa(process.execPath, [BIN, ...args], {
    cwd: home,
    env: { PATH: '/usr/bin:/bin', HOME: home, ...env },
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
  });
}

describe('idem run as cron runs it', () => {
  it('plain output, the state folder next to the task file (or IDEM_STATE_DIR), the documented exit codes', async () => {
    const tasks = tempDir('idem-cron-tasks-');
    const home = tempDir('idem-cron-home-');
    const task = join(tasks, 'greet.ts');
    writeFileSync(task, readmeExample('tasks/greet.ts'));
    writeFileSync(
      join(tasks, 'people.csv'),
      'login,name,team\nada,Ada Lovelace,eng\ngrace,Grace Hopper,eng\n',
    );

    const first = await asCron(home, ['run', task, '--detailed-exitcode']);
    expect(first.exitCode, String(first.stderr)).toBe(5);
    const second = await asCron(home, ['run', task, '-q']);
    expect(second.exitCode).toBe(0);
    for (const r of [first, second]) {
      expect(CONTROL.test(String(r.stdout)), JSON.stringify(r.stdout)).toBe(false);
      expect(CONTROL.test(String(r.stderr)), JSON.stringify(r.stderr)).toBe(false);
    }
    // -q on a quiet night: the start line and one recap line, each with the time and the run id.
    expect(String(second.stderr)).toMatch(
      /^idem: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d run (r-\S+) of task greet: 2 records$/,
    );
    expect(String(second.stdout)).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d run r-\S+ of task greet: succeeded in \S+ · changed=0 ok=2 failed=0 invalid=0 skipped=0 in-doubt=0 absorbed=0$/,
    );
    // The state folder is .idem/ next to the task file, not the working directory.
    expect(existsSync(join(tasks, '.idem', 'ledger.db'))).toBe(true);
    expect(existsSync(join(home, '.idem'))).toBe(false);
    const elsewhere = join(home, 'state');
    // A ledger in another folder knows nothing of the welcome notes already written: they are held
    // in doubt, never written twice (exit 3), until the population is adopted.
    const moved = await asCron(home, ['run', task], { IDEM_STATE_DIR: elsewhere });
    expect(moved.exitCode).toBe(3);
    expect(moved.stdout).toContain('welcome-note for ada is held');
    expect(existsSync(join(elsewhere, 'ledger.db'))).toBe(true);
    const adopted = await asCron(home, ['run', task, '--adopt-effects'], { IDEM_STATE_DIR: elsewhere });
    expect(adopted.exitCode).toBe(0);

    // 2: an input that is not there. 3: a record that is invalid. 75: the lock is held.
    const missing = await asCron(home, ['run', task, '--input', join(tasks, 'nope.csv')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toBe(`idem: input ${join(tasks, 'nope.csv')} does not exist`);
    writeFileSync(join(tasks, 'people.csv'), 'login,name,team\nada,Ada Lovelace,eng\nNot Valid,X,eng\n');
    const invalid = await asCron(home, ['run', task]);
    expect(invalid.exitCode).toBe(3);
    expect(invalid.stdout).toContain(
      'invalid  Not Valid (line 3)\n    login "Not Valid" is not a valid name',
    );
    const { child: holder } = await holdLock(join(tasks, '.idem', 'locks'), 'greet', hostname());
    try {
      const locked = await asCron(home, ['run', task, '--resume', '-q']);
      expect(locked.exitCode).toBe(75);
      expect(locked.stderr).toContain(
        `idem: task greet is locked by pid ${holder.pid} on host ${hostname()}`,
      );
    } finally {
      holder.kill('SIGKILL');
      await holder;
    }
    // The morning after, from the same bare environment.
    const status = await asCron(home, ['status', task]);
    expect(status.exitCode).toBe(3);
    expect(CONTROL.test(String(status.stdout))).toBe(false);
    expect(status.stdout).toContain('task greet: needs attention');
  });
});

/** The README's crontab line, with its paths mapped into a test folder, and its env file. */
function cronNight(dir: string, slapd: Slapd) {
  const line = readmeExample('crontab');
  const fields = line.split(' ');
  expect(fields.slice(0, 5)).toEqual(['0', '2', '*', '*', '*']);
  const paths: Record<string, string> = {
    '/usr/bin/node': process.execPath,
    '/opt/idem': ROOT.replace(/\/$/, ''),
    '/etc/idem/provision.env': join(dir, 'provision.env'),
    '/etc/idem/ldap.pw': join(dir, 'ldap.pw'),
    '/srv/hr/export.csv': join(dir, 'export.csv'),
    '/var/lib/node_exporter/textfile/idem-provision.prom': join(dir, 'idem-provision.prom'),
    '/var/log/idem/provision.log': join(dir, 'provision.log'),
  };
  let command = fields.slice(5).join(' ');
  // Every path the line names is one the test maps: the README cannot grow one it does not.
  for (const p of command.match(/(?<=^|[\s=])\/[\w./-]+/g) ?? [])
    expect(
      Object.keys(paths).some((k) => p === k || p.startsWith(`${k}/`)),
      p,
    ).toBe(true);
  for (const [from, to] of Object.entries(paths)) command = command.split(from).join(to);

  // The env file, as the README writes it, with this server's values.
  const envFile = readmeExample('/etc/idem/provision.env');
  const settings = envFile
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => /^([A-Z_]+)="([^"]*)"$/.exec(l)?.slice(1) as [string, string]);
  expect(settings.map(([k]) => k)).toEqual([
    'IDEM_STATE_DIR',
    'IDEM_LDAP_URL',
    'IDEM_LDAP_BASE',
    'IDEM_LDAP_BIND_DN',
  ]);
  expect(Object.fromEntries(settings).IDEM_LDAP_BASE).toBe(slapd.baseDn);
  const mine: Record<string, string> = {
    IDEM_STATE_DIR: join(dir, 'state'),
    IDEM_LDAP_URL: slapd.url,
    IDEM_LDAP_BASE: slapd.baseDn,
    IDEM_LDAP_BIND_DN: slapd.adminDn,
  };
  writeFileSync(
    join(dir, 'provision.env'),
    `${envFile
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .join('\n')}\n${Object.entries(mine)
      .map(([k, v]) => `${k}="${v}"`)
      .join('\n')}\n`,
    { mode: 0o600 },
  );
  writeFileSync(join(dir, 'ldap.pw'), `${slapd.adminPassword}\n`, { mode: 0o600 });
  const home = join(dir, 'home');
  mkdirSync(home);
  return {
    state: join(dir, 'state'),
    log: join(dir, 'provision.log'),
    prom: join(dir, 'idem-provision.prom'),
    export: (users: User[]) => writeUsers(join(dir, 'export.csv'), users),
    /** One night: cron runs the line with /bin/sh, in HOME, with PATH and HOME only. */
    night: () =>
      execa('/bin/sh', ['-c', command], {
        cwd: home,
        env: { PATH: '/usr/bin:/bin', HOME: home, SHELL: '/bin/sh', LOGNAME: 'idem' },
        extendEnv: false,
        stdin: 'ignore',
        reject: false,
      }),
  };
}

describeLdap("the README's crontab line, three nights", () => {
  let slapd: Slapd;
  let pool: LdapPool;
  beforeAll(async () => {
    slapd = await Slapd.start();
    pool = poolFor(slapd);
  });
  afterAll(async () => {
    await pool?.close();
    await slapd?.destroy();
  });

  it('a crash in the first night and a new export every night: every night makes progress', async () => {
    const cron = cronNight(tempDir('idem-cron-ldap-'), slapd);
    const runs = () => {
      const db = openLedger(cron.state);
      try {
        return db.prepare('SELECT id, status FROM runs ORDER BY started_at').all() as {
          id: string;
          status: string;
        }[];
      } finally {
        db.close();
      }
    };

    // Night 1: 1,500 people; the process is killed (kill -9) part way.
    const night1Users = makeUsers(1500, { plain: true });
    cron.export(night1Users);
    const night1 = cron.night();
    await until(
      'night 1 has recorded outcomes',
      () => committed(cron.state) >= 100 && Boolean(lockHolder(cron.state, 'provision-users')),
      120_000,
    );
    process.kill(lockHolder(cron.state, 'provision-users')?.pid as number, 'SIGKILL');
    const killed = await night1;
    expect(killed.exitCode).not.toBe(0);
    const afterNight1 = runs();
    expect(afterNight1).toEqual([{ id: expect.any(String), status: 'running' }]);
    const done1 = committed(cron.state);
    expect(done1).toBeGreaterThanOrEqual(100);
    expect(done1).toBeLessThan(1500);
    const people1 = await pool.search(slapd.peopleDn, {
      scope: 'one',
      filter: '(objectClass=inetOrgPerson)',
    });
    expect(people1.length).toBeGreaterThanOrEqual(100);

    // Night 2: a new export (mail changes, 20 new people). --resume cannot continue night 1: it supersedes it.
    const night2Users = [
      ...night1Users.map((u, i) => (i < 5 ? { ...u, mail: `${u.uid}@new.example.com` } : u)),
      ...makeUsers(1520, { plain: true }).slice(1500),
    ];
    cron.export(night2Users);
    const night2 = await cron.night();
    expect(night2.exitCode, readFileSync(cron.log, 'utf8')).toBe(0);
    await expectDirectory(pool, slapd, night2Users);
    const afterNight2 = runs();
    expect(afterNight2.map((r) => r.status)).toEqual(['superseded', 'succeeded']);

    // Night 3: departments change, 10 more people.
    const night3Users = [
      ...night2Users.map((u, i) =>
        i % 100 === 7 ? { ...u, department: 'research', groups: ['staff', 'research'] } : u,
      ),
      ...makeUsers(1530, { plain: true }).slice(1520),
    ];
    cron.export(night3Users);
    const night3 = await cron.night();
    expect(night3.exitCode, readFileSync(cron.log, 'utf8')).toBe(0);
    await expectDirectory(pool, slapd, night3Users);
    const all = runs();
    expect(all.map((r) => r.status)).toEqual(['superseded', 'succeeded', 'succeeded']);

    // The appended log ties each night to its run: a start line per night, the warning, a recap line.
    const log = readFileSync(cron.log, 'utf8');
    expect(CONTROL.test(log)).toBe(false);
    const T = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d [+-]\\d\\d:\\d\\d';
    for (const [i, r] of all.entries()) {
      const records = [1500, 1520, 1530][i];
      // Nights 1 and 3 found nothing unfinished: their start line says so; night 2 superseded night 1's run.
      const fresh = i === 1 ? '' : ' \\(no unfinished run to resume\\)';
      expect(log).toMatch(
        new RegExp(`^idem: ${T} run ${r.id} of task provision-users: ${records} records${fresh}$`, 'm'),
      );
    }
    expect(log).toMatch(
      new RegExp(
        `^idem: run ${all[0]?.id} of task provision-users did not finish and the input \\S+ changed \\(sha256 \\S+ then, \\S+ now\\) since run ${all[0]?.id} started: it is superseded by a new run that re-checks every record$`,
        'm',
      ),
    );
    expect(log).toMatch(
      new RegExp(
        `^warning: run ${all[0]?.id} did not finish and its input changed since; it is superseded by this run`,
        'm',
      ),
    );
    for (const r of all.slice(1))
      expect(log).toMatch(
        new RegExp(
          `^${T} run ${r.id} of task provision-users: succeeded in \\S+ · changed=\\d+ ok=\\d+ failed=0 `,
          'm',
        ),
      );

    // And the metrics file says the last night succeeded.
    const metrics = parsePrometheus(readFileSync(cron.prom, 'utf8'));
    expect(
      sample(metrics, 'idem_last_run_timestamp_seconds', { task: 'provision-users', status: 'succeeded' }),
    ).toBeGreaterThan(0);
    expect(sample(metrics, 'idem_records_total', { task: 'provision-users', outcome: 'failed' })).toBe(0);
  });
});
