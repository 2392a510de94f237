/**
 * The difference between desired attributes and an entry, as LDAP
 * modifications plus the human diff (`+attr`, `~attr: old -> new`, `-attr`).
 */
import { added, type Change, modified, removed } from '../../core/diff.ts';
import { parseDn } from './dn.ts';
import {
  type Attributes,
  desiredValues,
  type LdapEntry,
  missingValues,
  OPERATIONAL_ATTRIBUTES,
  SECRET_ATTRIBUTES,
  sameValues,
  shown,
  valueEquals,
} from './entry.ts';
import type { Modification } from './pool.ts';
import { remembered } from './remembered.ts';

/** How desired attributes apply to an existing entry. */
export interface AttributeDiffOptions {
  /**
   * `merge` changes only the listed attributes; `exact` also removes the user
   * attributes that are not listed (never operational, `createOnly`, `keep`,
   * `objectClass` or RDN attributes).
   * @default 'merge'
   */
  mode?: 'merge' | 'exact';
  /** Attributes set only when the entry is created, never compared or overwritten later. */
  createOnly?: string[];
  /** Extra attributes `exact` mode never removes. */
  keep?: string[];
  /**
   * Attributes whose values are never printed (`userPassword` always is). Like
   * `createOnly`, they are set when the entry is created and never compared or
   * overwritten later (the server may store a password hashed: a comparison would
   * report a change on every run), unless `rotateSecrets`.
   */
  secret?: string[];
  /** Compare and rewrite the secret attributes on every run too (a password rotation). @default false */
  rotateSecrets?: boolean;
}

/** Modifications and their human diff. */
export interface AttributeDiff {
  modifications: Modification[];
  changes: Change[];
}

const NONE: ReadonlySet<string> = new Set();
const NO_VALUES: readonly string[] = Object.freeze([]);

/** Attribute names lower-cased, once per distinct name (a task names the same few on every record). */
const lowerName = remembered((name) => name.toLowerCase(), 1000);

/** True when `want` lists exactly the values of `have`, in the same order, each a non-empty string. */
function sameInOrder(want: readonly unknown[], have: readonly string[]): boolean {
  if (want.length !== have.length || want.length === 0) return false;
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    if (typeof w !== 'string' || w === '' || w !== have[i]) return false;
  }
  return true;
}

const lowered = new WeakMap<string[], ReadonlySet<string>>();

/** A list of attribute names as a lower-cased set, made once per list (steps reuse their options). */
function lower(list: string[] | undefined): ReadonlySet<string> {
  if (!list || list.length === 0) return NONE;
  let set = lowered.get(list);
  if (!set) {
    set = new Set(list.map((a) => a.toLowerCase()));
    lowered.set(list, set);
  }
  return set;
}

/** Set on create only: `createOnly`, and the secret attributes unless `rotateSecrets`. */
function writeOnce(options: AttributeDiffOptions): (key: string) => boolean {
  const createOnly = lower(options.createOnly);
  const secret = lower(options.secret);
  const rotate = options.rotateSecrets === true;
  return (key) => createOnly.has(key) || (!rotate && (SECRET_ATTRIBUTES.has(key) || secret.has(key)));
}

/** True when the attribute's values must be masked. */
export function isSecret(attribute: string, secret: string[] | undefined): boolean {
  const key = attribute.toLowerCase();
  return SECRET_ATTRIBUTES.has(key) || lower(secret).has(key);
}

/** The attributes to read to compare an entry with `attrs`. */
export function attributesToRead(attrs: Attributes, options: AttributeDiffOptions): string[] {
  if (options.mode === 'exact') return ['*'];
  const once = writeOnce(options);
  const names = Object.keys(attrs).filter((a) => !once(a.toLowerCase()));
  return [...new Set(['objectClass', ...names])];
}

/** The attributes of a new entry: the desired ones with values, `createOnly` included. */
export function attributesForAdd(attrs: Attributes): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(attrs)) {
    const values = desiredValues(value);
    if (values && values.length > 0) out[name] = values;
  }
  return out;
}

/** The `+attr: value` lines of a new entry. */
export function creationChanges(attrs: Attributes, options: AttributeDiffOptions): Change[] {
  return Object.entries(attributesForAdd(attrs)).map(([name, values]) =>
    added(name, shown(values), { secret: isSecret(name, options.secret) }),
  );
}

/**
 * Compares desired attributes with an entry. `objectClass` values are only ever
 * added. Values compare exactly (the server stores what it is given), DN values
 * as DNs, object classes case-insensitively.
 */
export function diffAttributes(
  entry: LdapEntry,
  attrs: Attributes,
  options: AttributeDiffOptions = {},
): AttributeDiff {
  const once = writeOnce(options);
  const modifications: Modification[] = [];
  const changes: Change[] = [];
  const exact = options.mode === 'exact';
  const listed = new Set<string>();
  for (const name of Object.keys(attrs)) {
    const value = attrs[name];
    const key = lowerName(name);
    if (exact) listed.add(key);
    if (value === undefined || once(key) || OPERATIONAL_ATTRIBUTES.has(key)) continue;
    const have = entry.attrs[key] ?? (NO_VALUES as string[]);
    // The common cases, with nothing allocated: one value wanted and held, none wanted
    // and none held, the values held in the very order they are wanted (objectClass).
    if (typeof value === 'string') {
      if (value === '' ? have.length === 0 : have.length === 1 && valueEquals(key, value, have[0] as string))
        continue;
    } else if (value === null) {
      if (have.length === 0) continue;
    } else if (Array.isArray(value) && sameInOrder(value, have)) continue;
    const want = desiredValues(value) as string[];
    if (want.length === 1 && have.length === 1 && valueEquals(key, want[0] as string, have[0] as string))
      continue;
    const secret = { secret: isSecret(name, options.secret) };
    if (key === 'objectclass') {
      const missing = missingValues(name, want, have);
      if (missing.length > 0) {
        modifications.push({ op: 'add', attribute: name, values: missing });
        changes.push(added(name, shown(missing)));
      }
    } else if (want.length === 0) {
      if (have.length > 0) {
        modifications.push({ op: 'delete', attribute: name, values: [] });
        changes.push(removed(name, shown(have), secret));
      }
    } else if (have.length === 0) {
      modifications.push({ op: 'replace', attribute: name, values: want });
      changes.push(added(name, shown(want), secret));
    } else if (!sameValues(name, want, have)) {
      modifications.push({ op: 'replace', attribute: name, values: want });
      changes.push(modified(name, shown(have), shown(want), secret));
    }
  }
  if (exact) {
    const keep = lower(options.keep);
    const rdnTypes = new Set((parseDn(entry.dn)[0] ?? []).map((a) => a.type.toLowerCase()));
    for (const [key, have] of Object.entries(entry.attrs)) {
      if (listed.has(key) || key === 'objectclass' || OPERATIONAL_ATTRIBUTES.has(key)) continue;
      if (once(key) || keep.has(key) || rdnTypes.has(key) || have.length === 0) continue;
      modifications.push({ op: 'delete', attribute: key, values: [] });
      changes.push(removed(key, shown(have), { secret: isSecret(key, options.secret) }));
    }
  }
  return { modifications, changes };
}
