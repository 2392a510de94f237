/**
 * `ensureMember` and `ensureMembers`: a group's members, seen from the group.
 */
import { added, type Diff, removed } from '../../core/diff.ts';
import type { Step } from '../../core/step.ts';
import { missingValues, valueEquals, valuesOf } from './entry.ts';
import { classify } from './errors.ts';
import type { LdapContext } from './locate.ts';
import { groupOfNames } from './value-changes.ts';

/**
 * Options for {@link ensureMembers}.
 * @example { exact: true, placeholder: 'cn=nobody,dc=example,dc=com' }
 */
export interface EnsureMembersOptions {
  /**
   * Also remove the members that are not listed.
   * @default false
   */
  exact?: boolean;
  /**
   * The member attribute.
   * @default 'member'
   */
  attribute?: string;
  /**
   * A DN that keeps an emptied `groupOfNames` valid (it must have a member). It is
   * ignored when comparing, added when the last member leaves, removed when one
   * joins. Without it, removing the last member fails with a permanent error.
   */
  placeholder?: string;
  /**
   * Create a missing group as a `groupOfNames` with its first members.
   * @default true
   */
  create?: boolean;
  /**
   * The step's name in the ledger.
   * @default `ldap.members:<group DN>`
   */
  name?: string;
}

/**
 * What {@link ensureMembers}' check found to do.
 * @example { group: 'cn=eng,ou=groups,dc=example,dc=com', add: [bobDn], remove: [], placeholderPresent: false, changes: [added('member', bobDn)] }
 */
export interface MembersDiff extends Diff {
  group: string;
  add: string[];
  remove: string[];
  /** Whether the check saw the placeholder among the members. */
  placeholderPresent: boolean;
}

/**
 * Ensures a group has the given members (and, with `exact`, only them). Values
 * are added and removed with Permissive Modify where the root DSE lists it;
 * otherwise "value exists" (20) and "no such value" (16) count as converged and
 * the group is re-read. A missing group is created as a `groupOfNames` with its
 * first members. The values go through the pool's member batcher (one modify
 * for the values of concurrent records). The diff reads `+member: <dn>` and `-member: <dn>`.
 *
 * @example
 * ldap.ensureMembers('cn=eng,ou=groups,dc=example,dc=com', [aliceDn, bobDn], { exact: true })
 */
export function ensureMembers(
  groupDn: string,
  members: string[],
  options: EnsureMembersOptions = {},
): Step<unknown, LdapContext, MembersDiff> {
  const attribute = options.attribute ?? 'member';
  const placeholder = options.placeholder;
  const isPlaceholder = (v: string) => placeholder !== undefined && valueEquals(attribute, v, placeholder);
  return {
    name: options.name ?? `ldap.members:${groupDn}`,
    classify,
    async check(_record, ctx) {
      const group = await ctx.ldap.read(groupDn, [attribute]);
      if (!group) {
        if (members.length === 0 || options.create === false) return undefined;
        return {
          group: groupDn,
          add: members,
          remove: [],
          placeholderPresent: false,
          changes: [added('group', groupDn), ...members.map((m) => added(attribute, m))],
        };
      }
      const values = valuesOf(group, attribute);
      const have = values.filter((v) => !isPlaceholder(v));
      const add = missingValues(attribute, members, have);
      const remove = options.exact ? missingValues(attribute, have, members) : [];
      if (add.length === 0 && remove.length === 0) return undefined;
      return {
        group: groupDn,
        add,
        remove,
        placeholderPresent: have.length < values.length,
        changes: [...add.map((m) => added(attribute, m)), ...remove.map((m) => removed(attribute, m))],
      };
    },
    async apply(_record, ctx, diff) {
      await ctx.ldap.members.change(
        groupDn,
        attribute,
        { add: diff.add, remove: diff.remove },
        {
          ...(placeholder !== undefined ? { placeholder } : {}),
          ...(options.create === false
            ? {}
            : { create: (first: string[]) => groupOfNames(groupDn, first, attribute) }),
        },
      );
    },
  };
}

/**
 * Ensures one member is in a group (creating a missing `groupOfNames` with it).
 *
 * @example
 * ldap.ensureMember('cn=staff,ou=groups,dc=example,dc=com', 'uid=jdoe,ou=people,dc=example,dc=com')
 */
export function ensureMember(
  groupDn: string,
  memberDn: string,
  options: Omit<EnsureMembersOptions, 'exact'> = {},
): Step<unknown, LdapContext, MembersDiff> {
  return ensureMembers(groupDn, [memberDn], { ...options, name: options.name ?? `ldap.member:${groupDn}` });
}
