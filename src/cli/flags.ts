import { errorMessage, UsageError } from '../core/errors.ts';

/** A flag's whole number of 1 or more, or a usage error naming the flag. */
export function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} takes a whole number of 1 or more, not "${value}"`);
  return n;
}

/** A flag parsed by `parse`; its error becomes a usage error naming the flag. */
export function parsed<T>(
  value: string | undefined,
  flag: string,
  parse: (text: string) => T,
): T | undefined {
  if (value === undefined) return undefined;
  try {
    return parse(value);
  } catch (err) {
    throw new UsageError(`${flag}: ${errorMessage(err)}`);
  }
}

/** The options every ledger command takes. */
export const STATE_DIR_HELP =
  'ledger folder (default: $IDEM_STATE_DIR, else .idem/ next to the task file, else ./.idem)';
