/**
 * The names the `sql` namespace had before it stopped repeating itself, kept
 * for one release.
 */
import { classify } from './errors.ts';

/**
 * @deprecated Use `sql.classify`.
 * @example defineTask({ ..., classify: sql.classify })
 */
export const classifySql = classify;
