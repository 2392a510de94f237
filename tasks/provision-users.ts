/**
 * Provisions people from an HR export into an LDAP directory.
 *
 * Columns: uid,givenName,sn,mail,employeeNumber,department,groups
 * (`groups` is `;`-separated, e.g. `staff;eng`). See fixtures/users.csv.
 *
 * Per record it ensures:
 * - an inetOrgPerson at `uid=<uid>,ou=people,<base>` (moved there with modifyDN
 *   if it was found elsewhere under ou=people), with uid, cn (`<givenName> <sn>`),
 *   sn, givenName, mail, employeeNumber and departmentNumber (from `department`);
 * - membership in each listed groupOfNames under `ou=groups,<base>` (created
 *   with its first members when missing), and removal from the other groups there;
 * - an account disabled by prune (`shadowExpire`) that is back in the export is
 *   enabled again (its `shadowExpire` removed).
 *
 * Group names follow the uid rule (letters, digits, `.`, `_`, `-`; starting with a
 * letter or digit): a row naming another group (`*`, `..`, a DN) is `invalid`.
 *
 * Speed: people and groups are read once per run (a paged search each: the
 * snapshot) and checked in memory; membership values of concurrent records go to
 * each group in one modify. An emptied group keeps one placeholder member,
 * `cn=nobody,<base>` (a groupOfNames must have a member), which leaves when a real
 * member joins.
 *
 * Configuration (env): IDEM_LDAP_URL, IDEM_LDAP_BIND_DN, IDEM_LDAP_PASSWORD or
 * IDEM_LDAP_PASSWORD_FILE, IDEM_LDAP_BASE; optionally IDEM_LDAP_STARTTLS=1,
 * IDEM_LDAP_CA_FILE, IDEM_LDAP_TLS_INSECURE=1 (warns), IDEM_LDAP_TIMEOUT_MS.
 *
 * Prune (off by default): IDEM_PRUNE=disable marks people no longer in the CSV
 * disabled (shadowAccount with an expired shadowExpire); IDEM_PRUNE=delete deletes
 * them. Either way they leave the managed groups first. Guarded by maxDeletes
 * (10% of the people under ou=people; `--max-deletes` overrides).
 *
 * @example
 * npm run ldap:dev            # a private slapd, prints the IDEM_LDAP_* lines
 * idem run tasks/provision-users.ts --dry-run
 * idem run tasks/provision-users.ts
 */
import { csv, defineTask, ldap, type SetupContext, UsageError } from 'idem';

/** One row of the HR export, parsed. */
export interface User {
  uid: string;
  givenName: string;
  sn: string;
  mail: string;
  employeeNumber: string;
  department: string;
  groups: string[];
}

interface Ctx extends ldap.LdapContext {
  people: string;
  groups: string;
  /** Keeps an emptied groupOfNames valid (it needs a member); ignored when comparing. */
  placeholder: string;
}

/** IDEM_PRUNE: unset (no prune phase), `disable` or `delete`. */
function pruneMode(setup: SetupContext): 'delete' | 'disable' | undefined {
  const mode = setup.env.IDEM_PRUNE?.trim().toLowerCase();
  if (!mode) return undefined;
  if (mode === 'delete' || mode === 'disable') return mode;
  throw new UsageError(`IDEM_PRUNE must be "delete" or "disable", not "${setup.env.IDEM_PRUNE}"`);
}

/** What a uid, and a group name, may be: also what keeps them plain in a DN. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const NAME_RULE = 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit';

export default defineTask({
  name: 'provision-users',
  description:
    'HR export → inetOrgPerson entries under ou=people and groupOfNames memberships under ou=groups',
  source: csv('../fixtures/users.csv', {
    fields: ['uid', 'givenName', 'sn', 'mail', 'employeeNumber', 'department', 'groups'],
  }),
  key: 'uid',
  parse: (raw): User => ({
    ...raw,
    groups: [
      ...new Set(
        raw.groups
          .split(';')
          .map((g) => g.trim())
          .filter(Boolean),
      ),
    ],
  }),
  validate: (u) => {
    const problems: string[] = [];
    if (!NAME.test(u.uid)) problems.push(`uid "${u.uid}" ${NAME_RULE}`);
    for (const g of u.groups) if (!NAME.test(g)) problems.push(`group "${g}" ${NAME_RULE}`);
    if (!u.givenName) problems.push('givenName is empty');
    if (!u.sn) problems.push('sn is empty');
    if (u.mail && !/^[^@\s]+@[^@\s]+$/.test(u.mail)) problems.push(`mail "${u.mail}" is not an address`);
    return problems;
  },
  connect: async (setup): Promise<Ctx> => {
    const config = ldap.configFromEnv(setup);
    const people = `ou=people,${config.base}`;
    const groups = `ou=groups,${config.base}`;
    const pool = await ldap.connect(setup, config, {
      snapshot: { entries: { base: people, attribute: 'uid' }, groups: { base: groups } },
    });
    return { ldap: pool, people, groups, placeholder: `cn=nobody,${config.base}` };
  },
  classify: ldap.classify,
  steps: (u, ctx) => {
    const dn = ldap.childDn('uid', u.uid, ctx.people);
    return [
      ldap.ensureRenamed({ base: ctx.people, attribute: 'uid', value: u.uid }, dn, {
        references: { base: ctx.groups },
      }),
      ldap.ensureEntry(
        { base: ctx.people, attribute: 'uid', value: u.uid, dn },
        {
          objectClass: ['inetOrgPerson', 'organizationalPerson', 'person', 'top'],
          uid: u.uid,
          cn: `${u.givenName} ${u.sn}`,
          sn: u.sn,
          givenName: u.givenName,
          mail: u.mail || null,
          employeeNumber: u.employeeNumber || null,
          departmentNumber: u.department || null,
          // Back in the export after prune disabled the account: enabled again.
          shadowExpire: null,
        },
        { mode: 'merge' },
      ),
      ldap.ensureMemberships(
        dn,
        u.groups.map((g) => ldap.childDn('cn', g, ctx.groups)),
        { base: ctx.groups, exact: true, placeholder: ctx.placeholder },
      ),
    ];
  },
  // Records in flight wait for the modify carrying their member values: the more in
  // flight, the fewer (bigger) group writes. 10,000 people on 2 cores (npm run bench):
  // idem + slapd CPU 6.8 s at 64, 5.9 s at 128, 6.0 s at 256 with one request per
  // connection; with pipelined connections (medians of 5 pairs) 8.3 s at 128 and 7.8 s
  // at 256 (slapd 2.9 -> 2.4 s, ~10,700 -> ~10,500 writes); the rerun the same.
  concurrency: 256,
  maxDeletes: { percent: 10 },
  prune: (setup) => {
    const mode = pruneMode(setup);
    if (!mode) return undefined;
    return {
      existing: (ctx: Ctx) =>
        ldap.listValues(ctx.ldap, { base: ctx.people, attribute: 'uid', objectClass: 'inetOrgPerson' }),
      steps: (uid: string, ctx: Ctx) => {
        const find = { base: ctx.people, attribute: 'uid', value: uid };
        const dn = ldap.childDn('uid', uid, ctx.people);
        return [
          ldap.ensureMemberships(dn, [], { base: ctx.groups, exact: true, placeholder: ctx.placeholder }),
          mode === 'delete'
            ? ldap.ensureAbsent(find, { mode: 'delete' })
            : ldap.ensureAbsent(find, {
                mode: 'disable',
                disable: { objectClass: 'shadowAccount', shadowExpire: '1' },
              }),
        ];
      },
    };
  },
});
