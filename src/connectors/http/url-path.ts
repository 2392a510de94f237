import { InvalidRecordError } from '../../core/errors.ts';

/**
 * A URL path with every interpolated value percent-encoded as one segment, so a
 * record value cannot add segments, a query or another host. A value that is
 * empty, `.` or `..` is refused: URLs treat even `%2E%2E` as "up one level".
 *
 * @example
 * urlPath`/users/${r.login}/keys` // '/users/a%2Fb/keys' for login 'a/b'
 */
export function urlPath(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    const text = String(v);
    if (text === '' || text === '.' || text === '..') {
      throw new InvalidRecordError(`URL path segment ${JSON.stringify(text)} is not allowed`);
    }
    out += encodeURIComponent(text) + (strings[i + 1] ?? '');
  });
  return out;
}
