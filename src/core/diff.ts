/**
 * Human-readable differences between the desired and the actual state.
 *
 * A step's `check` returns a {@link Diff}; a dry run prints its `changes`, a real
 * run hands the very same value to `apply`.
 */

/** `+` adds, `~` modifies, `-` removes. */
export type ChangeOp = '+' | '~' | '-';

/** One line of a diff, such as `~mail: a@x -> b@x`. */
export interface Change {
  op: ChangeOp;
  /** What changes: an attribute, a column, a path, a group member. */
  field: string;
  from?: unknown;
  to?: unknown;
  /** Never print the values of this change (`userPassword: <secret>`). */
  secret?: boolean;
  /**
   * A short unified diff of a text value (a file's content), printed under the
   * change for a person to read; never set on a secret change.
   */
  patch?: string;
}

/**
 * What a step's `check` returns when the target differs from the desired state.
 * Connectors may add their own fields for `apply` to use.
 *
 * @example
 * const diff: Diff = { changes: [modified('mail', 'a@x', 'b@x')] };
 */
export interface Diff {
  changes: Change[];
  /**
   * How many deletions (or disables) `apply` would perform. Counted by the
   * deletion guard (`maxDeletes`) before any deletion is applied.
   */
  deletes?: number;
  /** How many entries (rows, files) `apply` would create: the change budgets tell creates from modifications. */
  creates?: number;
}

/** A `+field: value` change. */
export const added = (field: string, to?: unknown, opts: { secret?: boolean } = {}): Change => ({
  op: '+',
  field,
  to,
  ...(opts.secret ? { secret: true } : {}),
});

/** A `~field: from -> to` change. */
export const modified = (
  field: string,
  from: unknown,
  to: unknown,
  opts: { secret?: boolean } = {},
): Change => ({ op: '~', field, from, to, ...(opts.secret ? { secret: true } : {}) });

/** A `-field` change. */
export const removed = (field: string, from?: unknown, opts: { secret?: boolean } = {}): Change => ({
  op: '-',
  field,
  from,
  ...(opts.secret ? { secret: true } : {}),
});

/** Builds a diff, or `undefined` when there are no changes (so `check` can return it directly). */
export function diffOf<D extends Diff>(diff: D): D | undefined {
  return diff.changes.length > 0 ? diff : undefined;
}

export const SECRET_MASK = '<secret>';

function show(value: unknown): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map(show).join(', ');
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** Renders one change as `+field: v`, `~field: a -> b` or `-field`. */
export function formatChange(c: Change): string {
  const v = (x: unknown) => (c.secret ? SECRET_MASK : show(x));
  switch (c.op) {
    case '+':
      return c.to === undefined ? `+${c.field}` : `+${c.field}: ${v(c.to)}`;
    case '~':
      return `~${c.field}: ${v(c.from)} -> ${v(c.to)}`;
    case '-':
      return c.from === undefined || c.secret ? `-${c.field}` : `-${c.field}: ${v(c.from)}`;
  }
}

/** A JSON-safe copy of a change with secret values masked. */
export function publicChange(c: Change): Change {
  if (!c.secret) return c;
  return {
    op: c.op,
    field: c.field,
    secret: true,
    ...(c.from !== undefined ? { from: SECRET_MASK } : {}),
    ...(c.to !== undefined ? { to: SECRET_MASK } : {}),
  };
}
