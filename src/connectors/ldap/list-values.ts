/**
 * Listing the keys of everything under a base: what a prune phase's `existing`
 * returns.
 */
import { type Filter, FilterParser } from 'ldapts';
import { valuesOf } from './entry.ts';
import { and, eq, present } from './filter.ts';
import type { LdapPool } from './pool.ts';

/**
 * Options for {@link listValues}.
 * @example { base: 'ou=people,dc=example,dc=com', attribute: 'uid', objectClass: 'inetOrgPerson' }
 */
export interface ListValuesOptions {
  /** Where to look. */
  base: string;
  /** The attribute whose values to list, e.g. `uid`. */
  attribute: string;
  /**
   * Which entries count.
   * @default `(<attribute>=*)`
   */
  filter?: Filter | string;
  /** @default 'sub' */
  scope?: 'one' | 'sub';
  /** Only entries of this object class (combined with `filter` when both are given). */
  objectClass?: string;
  /** Entries per page. @default 500 */
  pageSize?: number;
}

/**
 * Streams the values of an attribute across the entries under a base, with a
 * paged search (constant memory, no server size limit). It holds one pooled
 * connection while it is being read. When the pool's snapshot holds that
 * population (same base, attribute and scope; no `filter`), the values come from
 * the snapshot instead, which then needs no second read.
 *
 * @example
 * prune: { existing: (ctx) => ldap.listValues(ctx.ldap, { base: people, attribute: 'uid' }), steps: ... }
 */
export async function* listValues(pool: LdapPool, options: ListValuesOptions): AsyncIterable<string> {
  if (options.filter === undefined) {
    const index = await pool.snapshot?.entriesFor({ ...options, value: '' });
    if (index?.mode === 'full') {
      const objectClass = options.objectClass?.toLowerCase();
      for (const entry of [...index.entries()]) {
        if (objectClass && !valuesOf(entry, 'objectClass').some((c) => c.toLowerCase() === objectClass))
          continue;
        for (const v of valuesOf(entry, options.attribute)) yield v;
      }
      return;
    }
  }
  const given = options.filter ?? present(options.attribute);
  const parsed = typeof given === 'string' ? FilterParser.parseString(given) : given;
  const filter = options.objectClass ? and(eq('objectClass', options.objectClass), parsed) : parsed;
  for await (const page of pool.searchPages(options.base, {
    scope: options.scope ?? 'sub',
    filter,
    attributes: [options.attribute],
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
  })) {
    for (const entry of page) for (const v of valuesOf(entry, options.attribute)) yield v;
  }
}
