/**
 * Child process of the snapshot memory figure (ldap.ts): loads the directory
 * snapshot of tasks/provision-users.ts (people by uid, groups with members) from
 * the slapd named by the IDEM_LDAP_* variables and prints, as one JSON line, the
 * heap it holds (after a full GC, before and after) and how long the load took.
 * Run with `node --expose-gc --import tsx`.
 */
import { LdapPool } from '../../src/connectors/ldap/pool.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function heap(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

const env = process.env;
const base = env.IDEM_LDAP_BASE as string;
const pool = new LdapPool(
  {
    url: env.IDEM_LDAP_URL as string,
    bindDn: env.IDEM_LDAP_BIND_DN as string,
    password: env.IDEM_LDAP_PASSWORD as string,
  },
  2,
);
await pool.verify();
const before = heap();
const snapshot = pool.useSnapshot({
  entries: { base: `ou=people,${base}`, attribute: 'uid' },
  groups: { base: `ou=groups,${base}` },
});
const start = performance.now();
await snapshot.ready();
const ms = performance.now() - start;
const after = heap();
const stats = snapshot.stats();
process.stdout.write(
  `${JSON.stringify({ bytes: after - before, ms, entries: stats.entries, memberValues: stats.memberValues, mode: stats.mode, rss: process.memoryUsage().rss })}\n`,
);
await pool.close();
// Keep the snapshot reachable until the measurement is taken.
if (snapshot.stats().entries < 0) console.log(snapshot);
