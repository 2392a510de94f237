/**
 * `ensureEntry`: an entry exists with the desired attributes.
 */
import { added, type Diff } from '../../core/diff.ts';
import type { Step } from '../../core/step.ts';
import {
  type AttributeDiffOptions,
  attributesForAdd,
  attributesToRead,
  creationChanges,
  diffAttributes,
} from './attribute-diff.ts';
import type { Attributes, LdapEntry } from './entry.ts';
import { classify, LdapError, resultCode } from './errors.ts';
import { createDnOf, describeRef, type EntryRef, type FindBy, type LdapContext, locate } from './locate.ts';
import type { LdapPool, Modification } from './pool.ts';
import { addEntry, indexFor, modifyEntry, noting } from './snapshot-writes.ts';

/**
 * Options for {@link ensureEntry}.
 * @example { mode: 'exact', createOnly: ['userPassword'], keep: ['description'] }
 */
export interface EnsureEntryOptions extends AttributeDiffOptions {
  /**
   * The step's name in the ledger.
   * @default 'ldap.entry'
   */
  name?: string;
}

/**
 * What {@link ensureEntry}'s check found to do.
 * @example { action: 'modify', dn, modifications: [{ op: 'replace', attribute: 'mail', values: ['b@x'] }], changes: [modified('mail', 'a@x', 'b@x')] }
 */
export interface EntryDiff extends Diff {
  action: 'create' | 'modify';
  dn: string;
  modifications: Modification[];
  /** The entry as the snapshot held it when checked: the modify asserts it is unchanged. */
  seen?: LdapEntry;
}

const SETTLE_ROUNDS = 4;

/**
 * Re-reads the entry and makes it match, until nothing is left to do: the way
 * out when the check was stale (the entry appeared, vanished or changed since).
 */
async function settle(
  pool: LdapPool,
  ref: EntryRef,
  attrs: Attributes,
  options: EnsureEntryOptions,
): Promise<void> {
  const read = attributesToRead(attrs, options);
  for (let round = 0; round < SETTLE_ROUNDS; round++) {
    const current = await locate(pool, ref, read);
    if (!current) {
      try {
        await pool.add(createDnOf(ref), attributesForAdd(attrs));
        return;
      } catch (err) {
        if (resultCode(err) === 68) continue;
        throw err;
      }
    }
    const { modifications } = diffAttributes(current, attrs, options);
    if (modifications.length === 0) return;
    try {
      await pool.modify(current.dn, modifications);
      return;
    } catch (err) {
      const code = resultCode(err);
      if (code === 16 || code === 20 || code === 32) continue;
      throw err;
    }
  }
  throw new LdapError(
    'transient',
    'modify',
    describeRef(ref),
    `ldap ${describeRef(ref)}: the entry kept changing under us (${SETTLE_ROUNDS} rounds of re-read and modify)`,
  );
}

/**
 * Ensures an entry exists with the given attributes.
 *
 * - It finds the entry by DN, or by a key attribute under a base (`findBy`).
 * - A missing entry is added (with the `createOnly` attributes, e.g. an initial
 *   password). When the add meets an existing entry (68, a stale check), it falls
 *   back to reading it and modifying what differs: it never fails and never duplicates.
 * - Otherwise only the attributes that differ are modified (`replace`, so a
 *   repeated apply changes nothing). In `exact` mode, unlisted user attributes are
 *   removed too (never operational, `createOnly`, `keep` or RDN ones).
 * - `null`, `''` or `[]` as a value means "absent"; `undefined` leaves it alone.
 * - With a snapshot (`ldap.connect(..., { snapshot })`) that holds the `FindBy`'s
 *   population, the check reads no entry from the server; the add fails on an
 *   entry that exists since (68) and the modify asserts the entry's `entryCSN`,
 *   and either way the record is checked again against the server (a retry whose
 *   history line says the entry changed since the snapshot).
 *
 * The diff reads `+mail: a@x`, `~mail: a@x -> b@x`, `-description: old`;
 * `userPassword` and the `secret` attributes print as `<secret>`.
 *
 * @example
 * ldap.ensureEntry(
 *   { base: 'ou=people,dc=example,dc=com', attribute: 'uid', value: r.uid },
 *   { objectClass: ['inetOrgPerson'], uid: r.uid, cn: `${r.givenName} ${r.sn}`, sn: r.sn, mail: r.mail },
 *   { mode: 'merge', createOnly: ['userPassword'] },
 * )
 */
export function ensureEntry(
  target: EntryRef,
  attrs: Attributes,
  options: EnsureEntryOptions = {},
): Step<unknown, LdapContext, EntryDiff> {
  /** What the check found: `fromSnapshot` keeps the entry seen, for the guarded modify. */
  const entryDiff = (current: LdapEntry | undefined, fromSnapshot: boolean): EntryDiff | undefined => {
    if (!current) {
      const dn = createDnOf(target);
      return {
        action: 'create',
        dn,
        creates: 1,
        modifications: [],
        changes: [added('entry', dn), ...creationChanges(attrs, options)],
      };
    }
    const { modifications, changes } = diffAttributes(current, attrs, options);
    if (modifications.length === 0) return undefined;
    return {
      action: 'modify',
      dn: current.dn,
      modifications,
      changes,
      ...(fromSnapshot ? { seen: current } : {}),
    };
  };
  return {
    name: options.name ?? 'ldap.entry',
    classify,
    // Found by its key attribute, the entry is the same one wherever a pending move
    // (ensureRenamed, in a dry run or a plan) takes it: the attribute changes are too.
    predicts: typeof target !== 'string',
    check(_record, ctx) {
      // A loaded snapshot that can tell at once: the answer without a turn of the event loop.
      const loaded = typeof target === 'string' ? undefined : ctx.ldap.snapshot?.loadedEntriesFor(target);
      const known = loaded?.peek((target as FindBy).value);
      if (known !== undefined) return entryDiff(known ?? undefined, loaded !== undefined);
      return (async () => {
        const index = await indexFor(ctx.ldap, target);
        const current = index
          ? await index.get((target as FindBy).value)
          : await locate(ctx.ldap, target, attributesToRead(attrs, options));
        return entryDiff(current, index !== undefined);
      })();
    },
    async apply(_record, ctx, diff, env) {
      const pool = ctx.ldap;
      const index = await indexFor(pool, target);
      if (index) {
        const value = (target as FindBy).value;
        const seen = diff.seen ?? { dn: diff.dn, attrs: {} };
        await noting(
          env,
          diff.action === 'create'
            ? addEntry(pool, index, value, diff.dn, attributesForAdd(attrs))
            : modifyEntry(pool, index, value, seen, diff.modifications),
        );
        return;
      }
      try {
        if (diff.action === 'create') await pool.add(diff.dn, attributesForAdd(attrs));
        else await pool.modify(diff.dn, diff.modifications);
      } catch (err) {
        const code = resultCode(err);
        // 68: created since the check; 32: deleted since; 16/20: values changed since.
        if (code === 68 || (diff.action === 'modify' && (code === 32 || code === 16 || code === 20))) {
          await settle(pool, target, attrs, options);
          return;
        }
        throw err;
      }
    },
  };
}
