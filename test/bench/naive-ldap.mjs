// The "library alone" baseline of the LDAP part of `npm run bench`, run as its own
// `node` process: read the whole HR export (test/ldap/users.ts's format), add every
// person with ldapts, `inFlight` adds at once on one connection, then add each group
// with all its members (as the ldapadd baseline does). No check, no snapshot, no plan,
// no ledger, no lock, no report, no retry: what idem's own LDAP library costs, so the
// bench can say how much of a first run is idem's engine and how much the library.
// Usage: node naive-ldap.mjs <url> <bind dn> <password file> <users.csv> <people dn> <groups dn> <in flight>
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { Client } from 'ldapts';

const [url, bindDn, passwordFile, input, peopleDn, groupsDn, inFlight] = process.argv.slice(2);
if (!url || !bindDn || !passwordFile || !input || !peopleDn || !groupsDn || !inFlight) {
  console.error(
    'usage: node naive-ldap.mjs <url> <bind dn> <password file> <users.csv> <people dn> <groups dn> <in flight>',
  );
  process.exit(2);
}
const rows = parse(readFileSync(input), { columns: true, skip_empty_lines: true, trim: true });
const client = new Client({ url, timeout: 120_000, connectTimeout: 5000 });
await client.bind(bindDn, readFileSync(passwordFile, 'utf8'));
const members = new Map();
let next = 0;
async function adder() {
  while (next < rows.length) {
    const u = rows[next++];
    const dn = `uid=${u.uid},${peopleDn}`;
    await client.add(dn, {
      objectClass: ['inetOrgPerson', 'organizationalPerson', 'person', 'top'],
      uid: u.uid,
      cn: `${u.givenName} ${u.sn}`,
      sn: u.sn,
      givenName: u.givenName,
      mail: u.mail,
      employeeNumber: u.employeeNumber,
      departmentNumber: u.department,
    });
    for (const g of u.groups.split(';').filter(Boolean)) {
      if (!members.has(g)) members.set(g, []);
      members.get(g).push(dn);
    }
  }
}
await Promise.all(Array.from({ length: Math.max(1, Number(inFlight)) }, adder));
for (const [g, dns] of members) {
  await client.add(`cn=${g},${groupsDn}`, { objectClass: 'groupOfNames', cn: g, member: dns });
}
await client.unbind();
console.log(JSON.stringify({ people: rows.length, groups: members.size }));
