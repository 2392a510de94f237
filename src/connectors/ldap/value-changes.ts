/**
 * Adding and removing values of a multi-valued attribute (group members) so
 * that a stale check cannot break it: with Permissive Modify where the server
 * supports it, otherwise by treating 20 (value exists) and 16 (no such value)
 * as "already converged" and re-reading to recompute what is left.
 */

import { permissiveModify } from './controls.ts';
import { firstRdn } from './dn.ts';
import { missingValues, valueEquals, valuesOf } from './entry.ts';
import { LdapError, resultCode } from './errors.ts';
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
  /**
   * The values as the check read them (`null`: the entry was missing). When
   * omitted, they are read first.
   */
  snapshot?: string[] | null;
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

function plan(
  attribute: string,
  add: string[],
  remove: string[],
  have: string[],
  placeholder: string | undefined,
): { toAdd: string[]; toRemove: string[] } {
  const has = (v: string) => have.some((h) => valueEquals(attribute, v, h));
  const toAdd = missingValues(attribute, add, have);
  const toRemove = remove.filter(has);
  if (placeholder !== undefined) {
    const left = have.filter((h) => !toRemove.some((r) => valueEquals(attribute, r, h)));
    if (toAdd.length > 0 && has(placeholder)) toRemove.push(placeholder);
    else if (toAdd.length === 0 && left.length === 0 && toRemove.length > 0) toAdd.push(placeholder);
  }
  return { toAdd, toRemove };
}

/**
 * The first round's plan, from the check's snapshot: every value the check asked
 * for goes out as it is (the snapshot may be stale; the server tells).
 */
function trustedPlan(
  attribute: string,
  add: string[],
  remove: string[],
  have: string[],
  placeholder: string | undefined,
): { toAdd: string[]; toRemove: string[] } {
  const toAdd = [...add];
  const toRemove = [...remove];
  if (placeholder !== undefined) {
    const has = (v: string) => have.some((h) => valueEquals(attribute, v, h));
    if (toAdd.length > 0 && has(placeholder)) toRemove.push(placeholder);
    const left = have.filter((h) => !toRemove.some((r) => valueEquals(attribute, r, h)));
    if (toAdd.length === 0 && toRemove.length > 0 && left.length === 0) toAdd.push(placeholder);
  }
  return { toAdd, toRemove };
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
 * entry is created (with `create`), and a concurrent change makes it re-read and
 * try again. Throws a permanent error when removing the last value is not
 * allowed and there is no placeholder.
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
  const permissive = await pool.usePermissiveModify();
  const controls = permissive ? [permissiveModify()] : undefined;
  let have: string[] | null | undefined = options.snapshot;
  // The first round trusts the check's view: the values it asked for go out as they are.
  let trusted = have !== undefined;
  for (let round = 0; round < ROUNDS; round++) {
    if (have === undefined) {
      const entry = await pool.read(dn, [attribute]);
      have = entry ? valuesOf(entry, attribute) : null;
    }
    if (have === null) {
      if (add.length === 0) return;
      if (!options.create) {
        throw new LdapError(
          'permanent',
          'modify',
          dn,
          `ldap modify ${dn} [${attribute}]: the entry does not exist`,
          {
            code: 32,
            attributes: [attribute],
          },
        );
      }
      try {
        await pool.add(dn, options.create(add));
        return;
      } catch (err) {
        if (resultCode(err) !== 68) throw err;
        have = undefined;
        trusted = false;
        continue;
      }
    }
    const planned = trusted
      ? trustedPlan(attribute, add, remove, have, options.placeholder)
      : plan(attribute, add, remove, have, options.placeholder);
    const mods = modifications(attribute, planned.toAdd, planned.toRemove);
    if (mods.length === 0) return;
    try {
      await pool.modify(dn, mods, controls);
      return;
    } catch (err) {
      const code = resultCode(err);
      if (code === 20 || code === 16 || code === 32) {
        // Already there / already gone / entry vanished: re-read and see what is left.
        have = undefined;
        trusted = false;
        continue;
      }
      if (code === 65 && options.placeholder === undefined) {
        throw new LdapError(
          'permanent',
          'modify',
          dn,
          `ldap modify ${dn} [${attribute}]: removing ${remove.join(', ')} would leave no ${attribute} value, ` +
            `which the entry's object class forbids (objectClassViolation 65); give the step a placeholder value`,
          { cause: err, code, attributes: [attribute] },
        );
      }
      if (code === 65) {
        have = undefined;
        trusted = false;
        continue;
      }
      throw err;
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
