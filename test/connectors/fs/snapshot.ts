import { lstatSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

/** Every entry under `dir` with its inode, mtime and mode: equal snapshots mean nothing was written. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      out[p] = `ino=${st.ino} mtime=${st.mtimeMs} mode=${st.mode.toString(8)} size=${st.size}`;
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** The real paths of every entry under `dir` (following nothing but the entries themselves). */
export function realPaths(dir: string): string[] {
  return Object.keys(snapshot(dir)).map((p) => {
    const st = lstatSync(p);
    return st.isSymbolicLink() ? p : realpathSync(p);
  });
}
