/**
 * `ensureMemberships`: the groups an entry belongs to, seen from the entry.
 */
import { added, type Diff, removed } from '../../core/diff.ts';
import type { Step, StepEnv } from '../../core/step.ts';
import { normalizeDn } from './dn.ts';
import type { RenameDiff } from './ensure-renamed.ts';
import { classify } from './errors.ts';
import { and, eq } from './filter.ts';
import type { LdapContext } from './locate.ts';
import { groupOfNames } from './value-changes.ts';

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

/** Groups an earlier pending move of `dn` (a {@link RenameDiff} with references) will carry over to it. */
function movedHere(pending: readonly { diff: Diff }[], dn: string): string[][] {
  if (!pending.some((p) => typeof (p.diff as Partial<RenameDiff>).to === 'string')) return [];
  const target = normalizeDn(dn);
  return pending
    .map((p) => p.diff as Partial<RenameDiff>)
    .filter((d) => typeof d.to === 'string' && normalizeDn(d.to) === target && Array.isArray(d.referencedBy))
    .map((d) => d.referencedBy as string[]);
}

/**
 * Ensures an entry is a member of the given groups (DNs), and with `exact` of no
 * other group under `base`. The check is one search (`(member=<dn>)` under
 * `base`), or a lookup in the snapshot when the pool has one for `base`
 * (`ldap.connect(..., { snapshot: { groups: { base } } })`). The values go
 * through the pool's member batcher: concurrent records' values for one group
 * travel in one modify, and the apply resolves when the modify carrying this
 * entry's values was acknowledged. Missing groups are created as `groupOfNames`
 * with their first members; an emptied group keeps the `placeholder` value.
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
  /** What differs, given the groups that hold the member now. */
  const membershipsDiff = (current: string[], env: StepEnv): MembershipsDiff | undefined => {
    for (const moved of movedHere(env.pending, memberDn)) current.push(...moved);
    const currentNorm = current.map(normalizeDn);
    const have = new Set(currentNorm);
    const wanted = new Set<string>();
    const join = groups.filter((g) => {
      const n = normalizeDn(g);
      const first = !wanted.has(n);
      wanted.add(n);
      return first && !have.has(n);
    });
    const leave = options.exact ? current.filter((_, i) => !wanted.has(currentNorm[i] as string)) : [];
    if (join.length === 0 && leave.length === 0) return undefined;
    return {
      member: memberDn,
      join,
      leave,
      changes: [...join.map((g) => added('group', g)), ...leave.map((g) => removed('group', g))],
    };
  };
  return {
    name: options.name ?? 'ldap.memberships',
    classify,
    // A pending move of this entry (ensureRenamed, in a dry run or a plan) is taken into account:
    // the groups that name its old DN will name this one once the move has carried them over.
    predicts: true,
    check(_record, ctx, env) {
      // A loaded snapshot that holds the member's groups: the answer without a turn of the event loop.
      const loaded = ctx.ldap.snapshot?.loadedGroupsFor(options.base, attribute, objectClass);
      const known = loaded?.peekGroupsOf(memberDn);
      if (known) return membershipsDiff(known, env);
      return (async () => {
        const index = await ctx.ldap.snapshot?.groupsFor(options.base, attribute, objectClass);
        const current = index
          ? await index.groupsOf(memberDn)
          : (
              await ctx.ldap.search(options.base, {
                scope: 'sub',
                filter: and(eq('objectClass', objectClass), eq(attribute, memberDn)),
                attributes: ['1.1'],
              })
            ).map((e) => e.dn);
        return membershipsDiff(current, env);
      })();
    },
    async apply(_record, ctx, diff) {
      const writes = ctx.ldap.members;
      const how = placeholder !== undefined ? { placeholder } : {};
      const done = [
        ...diff.join.map((group) =>
          writes.change(
            group,
            attribute,
            { add: [memberDn] },
            { ...how, create: (first: string[]) => groupOfNames(group, first, attribute) },
          ),
        ),
        ...diff.leave.map((group) => writes.change(group, attribute, { remove: [memberDn] }, how)),
      ];
      const results = await Promise.allSettled(done);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    },
  };
}
