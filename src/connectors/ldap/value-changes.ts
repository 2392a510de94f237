/**
 * Adding and removing values of a multi-valued attribute (group members) so
 * that a stale check cannot break it: with Permissive Modify where the server
 * supports it, otherwise by treating 20 (value exists) and 16 (no such value)
 * as "already converged" and re-reading to recompute what is left.
 *
 * It never reads the whole attribute (a `staff` group of 10,000 members): the
 * server answers per value, with a base search filtered on that value.
 */
import { permissiveModify } from './controls.ts';
import { firstRdn } from './dn.ts';
import { LdapError, resultCode } from './errors.ts';
import { eq } from './filter.ts';
import type { LdapPool, Modification } from './pool.ts';

/** Options for {@link changeValues}. */
export interface ValueChangeOptions {
  /**
   * Creates the entry when it is missing and values are to be added: returns its
   * attributes given the first values (a `groupOfNames` with its first member).
   */
  create?: (values: string[]) => Record<string, string[]>;
  /**
   * A value that keeps the attribute from becoming empty (`groupOfNames` must
   * have a member): added when the last real value leaves, removed when a real
   * value joins. Ignored when comparing.
   */
  placeholder?: string;
  /** Whether the check saw the placeholder; asked of the server when unknown. */
  placeholderPresent?: boolean;
}

const ROUNDS = 4;

/**
 * The attributes of a new group with its first members: a `groupOfNames`
 * (or a `groupOfUniqueNames` when the attribute is `uniqueMember`).
 */
export function groupOfNames(dn: string, members: string[], attribute = 'member'): Record<string, string[]> {
  const objectClass = attribute.toLowerCase() === 'uniquemember' ? 'groupOfUniqueNames' : 'groupOfNames';
  const attrs: Record<string, string[]> = { objectClass: [objectClass], [attribute]: members };
  for (const ava of firstRdn(dn)) attrs[ava.type] = [...(attrs[ava.type] ?? []), ava.value];
  if (!Object.keys(attrs).some((k) => k.toLowerCase() === 'cn')) attrs.cn = [firstRdn(dn)[0]?.value ?? ''];
  return attrs;
}

/**
 * Which of `values` the entry's attribute holds, as the server matches them
 * (DN values match as DNs); `null` when the entry does not exist.
 */
export async function valuesPresent(
  pool: LdapPool,
  dn: string,
  attribute: string,
  values: string[],
): Promise<Map<string, boolean> | null> {
  const present = new Map<string, boolean>();
  for (const v of new Set(values)) {
    try {
      const hit = await pool.search(dn, { scope: 'base', filter: eq(attribute, v), attributes: ['1.1'] });
      present.set(v, hit.length > 0);
    } catch (err) {
      if (resultCode(err) === 32) return null;
      throw err;
    }
  }
  return present;
}

function modifications(attribute: string, toAdd: string[], toRemove: string[]): Modification[] {
  const mods: Modification[] = [];
  if (toAdd.length > 0) mods.push({ op: 'add', attribute, values: toAdd });
  if (toRemove.length > 0) mods.push({ op: 'delete', attribute, values: toRemove });
  return mods;
}

/**
 * Adds `add` to and removes `remove` from the values of `attribute` of `dn`,
 * idempotently: values already there (or already gone) are fine, a missing
 * entry is created (with `create`), and a concurrent change makes it look again
 * and retry. Throws a permanent error when removing the last value is not
 * allowed and there is no placeholder.
 *
 * @example
 * await changeValues(pool, groupDn, 'member', { add: [userDn] }, { create: (m) => groupOfNames(groupDn, m) });
 */
export async function changeValues(
  pool: LdapPool,
  dn: string,
  attribute: string,
  change: { add?: string[]; remove?: string[] },
  options: ValueChangeOptions = {},
): Promise<void> {
  const add = change.add ?? [];
  const remove = change.remove ?? [];
  const { placeholder } = options;
  const permissive = await pool.usePermissiveModify();
  const controls = permissive ? [permissiveModify()] : undefined;
  let toAdd = [...add];
  let toRemove = [...remove];
  if (placeholder !== undefined && toAdd.length > 0) {
    // A real value joins: the placeholder leaves (when it is there).
    const there =
      permissive ||
      (options.placeholderPresent ??
        (await valuesPresent(pool, dn, attribute, [placeholder]))?.get(placeholder) === true);
    if (there) toRemove.push(placeholder);
  }
  for (let round = 0; round < ROUNDS; round++) {
    const mods = modifications(attribute, toAdd, toRemove);
    if (mods.length === 0) return;
    try {
      await pool.modify(dn, mods, controls);
      return;
    } catch (err) {
      const code = resultCode(err);
      if (code === 32) {
        if (add.length === 0) return; // nothing to remove from an entry that is gone
        if (!options.create) {
          throw new LdapError(
            'permanent',
            'modify',
            dn,
            `ldap modify ${dn} [${attribute}]: the entry does not exist`,
            {
              cause: err,
              code,
              attributes: [attribute],
            },
          );
        }
        try {
          await pool.add(dn, options.create(add));
          return;
        } catch (addErr) {
          if (resultCode(addErr) !== 68) throw addErr;
        }
      } else if (code === 65) {
        if (placeholder === undefined) {
          throw new LdapError(
            'permanent',
            'modify',
            dn,
            `ldap modify ${dn} [${attribute}]: removing ${remove.join(', ')} would leave no ${attribute} value, ` +
              `which the entry's object class forbids (objectClassViolation 65); give the step a placeholder value`,
            { cause: err, code, attributes: [attribute] },
          );
        }
        if (toAdd.includes(placeholder)) throw err;
        // The last real value leaves: the placeholder keeps the entry valid.
        toAdd = [...toAdd.filter((v) => v !== placeholder), placeholder];
        toRemove = toRemove.filter((v) => v !== placeholder);
        continue;
      } else if (code !== 20 && code !== 16) {
        throw err;
      }
      // 20/16/68: some values were there already, or gone already: see what is left.
      const all = [...add, ...remove, ...(placeholder !== undefined ? [placeholder] : [])];
      const state = await valuesPresent(pool, dn, attribute, all);
      if (state === null) {
        toAdd = [...add];
        toRemove = [];
        continue;
      }
      toAdd = add.filter((v) => !state.get(v));
      toRemove = remove.filter((v) => state.get(v));
      if (placeholder !== undefined && toAdd.length > 0 && state.get(placeholder)) toRemove.push(placeholder);
    }
  }
  throw new LdapError(
    'transient',
    'modify',
    dn,
    `ldap modify ${dn} [${attribute}]: the values kept changing under us (${ROUNDS} rounds of re-read and modify)`,
    { attributes: [attribute] },
  );
}
