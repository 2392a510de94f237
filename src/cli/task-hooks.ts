/**
 * Module hooks for task files (registered with `module.register` once idem's
 * own modules are loaded, so they only ever see a task and what it imports):
 *
 * - `import ... from 'idem'` (and `idem/testing`) gives this very installation,
 *   the same module instances as the CLI, wherever the task file lives;
 * - a TypeScript file outside node_modules is compiled by esbuild (types
 *   stripped, nothing else changed) and loaded as an ES module, whatever the
 *   package.json above it says; `./x.js` finds `./x.ts` as TypeScript does.
 *
 * Only the task's own files go through esbuild: idem itself is plain JavaScript,
 * loaded natively.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readCachedModule, writeCached } from './compile-cache.ts';

interface Resolved {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}

interface Loaded {
  format: string;
  source?: string | ArrayBuffer | Uint8Array | null;
  shortCircuit?: boolean;
}

let entries: Record<string, string> = {};
let cacheDir: string | undefined;

export async function initialize(data: {
  entries: Record<string, string>;
  cacheDir?: string;
}): Promise<void> {
  entries = data.entries;
  cacheDir = data.cacheDir;
}

const TS = /\.(ts|mts|cts|tsx)$/;
const ownFile = (url: string) => url.startsWith('file:') && !url.includes('/node_modules/');

export async function resolve(
  specifier: string,
  context: { parentURL?: string },
  next: (specifier: string, context: unknown) => Promise<Resolved>,
): Promise<Resolved> {
  const entry = entries[specifier];
  if (entry) return { url: entry, format: 'module', shortCircuit: true };
  try {
    return await next(specifier, context);
  } catch (err) {
    // `./helpers.js` in a TypeScript file means `./helpers.ts`, as tsc reads it.
    const fromTs = context.parentURL && TS.test(new URL(context.parentURL).pathname);
    if (!fromTs || !/^\.\.?\//.test(specifier) || !specifier.endsWith('.js')) throw err;
    return next(`${specifier.slice(0, -3)}.ts`, context);
  }
}

export async function load(
  url: string,
  context: { format?: string | null },
  next: (url: string, context: unknown) => Promise<Loaded>,
): Promise<Loaded> {
  if (!ownFile(url) || !TS.test(new URL(url).pathname)) return next(url, context);
  const path = new URL(url).pathname;
  const source = await readFile(path, 'utf8');
  return { format: 'module', source: await compiled(path, source), shortCircuit: true };
}

/**
 * The task file as JavaScript: from the cache when this very source was compiled
 * before (keyed by its path, its bytes and esbuild's version), else by esbuild,
 * whose first start costs a tenth of a second. A cache that cannot be read or
 * written is only skipped.
 */
async function compiled(path: string, source: string): Promise<string> {
  const esbuild = await import('esbuild');
  const key = createHash('sha256').update(`${esbuild.version}\0${path}\0${source}`).digest('hex');
  const cached = cacheDir ? join(cacheDir, `${key}.mjs`) : undefined;
  if (cached) {
    const hit = readCachedModule(cached);
    if (hit !== undefined) return hit;
  }
  const out = await esbuild.transform(source, {
    loader: path.endsWith('x') ? 'tsx' : 'ts',
    format: 'esm',
    target: 'node20',
    sourcefile: path,
    sourcemap: 'inline',
  });
  if (cacheDir) await writeCached(cacheDir, `${key}.mjs`, out.code);
  return out.code;
}
