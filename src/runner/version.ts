import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** idem's own package.json, and the folder it is in. */
function ownPackage(): { home: string; version: string } {
  const start = dirname(fileURLToPath(import.meta.url));
  // The nearest package.json named idem above this module: src/runner/, dist/runner/ and
  // the bundle's dist/bundle/cli/ are at different depths.
  for (let dir = start; ; dir = dirname(dir)) {
    let pkg: { name?: unknown; version?: unknown } | undefined;
    try {
      pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    } catch {
      pkg = undefined;
    }
    if (pkg?.name === 'idem' && typeof pkg.version === 'string') return { home: dir, version: pkg.version };
    if (dirname(dir) === dir) throw new Error(`idem: no package.json of idem in ${start} or above it`);
  }
}

const own = ownPackage();

/** The folder this idem is installed in (where its package.json, dist/ and node_modules/ are). */
export const IDEM_HOME: string = own.home;

/** This idem's version, from its package.json: bound into plans and runs so a resume or an apply notices an upgrade. */
export const IDEM_VERSION: string = own.version;
