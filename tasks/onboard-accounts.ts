/**
 * The embedded demo: onboards the accounts of fixtures/accounts.csv with nothing
 * but Node. Everything it makes lives under one demo folder: `demo/` at the
 * root of the repository (git ignores it), or `$IDEM_DEMO_DIR`.
 *
 * Per account (columns id,login,name,email,role) it ensures:
 * 1. a row in the `accounts` table of a local SQLite app database (`app.db`);
 * 2. a home folder `homes/<login>/` (0750) with a skeleton `settings.toml` (0640);
 * 3. a line `<login>:<role>` in the access list `access.list`;
 * 4. a welcome mail, sent once: a new file in `outbox/` per mail, the stand-in
 *    for SMTP (sending twice would leave two files, as SMTP would leave two mails).
 *
 * @example
 * node bin/idem.js run tasks/onboard-accounts.ts --dry-run   # the plan; creates nothing
 * node bin/idem.js run tasks/onboard-accounts.ts             # changed=50
 * node bin/idem.js run tasks/onboard-accounts.ts             # changed=0, writes nothing
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { csv, defineTask, fs, once, sql } from 'idem';

interface Account {
  id: string;
  login: string;
  name: string;
  email: string;
  role: 'user' | 'dev' | 'ops' | 'admin';
}

interface Ctx extends sql.SqlContext, fs.FsContext {
  demoDir: string;
}

const ROLES = new Set(['user', 'dev', 'ops', 'admin']);
const LOGIN = /^[a-z][a-z0-9._-]{0,31}$/;

const SCHEMA = `CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  login TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  email TEXT NOT NULL,
  role TEXT NOT NULL
)`;

const SETTINGS = `# Skeleton settings for {{ login }}, made by idem's demo task.
[account]
login = "{{ login }}"
name = "{{ name }}"
email = "{{ email }}"

[shell]
program = "/bin/bash"
editor = "vi"
`;

/** The welcome mail, as an SMTP server would receive it. */
function welcomeMail(a: Account, at: Date, messageId: string): string {
  return [
    'From: IT onboarding <it@example.org>',
    `To: ${a.name} <${a.email}>`,
    `Subject: Welcome, ${a.name}`,
    `Date: ${at.toUTCString()}`,
    `Message-ID: <${messageId}@demo.idem>`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Hello ${a.name},`,
    '',
    `your account ${a.login} is ready, with the role ${a.role}.`,
    '',
    '-- IT',
    '',
  ].join('\r\n');
}

export default defineTask({
  name: 'onboard-accounts',
  description: 'accounts.csv → app database row, home folder, access list line, one welcome mail',
  source: csv('../fixtures/accounts.csv', { fields: ['id', 'login', 'name', 'email', 'role'] }),
  key: 'id',
  parse: (raw): Account => ({
    ...raw,
    role: raw.role as Account['role'],
  }),
  validate: (a) => {
    const problems: string[] = [];
    if (!LOGIN.test(a.login)) problems.push(`login "${a.login}" is not a valid login name`);
    if (!/^[^@\s]+@[^@\s]+$/.test(a.email)) problems.push(`email "${a.email}" is not an address`);
    if (!ROLES.has(a.role)) problems.push(`role "${a.role}" is not one of ${[...ROLES].join(', ')}`);
    if (a.name.trim() === '' || /[\r\n"]/.test(a.name)) problems.push('name is empty or holds a quote');
    return problems;
  },
  // Nothing is created here: the database file and the folders appear at the first write,
  // so a dry run on a fresh machine leaves no trace.
  connect(setup): Ctx {
    const demoDir = resolve(setup.env.IDEM_DEMO_DIR || join(setup.taskDir, '..', 'demo'));
    return {
      sql: sql.sqlite(setup, join(demoDir, 'app.db'), { init: SCHEMA }),
      fs: fs.root(demoDir),
      demoDir,
    };
  },
  steps: (a) => [
    sql.upsert(
      'accounts',
      ['id'],
      { id: a.id, login: a.login, display_name: a.name, email: a.email, role: a.role },
      { name: 'account' },
    ),
    fs.ensureDir(`homes/${a.login}`, { mode: 0o750, name: 'home' }),
    fs.ensureFile(
      `homes/${a.login}/settings.toml`,
      { template: SETTINGS, values: { login: a.login, name: a.name, email: a.email } },
      { mode: 0o640, name: 'settings' },
    ),
    fs.ensureLine('access.list', `${a.login}:${a.role}`, {
      match: new RegExp(`^${a.login.replace(/[.]/g, '\\.')}:`),
      mode: 0o644,
      name: 'access',
    }),
    once('welcome-mail', async (account: Account, ctx: Ctx) => {
      const { abs: outbox } = await ctx.fs.resolve('outbox');
      await mkdir(outbox, { recursive: true });
      const at = new Date();
      const id = `${at.getTime()}-${randomBytes(4).toString('hex')}`;
      // A new file per mail, never overwritten: a second send would show as a second file.
      const { abs } = await ctx.fs.resolve(`outbox/${id}-${account.login}.eml`);
      await ctx.fs.writeAtomic(abs, welcomeMail(account, at, id), 0o644);
    }),
  ],
});
