/**
 * Type tests, checked by `tsc --noEmit` (never run): a step that needs a client
 * from the task's context (`ctx.fs`, `ctx.sql`, `ctx.http`, `ctx.ldap`) does
 * not compile in a task whose `connect` gives none. Each `@ts-expect-error`
 * fails the type-check if its error goes away. Imported from 'idem' as a task
 * is (the built declarations: `npm run build` first).
 */
import { cmd, csv, defineTask, fs, http, ldap, sql } from 'idem';

type Row = { id: string };
const source = csv('rows.csv');
const parse = (raw: Record<string, string>): Row => ({ id: raw.id ?? '' });
declare const root: fs.FsRoot;
declare const db: sql.SqlConnection;
declare const api: http.HttpClient;
declare const pool: ldap.LdapPool;

// A connect that returns something, but not the client the steps need.
const noClient = () => ({ db: 'app.db' });

export const fsWithout = defineTask({
  name: 'fs-without',
  source,
  key: 'id',
  parse,
  // @ts-expect-error: fs.ensureDir needs ctx.fs
  connect: noClient,
  steps: (r) => [fs.ensureDir(`homes/${r.id}`)],
});

export const sqlWithout = defineTask({
  name: 'sql-without',
  source,
  key: 'id',
  parse,
  // @ts-expect-error: sql.upsert needs ctx.sql
  connect: noClient,
  steps: (r) => [sql.upsert('accounts', ['id'], { id: r.id })],
});

export const httpWithout = defineTask({
  name: 'http-without',
  source,
  key: 'id',
  parse,
  // @ts-expect-error: http.ensureResource needs ctx.http
  connect: noClient,
  steps: (r) => [http.ensureResource({ url: http.urlPath`/users/${r.id}`, desired: { id: r.id } })],
});

export const ldapWithout = defineTask({
  name: 'ldap-without',
  source,
  key: 'id',
  parse,
  // @ts-expect-error: ldap.ensureEntry needs ctx.ldap
  connect: noClient,
  steps: (r) => [ldap.ensureEntry(`uid=${r.id},dc=example,dc=com`, { uid: r.id })],
});

// The same mistakes when the task names its context type: each step does not fit.
type Ctx = { db: string };
export const typedWithout = defineTask<Row, Ctx>({
  name: 'typed-without',
  source,
  key: 'id',
  parse,
  connect: noClient,
  steps: [
    // @ts-expect-error: needs ctx.fs
    fs.ensureFile('motd', 'hello\n'),
    // @ts-expect-error: needs ctx.fs
    fs.ensureLine('access.list', 'ada'),
    // @ts-expect-error: needs ctx.fs
    fs.ensureAbsent('old'),
    // @ts-expect-error: needs ctx.sql
    sql.ensureRow('accounts', ['id'], { id: 'u1' }),
    // @ts-expect-error: needs ctx.sql
    sql.ensureAbsentRow('accounts', { id: 'u1' }),
    // @ts-expect-error: needs ctx.http
    http.post({ url: '/invites', body: {} }),
    // @ts-expect-error: needs ctx.ldap
    ldap.ensureMember('cn=staff,dc=example,dc=com', 'uid=ada,dc=example,dc=com'),
    // A command needs nothing from the context.
    cmd.run({ command: 'true', timeout: 1000 }),
  ],
});

// The positive cases: the context has the client, or the step was given its own.
export const withClients = defineTask({
  name: 'with-clients',
  source,
  key: 'id',
  parse,
  connect: () => ({ fs: root, sql: db, http: api, ldap: pool, db: 'app.db' }),
  steps: (r) => [
    fs.ensureDir(`homes/${r.id}`),
    fs.ensureFile(`homes/${r.id}/.profile`, 'shell = "bash"\n', { mode: 0o640 }),
    sql.upsert('accounts', ['id'], { id: r.id }),
    http.ensureResource({ url: http.urlPath`/users/${r.id}`, desired: { id: r.id } }),
    http.post({ url: '/invites', body: { id: r.id } }),
    ldap.ensureEntry({ base: 'dc=example,dc=com', attribute: 'uid', value: r.id }, { uid: r.id }),
    cmd.run({ command: 'true', timeout: 1000 }),
  ],
});

export const ownClients = defineTask<Row, Ctx>({
  name: 'own-clients',
  source,
  key: 'id',
  parse,
  connect: noClient,
  steps: (r) => [
    fs.ensureDir(`homes/${r.id}`, { root }),
    fs.ensureFile(`homes/${r.id}/.profile`, 'shell = "bash"\n', { root, mode: 0o640 }),
    fs.ensureLine('access.list', r.id, { root }),
    fs.ensureAbsent(`old/${r.id}`, { root }),
    sql.upsert('accounts', ['id'], { id: r.id }, { connection: db }),
    sql.ensureRow('accounts', ['id'], { id: r.id }, { connection: db }),
    sql.ensureAbsentRow('accounts', { id: r.id }, { connection: db }),
    http.ensureResource({ url: '/users', desired: {}, client: api }),
    http.post({ url: '/invites', body: { id: r.id }, client: api }),
    cmd.run({ command: 'true', timeout: 1000 }),
  ],
});

export const noConnect = defineTask({
  name: 'no-connect',
  source,
  key: 'id',
  steps: [cmd.run({ command: 'true', timeout: 1000 }), fs.ensureDir('shared', { root })],
});

// No connect at all: ctx is undefined, so steps that need one need a connect.
// @ts-expect-error: fs.ensureDir needs ctx.fs, and there is no connect
export const fsNoConnect = defineTask({
  name: 'fs-no-connect',
  source,
  key: 'id',
  steps: [fs.ensureDir('shared')],
});
