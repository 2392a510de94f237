import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** idem's own package.json, and the folder it is in. */
function ownPackage(): { home: string; version: string } {
  const start = dirname(fileURLToPath(import.meta.url));
  // The nearest package.json above this module (src/runner/, dist/runner/ and the bundle's
  // dist/bundle/cli/ are at different depths), whatever the package is named: a fork or a
  // scoped copy of idem is idem too.
  for (let dir = start; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const { version } = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
      if (typeof version !== 'string') throw new Error(`idem: ${file} has no version`);
      return { home: dir, version };
    }
    if (dirname(dir) === dir) throw new Error(`idem: no package.json in ${start} or above it`);
  }
}

const own = ownPackage();

/** The folder this idem is installed in (where its package.json, dist/ and node_modules/ are). */
export const IDEM_HOME: string = own.home;

/** This idem's version, from its package.json: bound into plans and runs so a resume or an apply notices an upgrade. */
export const IDEM_VERSION: string = own.version;
