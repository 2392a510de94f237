/**
 * How a step names the entry it manages: by DN, or by a key attribute under a
 * base (`uid=jdoe` somewhere under `ou=people`).
 */
import { childDn } from './dn.ts';
import type { LdapEntry } from './entry.ts';
import type { LdapPool } from './pool.ts';

/**
 * The context ldap steps expect: the task's `connect` returns `{ ldap: pool }`.
 * @example
 * interface Ctx extends ldap.LdapContext { people: string }
 * connect: async (setup): Promise<Ctx> => ({ ldap: await ldap.connect(setup, config), people: 'ou=people,dc=example,dc=com' })
 */
export interface LdapContext {
  ldap: LdapPool;
}

/**
 * Finds an entry by a key attribute under a base.
 *
 * @example
 * const byUid: FindBy = { base: 'ou=people,dc=example,dc=com', attribute: 'uid', value: 'jdoe' };
 */
export interface FindBy {
  /** Where to search. */
  base: string;
  /** The key attribute, e.g. `uid`. */
  attribute: string;
  /** Its value (sent as is inside a filter object: no escaping needed). */
  value: string;
  /** @default 'sub' */
  scope?: 'one' | 'sub';
  /**
   * Where to create the entry when none is found.
   * @default `<attribute>=<value>,<base>`
   */
  dn?: string;
}

/**
 * A DN, or a key attribute to search for.
 * @example const target: ldap.EntryRef = { base: ctx.people, attribute: 'uid', value: r.uid };
 */
export type EntryRef = string | FindBy;

/** The DN an entry is created at when `ref` finds nothing. */
export function createDnOf(ref: EntryRef): string {
  return typeof ref === 'string' ? ref : (ref.dn ?? childDn(ref.attribute, ref.value, ref.base));
}

/** Names a reference for messages and step names. */
export function describeRef(ref: EntryRef): string {
  return typeof ref === 'string' ? ref : `${ref.attribute}=${ref.value} under ${ref.base}`;
}

/** Reads the entry a reference names (`undefined` when it does not exist). */
export async function locate(
  pool: LdapPool,
  ref: EntryRef,
  attributes: string[],
): Promise<LdapEntry | undefined> {
  if (typeof ref === 'string') return pool.read(ref, attributes);
  return pool.findOne(ref.base, ref.attribute, ref.value, attributes, ref.scope ?? 'sub');
}
