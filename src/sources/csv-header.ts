import { UsageError } from '../core/errors.ts';

/** Where the names come from, for messages. */
export interface HeaderContext {
  path: string;
  /** The line of the header, or undefined when the task declared the columns. */
  line: number | undefined;
  delimiter: string;
  /** The columns the task reads (its declared fields and its key column). */
  required: readonly string[];
}

const CANDIDATES = [',', ';', '\t', '|'];

function show(name: string): string {
  const s = name.length > 80 ? `${name.slice(0, 77)}...` : name;
  return JSON.stringify(s);
}

function where(c: HeaderContext): string {
  return c.line === undefined ? 'the columns declared in the task' : `the header (line ${c.line})`;
}

/**
 * Refuses a header that would make the records wrong rather than invalid: a
 * column without a name, a name given twice (the last column would win), or one
 * that lacks a column the task reads (one message, with the likely delimiter
 * when the header is a single column that contains one).
 */
export function checkHeader(names: readonly string[], c: HeaderContext): void {
  const empty = names.indexOf('');
  if (empty >= 0) {
    throw new UsageError(
      `input ${c.path}: column ${empty + 1} of ${where(c)} has no name; every column needs one ` +
        '(a delimiter at the end of the header?). Nothing was changed.',
    );
  }
  const first = new Map<string, number>();
  for (const [i, name] of names.entries()) {
    const seen = first.get(name);
    if (seen !== undefined) {
      throw new UsageError(
        `input ${c.path}: ${where(c)} names column ${show(name)} twice (columns ${seen + 1} and ${i + 1}); ` +
          'each column needs its own name, or one would silently replace the other. Nothing was changed.',
      );
    }
    first.set(name, i);
  }
  const missing = [...new Set(c.required)].filter((r) => !first.has(r));
  if (missing.length === 0) return;
  const reads = c.required.map((r) => `"${r}"`).join(', ');
  const delimiter = names.length === 1 ? likelyDelimiter(names[0] as string, c) : undefined;
  if (delimiter !== undefined) {
    throw new UsageError(
      `input ${c.path} looks like it uses ${JSON.stringify(delimiter)} as its delimiter, not ${JSON.stringify(c.delimiter)}: ` +
        `${where(c)} is one column, ${show(names[0] as string)}, and the task reads ${reads}. ` +
        `Declare it: csv(path, { delimiter: ${JSON.stringify(delimiter)} }). Nothing was changed.`,
    );
  }
  throw new UsageError(
    `input ${c.path} lacks the column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} ` +
      `that the task reads; ${where(c)} has ${names.map(show).join(', ')}. Nothing was changed.`,
  );
}

/** The delimiter a one-column header was probably written with: the one that finds most of the required columns. */
function likelyDelimiter(name: string, c: HeaderContext): string | undefined {
  let best: { d: string; found: number; parts: number } | undefined;
  for (const d of CANDIDATES) {
    if (d === c.delimiter || !name.includes(d)) continue;
    const parts = name.split(d).map((p) => p.trim().replace(/^"(.*)"$/, '$1'));
    const found = c.required.filter((r) => parts.includes(r)).length;
    if (!best || found > best.found || (found === best.found && parts.length > best.parts)) {
      best = { d, found, parts: parts.length };
    }
  }
  return best?.d;
}
