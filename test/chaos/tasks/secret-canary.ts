/**
 * Chaos task for the secret canary (issue 9): binds to LDAP with the password
 * `ldap.configFromEnv` reads (IDEM_LDAP_PASSWORD or IDEM_LDAP_PASSWORD_FILE),
 * ensures one entry per record, and runs a `cmd` child per record that looks
 * around while idem runs (support/peek.mjs: its own environment, `ps -eo args`,
 * idem's /proc/PID/environ, a copy of the state dir).
 * Env: CANARY_INPUT (CSV with column id), CANARY_OUT (where the child writes).
 */
import { join } from 'node:path';
import { cmd, csv, defineTask, ldap } from 'idem';

interface Ctx extends ldap.LdapContext {
  people: string;
  out: string;
  stateDir: string;
}

const PEEK = join(import.meta.dirname, '..', 'support', 'peek.mjs');

export default defineTask({
  name: 'secret-canary',
  source: csv(process.env.CANARY_INPUT ?? 'in.csv'),
  key: 'id',
  connect: async (setup): Promise<Ctx> => {
    const config = ldap.configFromEnv(setup);
    const pool = await ldap.connect(setup, config);
    return {
      ldap: pool,
      people: `ou=people,${config.base}`,
      out: setup.env.CANARY_OUT ?? '.',
      stateDir: setup.stateDir,
    };
  },
  classify: ldap.classify,
  steps: (r, ctx) => [
    ldap.ensureEntry(
      { base: ctx.people, attribute: 'uid', value: `canary${r.id}`, dn: `uid=canary${r.id},${ctx.people}` },
      {
        objectClass: ['inetOrgPerson', 'organizationalPerson', 'person', 'top'],
        uid: `canary${r.id}`,
        cn: `Canary ${r.id}`,
        sn: 'Canary',
      },
      { mode: 'merge' },
    ),
    cmd.run({
      name: 'peek',
      command: process.execPath,
      args: [PEEK, ctx.out, ctx.stateDir, String(r.id)],
      creates: join(ctx.out, `peek-${r.id}`, 'done'),
      timeout: 60_000,
    }),
  ],
});
