/**
 * The `ldap` connector: check/apply steps for a directory, on ldapts.
 *
 * @example
 * import { defineTask, csv, ldap } from 'idem';
 * export default defineTask({
 *   name: 'people',
 *   source: csv('people.csv'),
 *   key: 'uid',
 *   connect: async (setup) => ({ ldap: await ldap.connectLdap(setup, ldap.ldapConfigFromEnv(setup)) }),
 *   classify: ldap.classifyLdap,
 *   steps: (r) => [ldap.ensureEntry({ base: 'ou=people,dc=example,dc=com', attribute: 'uid', value: r.uid }, { ... })],
 * });
 */
export type { AttributeDiffOptions } from './attribute-diff.ts';
export { type LdapConfig, type LdapEnvConfig, type LdapTlsOptions, ldapConfigFromEnv } from './config.ts';
export { connectLdap } from './connect.ts';
export { ASSERTION_OID, assertion, PERMISSIVE_MODIFY_OID, permissiveModify } from './controls.ts';
export {
  type Ava,
  canonicalDn,
  childDn,
  dnEquals,
  escapeDnValue,
  firstRdn,
  formatDn,
  normalizeDn,
  parentDn,
  parseDn,
  type Rdn,
  rdn,
} from './dn.ts';
export { type AbsentDiff, type EnsureAbsentOptions, ensureAbsent } from './ensure-absent.ts';
export { type EnsureEntryOptions, type EntryDiff, ensureEntry } from './ensure-entry.ts';
export {
  type EnsureMembersOptions,
  ensureMember,
  ensureMembers,
  type MembersDiff,
} from './ensure-members.ts';
export {
  type EnsureMembershipsOptions,
  ensureMemberships,
  type MembershipsDiff,
} from './ensure-memberships.ts';
export { type EnsureRenamedOptions, ensureRenamed, type RenameDiff } from './ensure-renamed.ts';
export type { Attributes, AttributeValue, LdapEntry } from './entry.ts';
export { classifyLdap, LdapError, type LdapOperation, toLdapError } from './errors.ts';
export { and, eq, escapeFilterValue, filter, not, or, present } from './filter.ts';
export { type ListValuesOptions, listValues } from './list-values.ts';
export type { EntryRef, FindBy, LdapContext } from './locate.ts';
export { LdapPool, type Modification, type RootDse, type SearchSpec } from './pool.ts';
export { changeValues, type ValueChangeOptions } from './value-changes.ts';
