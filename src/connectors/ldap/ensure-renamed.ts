/**
 * `ensureRenamed`: an entry found by its key attribute lives at the desired DN,
 * moved there with modifyDN (never delete-and-add, which would lose its other
 * attributes, its entryUUID and its history).
 */
import { type Diff, modified } from '../../core/diff.ts';
import type { Step } from '../../core/step.ts';
import { assertion } from './controls.ts';
import { dnEquals, parentDn } from './dn.ts';
import { type LdapEntry, valuesOf } from './entry.ts';
import { classify, LdapError, resultCode } from './errors.ts';
import { eq } from './filter.ts';
import type { FindBy, LdapContext } from './locate.ts';
import type { LdapPool } from './pool.ts';
import { indexFor, moveEntry, noting } from './snapshot-writes.ts';

/**
 * Options for {@link ensureRenamed}.
 * @example { references: { base: 'ou=groups,dc=example,dc=com' } }
 */
export interface EnsureRenamedOptions {
  /**
   * Groups whose member values name the old DN get the new one (added before
   * the old one is removed, group by group). Leave it out when the server keeps
   * references itself (OpenLDAP's refint overlay). A crash between the move and
   * the clean-up leaves the old DN in those groups as well (never the member missing).
   * @example { base: 'ou=groups,dc=example,dc=com' }
   */
  references?: { base: string; attribute?: string };
  /**
   * The step's name in the ledger.
   * @default 'ldap.renamed'
   */
  name?: string;
}

/**
 * What {@link ensureRenamed}'s check found to do.
 * @example { from: oldDn, to: newDn, referencedBy: [staffDn], changes: [modified('dn', oldDn, newDn)] }
 */
export interface RenameDiff extends Diff {
  from: string;
  to: string;
  uuid?: string;
  /** Groups that reference the old DN. */
  referencedBy: string[];
  /** The entry as the snapshot held it when checked: the move asserts it is unchanged. */
  seen?: LdapEntry;
}

/** The groups under `base` whose `attribute` names `dn`: from the snapshot when it holds them. */
async function referencesTo(pool: LdapPool, base: string, attribute: string, dn: string): Promise<string[]> {
  const groups = pool.snapshot?.groups;
  if (groups && (await pool.snapshot?.groupsFor(base, attribute, groups.objectClass))) {
    return groups.groupsOf(dn);
  }
  return (await pool.search(base, { scope: 'sub', filter: eq(attribute, dn), attributes: ['1.1'] })).map(
    (e) => e.dn,
  );
}

/**
 * Ensures the entry that `find` finds (a key attribute under a base) is at
 * `targetDn`, renaming or moving it with modifyDN when it is elsewhere (the
 * department, and so the OU, changed). Nothing found is `ok`: creating is
 * `ensureEntry`'s job, which usually comes next. The diff reads `~dn: old -> new`.
 *
 * @example
 * ldap.ensureRenamed(
 *   { base: 'ou=people,dc=example,dc=com', attribute: 'uid', value: r.uid },
 *   `uid=${ldap.escapeDnValue(r.uid)},ou=${ldap.escapeDnValue(r.department)},ou=people,dc=example,dc=com`,
 * )
 */
export function ensureRenamed(
  find: FindBy,
  targetDn: string,
  options: EnsureRenamedOptions = {},
): Step<unknown, LdapContext, RenameDiff> {
  const refAttr = options.references?.attribute ?? 'member';
  /** The check, reading from the server or waiting for the snapshot when it must. */
  const moveDiff = async (ctx: LdapContext): Promise<RenameDiff | undefined> => {
    const index = await indexFor(ctx.ldap, find);
    const found = index
      ? await index.get(find.value)
      : await ctx.ldap.findOne(find.base, find.attribute, find.value, ['entryUUID'], find.scope ?? 'sub');
    if (!found || dnEquals(found.dn, targetDn)) return undefined;
    const referencedBy = options.references
      ? await referencesTo(ctx.ldap, options.references.base, refAttr, found.dn)
      : [];
    const uuid = valuesOf(found, 'entryUUID')[0];
    return {
      from: found.dn,
      to: targetDn,
      ...(uuid ? { uuid } : {}),
      ...(index ? { seen: found } : {}),
      referencedBy,
      changes: [
        modified('dn', found.dn, targetDn),
        ...referencedBy.map((g) => modified(`${refAttr} in ${g}`, found.dn, targetDn)),
      ],
    };
  };
  return {
    name: options.name ?? 'ldap.renamed',
    classify,
    check(_record, ctx) {
      // A loaded snapshot that tells at once there is nothing to move: no turn of the event loop.
      const known = ctx.ldap.snapshot?.loadedEntriesFor(find)?.peek(find.value);
      if (known === null || (known && dnEquals(known.dn, targetDn))) return undefined;
      return moveDiff(ctx);
    },
    async apply(_record, ctx, diff, env) {
      const pool = ctx.ldap;
      // References first gain the new DN, so a crash never leaves a group without the member.
      await Promise.all(diff.referencedBy.map((g) => pool.members.change(g, refAttr, { add: [diff.to] })));
      const index = await indexFor(pool, find);
      const controls =
        diff.uuid && (await pool.supportsAssertion()) ? [assertion(eq('entryUUID', diff.uuid))] : undefined;
      try {
        if (index) {
          const seen = diff.seen ?? { dn: diff.from, attrs: {} };
          await noting(env, moveEntry(pool, index, find.value, seen, diff.to));
        } else await pool.modifyDN(diff.from, diff.to, controls);
      } catch (err) {
        const code = resultCode(err);
        if (code === 68) {
          const now = await pool.findOne(find.base, find.attribute, find.value, ['1.1'], find.scope ?? 'sub');
          if (!now || !dnEquals(now.dn, diff.to)) {
            throw new LdapError(
              'permanent',
              'modifyDN',
              diff.from,
              `ldap modifyDN ${diff.from} -> ${diff.to}: another entry already exists at ${diff.to}`,
              { cause: err, code },
            );
          }
        } else if (code === 32 && !(await pool.read(parentDn(diff.to), ['1.1']))) {
          throw new LdapError(
            'permanent',
            'modifyDN',
            diff.from,
            `ldap modifyDN ${diff.from} -> ${diff.to}: the new parent ${parentDn(diff.to)} does not exist`,
            { cause: err, code },
          );
        } else throw err;
      }
      await Promise.all(
        diff.referencedBy.map((g) => pool.members.change(g, refAttr, { remove: [diff.from] })),
      );
    },
  };
}
