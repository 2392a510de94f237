/**
 * The `ldap` connector: check/apply steps for a directory, on ldapts.
 *
 * @example
 * import { defineTask, csv, ldap } from 'idem';
 * export default defineTask({
 *   name: 'people',
 *   source: csv('people.csv'),
 *   key: 'uid',
 *   connect: async (setup) => ({ ldap: await ldap.connect(setup, ldap.configFromEnv(setup)) }),
 *   classify: ldap.classify,
 *   steps: (r) => [ldap.ensureEntry({ base: 'ou=people,dc=example,dc=com', attribute: 'uid', value: r.uid }, { ... })],
 * });
 */
export { configFromEnv, type LdapConfig, type LdapEnvConfig, type LdapTlsOptions } from './config.ts';
export { connect } from './connect.ts';
export { classifyLdap, connectLdap, ldapConfigFromEnv } from './deprecated.ts';
export { childDn, dnEquals, escapeDnValue } from './dn.ts';
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
export type { Attributes, LdapEntry } from './entry.ts';
export { classify, LdapError } from './errors.ts';
export { and, eq, escapeFilterValue, filter, not, or, present } from './filter.ts';
export { type ListValuesOptions, listValues } from './list-values.ts';
export type { EntryRef, FindBy, LdapContext } from './locate.ts';
export type { LdapPool, Modification, SearchSpec } from './pool.ts';
