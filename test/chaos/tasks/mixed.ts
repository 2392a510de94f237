/**
 * The chaos suite's mixed task (issue 9): per person of an HR export, the real
 * provisioning steps of tasks/provision-users.ts (an LDAP entry and its group
 * memberships), then a row upserted into a SQLite target, a file written with the
 * fs connector, and a `once` welcome mail written into an outbox folder (one new
 * file per mail, as the demo does: a second send would leave a second file).
 *
 * Env: MIXED_INPUT (the CSV), MIXED_DIR (the targets: app.db, homes/, outbox/), the
 * IDEM_LDAP_* settings of provision-users, and MIXED_CRASH=<before-apply|after-apply>:<step>:<key>
 * (test only): SIGKILL just before, or just after, that step's apply for that record.
 *
 * The SQLite target logs every INSERT of a person (a trigger into `inserts`), so a
 * row written twice shows at the target even though `people` keys on uid.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { csv, defineTask, fs, type ldap, once, type Step, sql, UsageError } from 'idem';
import provision, { type User } from '../../../tasks/provision-users.ts';

interface Ctx extends ldap.LdapContext, sql.SqlContext, fs.FsContext {
  people: string;
  groups: string;
  placeholder: string;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS people (
  uid TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  mail TEXT NOT NULL,
  department TEXT NOT NULL,
  groups TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inserts (uid TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS people_inserted AFTER INSERT ON people
  BEGIN INSERT INTO inserts (uid) VALUES (NEW.uid); END`;

const [crashWhen, crashStep, crashKey] = (process.env.MIXED_CRASH ?? '').split(':');

/** A step that SIGKILLs this process just before or just after its apply for one record. */
function crashing<S extends Step<User, Ctx>>(step: S): S {
  if (!crashWhen || step.name !== crashStep) return step;
  const apply: Step<User, Ctx>['apply'] = async (record, ctx, diff, env) => {
    if (crashWhen === 'before-apply' && env.key === crashKey) process.kill(process.pid, 'SIGKILL');
    await step.apply(record, ctx, diff, env);
    if (crashWhen === 'after-apply' && env.key === crashKey) process.kill(process.pid, 'SIGKILL');
  };
  return Object.assign(Object.create(step) as S, { apply });
}

function welcomeMail(u: User, messageId: string): string {
  return [
    'From: IT onboarding <it@example.org>',
    `To: ${u.givenName} ${u.sn} <${u.mail}>`,
    `Subject: Welcome, ${u.givenName}`,
    `Message-ID: <${messageId}@chaos.idem>`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Hello ${u.givenName}, your account ${u.uid} is ready (groups: ${u.groups.join(', ')}).`,
    '',
  ].join('\r\n');
}

export default defineTask<User, Ctx>({
  name: 'chaos-mixed',
  description: 'HR export → LDAP entry and groups, a SQL row, a file, one welcome mail',
  source: csv(process.env.MIXED_INPUT ?? 'users.csv', {
    fields: ['uid', 'givenName', 'sn', 'mail', 'employeeNumber', 'department', 'groups'],
  }),
  key: 'uid',
  parse: provision.parse as (raw: Record<string, string>) => User,
  ...(provision.validate ? { validate: provision.validate } : {}),
  connect: async (setup): Promise<Ctx> => {
    const dir = setup.env.MIXED_DIR;
    if (!dir) throw new UsageError('MIXED_DIR must name the folder of the targets');
    const directory = (await (provision.connect as NonNullable<typeof provision.connect>)(setup)) as Omit<
      Ctx,
      'sql' | 'fs'
    >;
    return {
      ...directory,
      sql: sql.sqlite(setup, join(resolve(dir), 'app.db'), { init: SCHEMA }),
      fs: fs.root(resolve(dir)),
    };
  },
  ...(provision.classify ? { classify: provision.classify } : {}),
  steps: (u, ctx) => {
    const ldapSteps = (provision.steps as (u: User, ctx: Ctx) => Step<User, Ctx>[])(u, ctx);
    const steps: Step<User, Ctx>[] = [
      ...ldapSteps,
      sql.upsert(
        'people',
        ['uid'],
        {
          uid: u.uid,
          display_name: `${u.givenName} ${u.sn}`,
          mail: u.mail,
          department: u.department,
          groups: u.groups.join(';'),
        },
        { name: 'row' },
      ),
      fs.ensureFile(
        `homes/${u.uid}.toml`,
        `uid = "${u.uid}"\nmail = "${u.mail}"\ndepartment = "${u.department}"\n`,
        { mode: 0o640, name: 'file' },
      ),
      once('welcome-mail', async (user: User, c: Ctx) => {
        const { abs: outbox } = await c.fs.resolve('outbox');
        await mkdir(outbox, { recursive: true });
        const id = randomBytes(6).toString('hex');
        // A new file per mail, never overwritten: a second send shows as a second file.
        const { abs } = await c.fs.resolve(`outbox/${user.uid}.${id}.eml`);
        // Its temporary goes to the base's .idem-tmp/, never into outbox/ where a pickup reads.
        await c.fs.writeAtomic(abs, welcomeMail(user, id), 0o644);
      }),
    ];
    return steps.map(crashing);
  },
  concurrency: 64,
});
