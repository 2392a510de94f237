/**
 * A string function that remembers its answers: for attribute names and types,
 * a few distinct ones asked about on every entry and every record.
 */

/**
 * `fn`, remembering the answers for its first `max` distinct inputs.
 * @example const lower = remembered((s) => s.toLowerCase(), 1000);
 */
export function remembered(fn: (input: string) => string, max: number): (input: string) => string {
  const known = new Map<string, string>();
  return (input) => {
    let out = known.get(input);
    if (out === undefined) {
      out = fn(input);
      if (known.size < max) known.set(input, out);
    }
    return out;
  };
}
