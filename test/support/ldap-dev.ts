/**
 * `npm run ldap:dev`: starts a private slapd on 127.0.0.1, prints the
 * `IDEM_LDAP_*` lines to use with it, and stops it on Ctrl-C.
 */
import { Slapd, slapdAvailability } from './slapd.ts';

const available = slapdAvailability();
if (!available.ok) {
  console.error(`ldap:dev: ${available.reason}`);
  process.exit(1);
}

const slapd = await Slapd.start();
const env = slapd.env();
console.log(`slapd (pid ${slapd.pid}) is listening on ${slapd.url}, data in ${slapd.dir}`);
console.log('Use it with:\n');
for (const [k, v] of Object.entries(env)) console.log(`export ${k}='${v}'`);
console.log(`\n# read-only account: ${slapd.readerDn} / ${slapd.readerPassword}`);
console.log('# then: node bin/idem.js run tasks/provision-users.ts');
console.log('\nPress Ctrl-C to stop it.');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping slapd...');
  await slapd.destroy();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => {}, 1 << 30);
