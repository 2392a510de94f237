import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** idem's own package.json, and the folder it is in. */
function ownPackage(): { home: string; version: string } {
  const start = dirname(fileURLToPath(import.meta.url));
  // The nearest package.json above this module (src/runner/, dist/runner/ and the bundle's
  // dist/bundle/cli/ are at different depths), whatever the package is named: a fork or a
  // scoped copy of idem is idem too.
  for (let dir = start; ; dir = dirname(dir)) {
    let text: string | undefined;
    try {
      text = readFileSync(join(dir, 'package.json'), 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      const version = (JSON.parse(text) as { version?: unknown }).version;
      if (typeof version !== 'string') throw new Error(`idem: ${join(dir, 'package.json')} has no version`);
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
