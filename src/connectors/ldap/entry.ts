/**
 * Entries as the connector sees them: a DN and attribute values as string
 * arrays, keyed by lower-cased attribute name. Plus the value rules used to
 * compare desired and actual values.
 */
import type { Entry } from 'ldapts';
import { normalizeDn } from './dn.ts';
import { remembered } from './remembered.ts';

/**
 * An entry read from the directory. Attribute names are lower-cased keys.
 * @example const mail = (await ctx.ldap.read(dn, ['mail']))?.attrs.mail?.[0];
 */
export interface LdapEntry {
  dn: string;
  attrs: Record<string, string[]>;
}

/**
 * A desired attribute value: a string (or number) for one value, an array for
 * several. `null`, `''` and `[]` mean "the attribute must be absent";
 * `undefined` means "not managed: leave it alone".
 */
export type AttributeValue = string | number | readonly (string | number)[] | null | undefined;

/**
 * Desired attributes, by name.
 * @example const attrs: ldap.Attributes = { objectClass: ['inetOrgPerson'], cn: r.name, mail: r.mail || null };
 */
export type Attributes = Record<string, AttributeValue>;

/** Attributes the server maintains; never compared, never removed. */
export const OPERATIONAL_ATTRIBUTES: ReadonlySet<string> = new Set([
  'createtimestamp',
  'creatorsname',
  'modifytimestamp',
  'modifiersname',
  'entryuuid',
  'entrycsn',
  'entrydn',
  'structuralobjectclass',
  'hassubordinates',
  'subschemasubentry',
  'contextcsn',
  'memberof',
  'pwdchangedtime',
  'pwdaccountlockedtime',
  'pwdfailuretime',
  'pwdhistory',
  'pwdgraceusetime',
  'pwdreset',
  'pwdpolicysubentry',
]);

/** Attributes whose values are DNs: compared as DNs, not as strings. */
export const DN_ATTRIBUTES: ReadonlySet<string> = new Set([
  'member',
  'uniquemember',
  'manager',
  'owner',
  'secretary',
  'seealso',
  'roleoccupant',
]);

/** Attributes whose values are secrets: printed as `<secret>`. */
export const SECRET_ATTRIBUTES: ReadonlySet<string> = new Set(['userpassword']);

/** An attribute name as ldapts gives it → the key idem keeps it under (lower-cased, no `;binary`). */
export const attributeKey = remembered((name) => name.toLowerCase().replace(/;binary$/, ''), 10_000);

/** Converts an ldapts search entry. */
export function toLdapEntry(entry: Entry): LdapEntry {
  const attrs: Record<string, string[]> = {};
  for (const [name, raw] of Object.entries(entry)) {
    if (name === 'dn') continue;
    const list = Array.isArray(raw) ? raw : [raw];
    if (list.length === 0) continue; // ldapts lists requested attributes the entry lacks as []
    const key = attributeKey(name);
    attrs[key] = [
      ...(attrs[key] ?? []),
      ...list.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))),
    ];
  }
  return { dn: entry.dn, attrs };
}

/** The values of one attribute of an entry (an empty array when absent). */
export function valuesOf(entry: LdapEntry | undefined, attribute: string): string[] {
  return entry?.attrs[attribute.toLowerCase()] ?? [];
}

/** A desired value as a list of strings (`undefined` when not managed). */
export function desiredValues(value: AttributeValue): string[] | undefined {
  if (value === undefined) return undefined;
  if (value === null) return [];
  if (typeof value === 'string') return value === '' ? [] : [value];
  const list = (Array.isArray(value) ? value : [value]) as (string | number)[];
  return list.map(String).filter((v) => v !== '');
}

/** A value in the form it is compared in: DNs normalized, object classes lower-cased. */
export function comparable(attribute: string, value: string): string {
  const key = attribute.toLowerCase();
  if (DN_ATTRIBUTES.has(key)) {
    try {
      return normalizeDn(value);
    } catch {
      return value;
    }
  }
  return key === 'objectclass' ? value.toLowerCase() : value;
}

/** True when a value equals another under the attribute's rules. */
export function valueEquals(attribute: string, a: string, b: string): boolean {
  return a === b || comparable(attribute, a) === comparable(attribute, b);
}

/** The values of `wanted` that `have` lacks, under the attribute's rules (linear time). */
export function missingValues(attribute: string, wanted: string[], have: string[]): string[] {
  const present = new Set(have.map((h) => comparable(attribute, h)));
  return wanted.filter((w) => !present.has(comparable(attribute, w)));
}

/** True when two value lists hold the same values (as sets). */
export function sameValues(attribute: string, a: string[], b: string[]): boolean {
  return missingValues(attribute, a, b).length === 0 && missingValues(attribute, b, a).length === 0;
}

/** One value for a diff: a single string, or the list. */
export function shown(values: string[]): string | string[] {
  return values.length === 1 ? (values[0] as string) : values;
}
