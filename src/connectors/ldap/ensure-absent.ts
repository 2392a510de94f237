/**
 * `ensureAbsent`: an entry is deleted, or disabled, as the task chooses.
 */
import { type Diff, modified, removed } from '../../core/diff.ts';
import type { Step } from '../../core/step.ts';
import { diffAttributes } from './attribute-diff.ts';
import { assertion } from './controls.ts';
import type { Attributes, LdapEntry } from './entry.ts';
import { valuesOf } from './entry.ts';
import { classify, resultCode } from './errors.ts';
import { eq } from './filter.ts';
import { describeRef, type EntryRef, type FindBy, type LdapContext, locate } from './locate.ts';
import type { LdapPool, Modification } from './pool.ts';
import { deleteEntry, indexFor, modifyEntry, noting } from './snapshot-writes.ts';

/**
 * Options for {@link ensureAbsent}.
 * @example { mode: 'disable', disable: { objectClass: 'shadowAccount', shadowExpire: '1' } }
 */
export interface EnsureAbsentOptions {
  /**
   * `delete` removes the entry; `disable` sets the `disable` attributes on it.
   * @default 'delete'
   */
  mode?: 'delete' | 'disable';
  /**
   * For `disable`: the attributes that mark the entry disabled (merged; an
   * `objectClass` value is added). An entry that has them already is `ok`.
   * @example { objectClass: 'shadowAccount', shadowExpire: '1' }
   */
  disable?: Attributes;
  /**
   * The step's name in the ledger.
   * @default 'ldap.absent'
   */
  name?: string;
}

/**
 * What {@link ensureAbsent}'s check found to do.
 * @example { action: 'delete', dn, modifications: [], deletes: 1, changes: [removed('entry', dn)] }
 */
export interface AbsentDiff extends Diff {
  action: 'delete' | 'disable';
  dn: string;
  /** The entry's `entryUUID` when the check read it: the write asserts it is the same entry. */
  uuid?: string;
  modifications: Modification[];
  deletes: 1;
  /** The entry as the snapshot held it when checked: the write asserts it is unchanged. */
  seen?: LdapEntry;
}

async function guarded(pool: LdapPool, uuid: string | undefined) {
  return uuid && (await pool.supportsAssertion()) ? [assertion(eq('entryUUID', uuid))] : undefined;
}

/**
 * Ensures an entry is gone (`delete`) or disabled (`disable`). A missing entry is
 * `ok`. It is destructive: each entry it would delete or disable counts toward the
 * deletion guard (`maxDeletes`), which the engine checks before any deletion.
 * Where the server supports the Assertion control, the write asserts the entry's
 * `entryUUID`, so it only ever removes the entry the check saw; with a snapshot
 * it also asserts the `entryCSN` the snapshot read (see `ensureEntry`).
 *
 * @example
 * prune: {
 *   existing: (ctx) => ldap.listValues(ctx.ldap, { base: people, attribute: 'uid' }),
 *   steps: (uid) => [ldap.ensureAbsent({ base: people, attribute: 'uid', value: uid })],
 * }
 */
export function ensureAbsent(
  target: EntryRef,
  options: EnsureAbsentOptions = {},
): Step<unknown, LdapContext, AbsentDiff> {
  const mode = options.mode ?? 'delete';
  const disable = options.disable ?? {};
  if (mode === 'disable' && Object.keys(disable).length === 0) {
    throw new Error(
      `ensureAbsent(${describeRef(target)}): mode 'disable' needs the attributes that mark an entry disabled`,
    );
  }
  const readAttrs = [
    'entryUUID',
    ...(mode === 'disable' ? ['objectClass', ...Object.keys(disable)] : ['1.1']),
  ];
  return {
    name: options.name ?? 'ldap.absent',
    destructive: true,
    classify,
    async check(_record, ctx) {
      const index = await indexFor(ctx.ldap, target);
      const current = index
        ? await index.get((target as FindBy).value)
        : await locate(ctx.ldap, target, readAttrs);
      if (!current) return undefined;
      const uuid = valuesOf(current, 'entryUUID')[0];
      const base = {
        dn: current.dn,
        deletes: 1 as const,
        ...(uuid ? { uuid } : {}),
        ...(index ? { seen: current } : {}),
      };
      if (mode === 'delete') {
        return { ...base, action: 'delete', modifications: [], changes: [removed('entry', current.dn)] };
      }
      const { modifications, changes } = diffAttributes(current, disable, { mode: 'merge' });
      if (modifications.length === 0) return undefined;
      return {
        ...base,
        action: 'disable',
        modifications,
        changes: [modified('entry', current.dn, 'disabled'), ...changes],
      };
    },
    async apply(_record, ctx, diff, env) {
      const pool = ctx.ldap;
      const index = await indexFor(pool, target);
      if (index) {
        const value = (target as FindBy).value;
        const seen = diff.seen ?? { dn: diff.dn, attrs: {} };
        try {
          await noting(
            env,
            diff.action === 'delete'
              ? deleteEntry(pool, index, value, seen)
              : modifyEntry(pool, index, value, seen, diff.modifications),
          );
        } catch (err) {
          if (resultCode(err) !== 32) throw err; // gone already: nothing left to delete or disable
        }
        return;
      }
      const controls = await guarded(pool, diff.uuid);
      try {
        if (diff.action === 'delete') await pool.del(diff.dn, controls);
        else await pool.modify(diff.dn, diff.modifications, controls);
      } catch (err) {
        const code = resultCode(err);
        if (code === 32) return; // gone already: nothing left to delete or disable
        if (diff.action === 'disable' && (code === 16 || code === 20)) {
          // Partly disabled since the check: re-read and set what is left.
          const now = await locate(pool, diff.dn, readAttrs);
          if (!now) return;
          const left = diffAttributes(now, disable, { mode: 'merge' }).modifications;
          await pool.modify(diff.dn, left, await guarded(pool, diff.uuid));
          return;
        }
        throw err;
      }
    },
  };
}
