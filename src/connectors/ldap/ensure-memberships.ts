/**
 * `ensureMemberships`: the groups an entry belongs to, seen from the entry.
 */
import { added, type Diff, removed } from '../../core/diff.ts';
import type { Step } from '../../core/step.ts';
import { dnEquals } from './dn.ts';
import { classify } from './errors.ts';
import { and, eq } from './filter.ts';
import type { LdapContext } from './locate.ts';
import { changeValues, groupOfNames } from './value-changes.ts';

/**
 * Options for {@link ensureMemberships}.
 * @example { base: 'ou=groups,dc=example,dc=com', exact: true, placeholder: 'cn=nobody,dc=example,dc=com' }
 */
export interface EnsureMembershipsOptions {
  /**
   * Where the managed groups live. With `exact`, the member is removed from every
   * group under it that is not listed; groups elsewhere are never touched.
   */
  base: string;
  /**
   * Also remove the member from managed groups that are not listed.
   * @default false
   */
  exact?: boolean;
  /**
   * The group object class and member attribute.
   * @default { objectClass: 'groupOfNames', attribute: 'member' }
   */
  objectClass?: string;
  attribute?: string;
  /** See {@link EnsureMembersOptions.placeholder}. */
  placeholder?: string;
  /**
   * The step's name in the ledger.
   * @default 'ldap.memberships'
   */
  name?: string;
}

/**
 * What {@link ensureMemberships}' check found to do.
 * @example { member: userDn, join: [staffDn], leave: [], changes: [added('group', staffDn)] }
 */
export interface MembershipsDiff extends Diff {
  member: string;
  join: string[];
  leave: string[];
}

/**
 * Ensures an entry is a member of the given groups (DNs), and with `exact` of no
 * other group under `base`. The check is one search (`(member=<dn>)` under
 * `base`); missing groups are created as `groupOfNames` with this first member.
 * The diff reads `+group: <dn>` and `-group: <dn>`.
 *
 * @example
 * ldap.ensureMemberships(userDn, ['cn=staff,ou=groups,dc=example,dc=com'], {
 *   base: 'ou=groups,dc=example,dc=com',
 *   exact: true,
 * })
 */
export function ensureMemberships(
  memberDn: string,
  groups: string[],
  options: EnsureMembershipsOptions,
): Step<unknown, LdapContext, MembershipsDiff> {
  const attribute = options.attribute ?? 'member';
  const objectClass = options.objectClass ?? 'groupOfNames';
  const placeholder = options.placeholder;
  return {
    name: options.name ?? 'ldap.memberships',
    classify,
    async check(_record, ctx) {
      const found = await ctx.ldap.search(options.base, {
        scope: 'sub',
        filter: and(eq('objectClass', objectClass), eq(attribute, memberDn)),
        attributes: ['1.1'],
      });
      const current = found.map((e) => e.dn);
      const join = groups.filter(
        (g, i) => !current.some((c) => dnEquals(c, g)) && groups.findIndex((x) => dnEquals(x, g)) === i,
      );
      const leave = options.exact ? current.filter((c) => !groups.some((g) => dnEquals(c, g))) : [];
      if (join.length === 0 && leave.length === 0) return undefined;
      return {
        member: memberDn,
        join,
        leave,
        changes: [...join.map((g) => added('group', g)), ...leave.map((g) => removed('group', g))],
      };
    },
    async apply(_record, ctx, diff) {
      // Which of the groups to join hold the placeholder: one search, not one per group.
      let holding: string[] | undefined;
      if (placeholder !== undefined && diff.join.length > 0 && !(await ctx.ldap.usePermissiveModify())) {
        const found = await ctx.ldap.search(options.base, {
          scope: 'sub',
          filter: and(eq('objectClass', objectClass), eq(attribute, placeholder)),
          attributes: ['1.1'],
        });
        holding = found.map((e) => e.dn);
      }
      for (const group of diff.join) {
        await changeValues(
          ctx.ldap,
          group,
          attribute,
          { add: [memberDn] },
          {
            create: (first) => groupOfNames(group, first, attribute),
            ...(placeholder !== undefined ? { placeholder } : {}),
            ...(holding ? { placeholderPresent: holding.some((h) => dnEquals(h, group)) } : {}),
          },
        );
      }
      for (const group of diff.leave) {
        await changeValues(
          ctx.ldap,
          group,
          attribute,
          { remove: [memberDn] },
          placeholder !== undefined ? { placeholder } : {},
        );
      }
    },
  };
}
