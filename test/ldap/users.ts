/**
 * Generated HR exports for the LDAP tests and the bench: deterministic users and
 * the CSV writer. No test-runner imports, so the bench can use it too.
 */
import { writeFileSync } from 'node:fs';
import type { User } from '../../tasks/provision-users.ts';

export type { User };

const DEPTS = ['eng', 'sales', 'research', 'ops', 'finance'];

/** n deterministic users; every 7th is on call; unless `plain`, every 50th has an awkward (non-ASCII, comma) name. */
export function makeUsers(n: number, opts: { plain?: boolean } = {}): User[] {
  return Array.from({ length: n }, (_, i) => {
    const uid = `u${String(i + 1).padStart(4, '0')}`;
    const department = DEPTS[i % DEPTS.length] as string;
    return {
      uid,
      givenName: i % 50 === 1 && !opts.plain ? 'Zoë' : `Given${i + 1}`,
      sn: i % 50 === 0 && !opts.plain ? `O'Brien, Jr. ${i + 1}` : `Sur${i + 1}`,
      mail: `${uid}@example.com`,
      employeeNumber: String(10_000 + i),
      department,
      groups: ['staff', department, ...(i % 7 === 0 ? ['oncall'] : [])],
    };
  });
}

function field(v: string): string {
  return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** Writes users as the HR export (the format of fixtures/users.csv). */
export function writeUsers(path: string, users: User[]): string {
  const head = 'uid,givenName,sn,mail,employeeNumber,department,groups';
  const rows = users.map((u) =>
    [u.uid, u.givenName, u.sn, u.mail, u.employeeNumber, u.department, u.groups.join(';')]
      .map(field)
      .join(','),
  );
  writeFileSync(path, `${head}\n${rows.join('\n')}\n`);
  return path;
}
