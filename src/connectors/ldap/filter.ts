/**
 * Search filters (RFC 4515). The connector builds filters as ldapts filter
 * objects, which travel as BER with the values as opaque octets, so input can
 * never change a filter's structure. For filters written as text, the
 * {@link filter} tag escapes every interpolated value.
 */
import { AndFilter, EqualityFilter, type Filter, NotFilter, OrFilter, PresenceFilter } from 'ldapts';

/**
 * Escapes a value for a string filter (RFC 4515 section 3): `*`, `(`, `)`, `\`
 * and NUL (and the other control characters) become `\XX`. UTF-8 is kept.
 *
 * @example
 * escapeFilterValue('*)(uid=*') // "\\2a\\29\\28uid=\\2a"
 */
export function escapeFilterValue(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '*' || ch === '(' || ch === ')' || ch === '\\' || code < 0x20 || code === 0x7f) {
      out += `\\${code.toString(16).padStart(2, '0')}`;
    } else out += ch;
  }
  return out;
}

/**
 * A tagged template for filter strings: every interpolated value is escaped with
 * {@link escapeFilterValue}; the literal parts are taken as written.
 *
 * @example
 * filter`(&(objectClass=inetOrgPerson)(uid=${uid}))`
 */
export function filter(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += escapeFilterValue(String(v)) + (strings[i + 1] ?? '');
  });
  return out;
}

/**
 * `(attribute=value)` as a filter object; the value is sent as is, never parsed.
 *
 * @example
 * eq('uid', "O'Brien, Jr.")
 */
export function eq(attribute: string, value: string): Filter {
  return new EqualityFilter({ attribute, value });
}

/**
 * `(attribute=*)` as a filter object.
 *
 * @example
 * present('mail')
 */
export function present(attribute: string): Filter {
  return new PresenceFilter({ attribute });
}

/**
 * `(&...)` of filter objects.
 *
 * @example
 * and(eq('objectClass', 'groupOfNames'), eq('member', memberDn))
 */
export function and(...filters: Filter[]): Filter {
  return new AndFilter({ filters });
}

/**
 * `(|...)` of filter objects.
 *
 * @example
 * or(eq('uid', 'a'), eq('uid', 'b'))
 */
export function or(...filters: Filter[]): Filter {
  return new OrFilter({ filters });
}

/**
 * `(!...)` of a filter object.
 *
 * @example
 * not(present('shadowExpire'))
 */
export function not(inner: Filter): Filter {
  return new NotFilter({ filter: inner });
}
