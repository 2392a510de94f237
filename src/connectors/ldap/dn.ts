/**
 * Distinguished names (RFC 4514): an escaper of our own, a parser, and the
 * normalized form used to compare DNs (`member` values, moves).
 *
 * Values are always escaped when a DN is built; a DN is never assembled by
 * pasting raw input into a string.
 */

/** One `type=value` pair of an RDN, with the value unescaped. */
export interface Ava {
  type: string;
  value: string;
  /** The value was written as `#hex` (BER), and `value` holds that text as is. */
  ber?: boolean;
}

/** A relative distinguished name: one or more `type=value` pairs joined by `+`. */
export type Rdn = Ava[];

const SPECIAL = new Set(['"', '+', ',', ';', '<', '>', '\\', '=']);

function hex(ch: string): string {
  return [...Buffer.from(ch, 'utf8')]
    .map((b) => `\\${b.toString(16).toUpperCase().padStart(2, '0')}`)
    .join('');
}

/**
 * Escapes one attribute value for use in a DN (RFC 4514 section 2.4): `" + , ; < > \ =`
 * get a backslash (a backslash itself becomes `\5C`, so no DN we build ends a value
 * in `\\,`), a leading `#` or space and a trailing space are escaped, NUL and other
 * control characters become hex pairs. Unicode is kept as is.
 *
 * @example
 * escapeDnValue('O\'Brien, Jr.') // "O'Brien\\, Jr."
 * escapeDnValue('#hash')         // "\\#hash"
 * escapeDnValue(' lead')         // "\\ lead"
 */
export function escapeDnValue(value: string): string {
  if (needsNoEscape(value)) return value;
  const chars = [...value];
  let out = '';
  chars.forEach((ch, i) => {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\5C';
    else if (code < 0x20 || code === 0x7f) out += hex(ch);
    else if (SPECIAL.has(ch)) out += `\\${ch}`;
    else if (i === 0 && (ch === '#' || ch === ' ')) out += `\\${ch}`;
    else if (i === chars.length - 1 && ch === ' ') out += '\\ ';
    else out += ch;
  });
  return out;
}

/**
 * True when {@link escapeDnValue} leaves a value as it is (most uids and group
 * names): no special or control character, no leading `#` or space, no trailing space.
 */
function needsNoEscape(value: string): boolean {
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (
      c < 0x20 ||
      c === 0x7f ||
      c === 0x22 ||
      c === 0x2b ||
      c === 0x2c ||
      c === 0x3b ||
      c === 0x3c ||
      c === 0x3d ||
      c === 0x3e ||
      c === 0x5c
    ) {
      return false;
    }
  }
  const first = value.charCodeAt(0);
  return n === 0 || (first !== 0x23 && first !== 0x20 && value.charCodeAt(n - 1) !== 0x20);
}

/**
 * Builds an RDN `type=value` with the value escaped.
 *
 * @example
 * rdn('uid', 'a+b') // "uid=a\\+b"
 */
export function rdn(type: string, value: string): string {
  if (!/^[A-Za-z][A-Za-z0-9-]*$|^\d+(\.\d+)*$/.test(type))
    throw new Error(`"${type}" is not an attribute type`);
  return `${type}=${escapeDnValue(value)}`;
}

/**
 * Builds the DN of a child entry: `type=<escaped value>,parent`. The parent is
 * taken as a DN (it is not escaped again).
 *
 * @example
 * childDn('uid', 'jdoe', 'ou=people,dc=example,dc=com') // "uid=jdoe,ou=people,dc=example,dc=com"
 */
export function childDn(type: string, value: string, parent: string): string {
  return parent ? `${rdn(type, value)},${parent}` : rdn(type, value);
}

function decodeHexPairs(bytes: number[]): string {
  return Buffer.from(bytes).toString('utf8');
}

/**
 * Parses a DN string into RDNs (first = leftmost), unescaping values. Accepts
 * `\X` and `\HH` escapes and `#hex` (BER) values (kept as written).
 * Throws on a malformed DN.
 *
 * @example
 * parseDn('uid=a\\+b,ou=people,dc=example,dc=com')[0] // [{ type: 'uid', value: 'a+b' }]
 */
export function parseDn(dn: string): Rdn[] {
  const rdns: Rdn[] = [];
  if (dn.trim() === '') return rdns;
  let i = 0;
  let current: Rdn = [];
  const fail = (why: string): never => {
    throw new Error(`malformed DN "${dn}": ${why} at offset ${i}`);
  };
  while (i <= dn.length) {
    while (dn[i] === ' ') i++;
    let type = '';
    while (i < dn.length && dn[i] !== '=') type += dn[i++];
    type = type.trim();
    if (!type || dn[i] !== '=') fail('expected type=value');
    i++;
    let value = '';
    const ber = dn[i] === '#';
    if (ber) {
      while (i < dn.length && !',+;'.includes(dn[i] as string)) value += dn[i++];
      value = value.trimEnd();
    } else {
      let pendingBytes: number[] = [];
      let trailingSpaces = 0;
      const flush = () => {
        if (pendingBytes.length) value += decodeHexPairs(pendingBytes);
        pendingBytes = [];
      };
      while (i < dn.length && !',+;'.includes(dn[i] as string)) {
        const ch = dn[i] as string;
        if (ch === '\\') {
          const next = dn.slice(i + 1, i + 3);
          if (/^[0-9A-Fa-f]{2}$/.test(next)) {
            pendingBytes.push(Number.parseInt(next, 16));
            i += 3;
          } else if (i + 1 < dn.length) {
            flush();
            value += dn[i + 1];
            i += 2;
          } else fail('dangling backslash');
          trailingSpaces = 0;
        } else {
          flush();
          value += ch;
          trailingSpaces = ch === ' ' ? trailingSpaces + 1 : 0;
          i++;
        }
      }
      flush();
      if (trailingSpaces) value = value.slice(0, value.length - trailingSpaces);
    }
    current.push(ber ? { type, value, ber } : { type, value });
    const sep = dn[i];
    i++;
    if (sep === '+') continue;
    rdns.push(current);
    current = [];
    if (sep === undefined) break;
  }
  return rdns;
}

/**
 * Serializes parsed RDNs back to a DN string, escaping every value.
 *
 * @example
 * formatDn([[{ type: 'cn', value: 'a,b' }], [{ type: 'dc', value: 'x' }]]) // "cn=a\\,b,dc=x"
 */
export function formatDn(rdns: Rdn[]): string {
  return rdns
    .map((r) => r.map((a) => `${a.type}=${a.ber ? a.value : escapeDnValue(a.value)}`).join('+'))
    .join(',');
}

/**
 * The form used to compare DNs: attribute types lower-cased, values unescaped,
 * trimmed and lower-cased (the naming attributes we meet, `uid`, `cn`, `ou`, `dc`,
 * match case-insensitively), multi-valued RDNs sorted, re-escaped.
 *
 * @example
 * normalizeDn('UID=JDoe, OU=People,DC=example,DC=com') === normalizeDn('uid=jdoe,ou=people,dc=example,dc=com') // true
 */
export function normalizeDn(dn: string): string {
  if (isPlainDn(dn)) return dn.toLowerCase();
  return parseDn(dn)
    .map((r) =>
      r
        .map(
          (a) =>
            `${a.type.toLowerCase()}=${a.ber ? a.value.toLowerCase() : escapeDnValue(a.value.trim().replace(/\s+/g, ' ').toLowerCase())}`,
        )
        .sort()
        .join('+'),
    )
    .join(',');
}

/**
 * No escapes, quotes, `+`, `;`, `<`, `>`, `#`, whitespace or controls, and one `=`
 * per RDN: then lower-casing is normalizing (the common case, checked in one pass).
 */
function isPlainDn(dn: string): boolean {
  let equals = 0;
  let start = 0;
  for (let i = 0; i < dn.length; i++) {
    const c = dn.charCodeAt(i);
    if (c === 0x3d) {
      if (i === start || ++equals > 1) return false;
    } else if (c === 0x2c) {
      if (equals !== 1) return false;
      equals = 0;
      start = i + 1;
    } else if (
      c <= 0x20 ||
      c === 0x7f ||
      c === 0x22 ||
      c === 0x23 ||
      c === 0x2b ||
      c === 0x3b ||
      c === 0x3c ||
      c === 0x3e ||
      c === 0x5c ||
      (c >= 0x80 && /\s/.test(dn[i] as string))
    ) {
      return false;
    }
  }
  return equals === 1 || dn.length === 0;
}

/**
 * True when two DNs name the same entry (see {@link normalizeDn}).
 *
 * @example
 * dnEquals('cn=Staff,ou=groups,dc=x', 'CN=staff, ou=groups, dc=x') // true
 */
export function dnEquals(a: string, b: string): boolean {
  return normalizeDn(a) === normalizeDn(b);
}

/**
 * A test of "does this DN name `norm`" (a normalized DN) that remembers the last
 * string it was asked about: steps ask with the same base string on every record.
 *
 * @example
 * const isPeople = sameDnAs(normalizeDn('ou=people,dc=x'));
 * isPeople('OU=People, dc=x') // true
 */
export function sameDnAs(norm: string): (dn: string) => boolean {
  let last: string | undefined;
  let answer = false;
  return (dn) => {
    if (dn !== last) {
      answer = normalizeDn(dn) === norm;
      last = dn;
    }
    return answer;
  };
}

/**
 * The parent of a DN (`''` for a single RDN).
 *
 * @example
 * parentDn('uid=jdoe,ou=people,dc=example,dc=com') // "ou=people,dc=example,dc=com"
 */
export function parentDn(dn: string): string {
  return formatDn(parseDn(dn).slice(1));
}

/**
 * The leftmost RDN of a DN, parsed.
 *
 * @example
 * firstRdn('cn=staff,ou=groups,dc=x') // [{ type: 'cn', value: 'staff' }]
 */
export function firstRdn(dn: string): Rdn {
  const first = parseDn(dn)[0];
  if (!first) throw new Error(`the empty DN has no RDN`);
  return first;
}

/**
 * Re-serializes a DN with our escaper, so that any DN handed to the server (or to
 * ldapts, which splits a new DN at its first unescaped comma) is in one canonical
 * escaped form. Case and spacing of values are kept.
 *
 * @example
 * canonicalDn('uid=a\\\\b, ou=people,dc=x') // "uid=a\\5Cb,ou=people,dc=x"
 */
export function canonicalDn(dn: string): string {
  return formatDn(parseDn(dn));
}
