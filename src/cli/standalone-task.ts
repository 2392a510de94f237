/**
 * The fast way to load a task: a TypeScript task file whose code imports only
 * `idem`, `idem/testing` and Node's builtins becomes one standalone ES module
 * whose `idem` imports are this installation's own file URLs (so the task gets
 * the CLI's very module instances), kept in the compile cache and imported
 * directly. No module hooks, so no loader worker thread: on Node 20
 * `module.register` starts one, with a V8 isolate of its own.
 *
 * Anything else (a relative or package import, a specifier computed at run
 * time, a JavaScript task, a file esbuild cannot compile) gets `undefined`, and
 * the caller loads the task through the hooks of task-hooks.ts, as before. That
 * verdict depends only on the task file's bytes, so it is cached too: such a task
 * pays for esbuild in this thread once, not on every run.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { IDEM_VERSION } from '../runner/version.ts';
import { readCachedModule, writeCached } from './compile-cache.ts';

/** Bump when what this file writes changes shape. */
const FORMAT = 'idem-standalone-task-1';
const TS = /\.(ts|mts|cts|tsx)$/;

/** esbuild's version, read from its package.json without loading esbuild (which costs a tenth of a second and more). */
function esbuildVersion(): string {
  const pkg = new URL('../package.json', import.meta.resolve('esbuild'));
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

/**
 * The URL to import for the task at `path` without module hooks, or undefined
 * when it needs them. `entries` maps `idem` and `idem/testing` to this
 * installation's modules; `cacheDir` is the compile cache (none: compiled each time).
 */
export async function standaloneTask(
  path: string,
  entries: Record<string, string>,
  cacheDir: string | undefined,
): Promise<string | undefined> {
  if (!TS.test(path) || path.includes('/node_modules/')) return undefined;
  const source = readFileSync(path);
  // What import.meta.url is in a module Node reads from disk: the file's real path, past any symlink.
  const real = realpathSync(path);
  // Everything the module written depends on: a moved or upgraded idem or esbuild, or an edited task, is a new key.
  const key = createHash('sha256')
    .update([FORMAT, esbuildVersion(), IDEM_VERSION, JSON.stringify(entries), path, real, ''].join('\0'))
    .update(source)
    .digest('hex');
  const module = cacheDir ? join(cacheDir, `${key}.mjs`) : undefined;
  const needsHooks = cacheDir ? join(cacheDir, `${key}.hooks`) : undefined;
  if (module && readCachedModule(module) !== undefined) return pathToFileURL(module).href;
  if (needsHooks && existsSync(needsHooks)) return undefined;

  const code = await compile(path, real, source.toString('utf8'), entries);
  if (code === 'error') return undefined; // the hooks path reports it, as before
  if (code === 'hooks') {
    if (cacheDir) await writeCached(cacheDir, `${key}.hooks`, '');
    return undefined;
  }
  if (cacheDir && (await writeCached(cacheDir, `${key}.mjs`, code)) && module)
    return pathToFileURL(module).href;
  // No cache folder to write: the same module, from memory (it imports only absolute URLs and builtins).
  return `data:text/javascript;base64,${Buffer.from(code).toString('base64')}`;
}

/**
 * The task as one ES module, or `hooks` when it imports anything but idem and
 * builtins or would read its own location at run time, or `error` when esbuild
 * cannot compile it. Types are stripped as the hooks do; what else differs:
 * `import.meta.url` (and `dirname`, `filename`) are written in as the task file's
 * own (the module is read from the cache, not from beside the task), and esbuild's
 * bundling turns top-level `const`/`let` into `var` (only code that reads one before
 * its declaration could tell).
 */
async function compile(
  path: string,
  real: string,
  source: string,
  entries: Record<string, string>,
): Promise<string | 'hooks' | 'error'> {
  const esbuild = await import('esbuild');
  let other = false;
  let result: Awaited<ReturnType<typeof esbuild.build>>;
  try {
    result = await esbuild.build({
      stdin: { contents: source, sourcefile: path, loader: path.endsWith('x') ? 'tsx' : 'ts' },
      // Bundling only so that every import passes through onResolve below; all of them stay imports.
      bundle: true,
      treeShaking: false,
      write: false,
      outdir: dirname(path),
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'external',
      tsconfigRaw: '{}',
      logLevel: 'silent',
      define: {
        'import.meta.url': JSON.stringify(pathToFileURL(real).href),
        'import.meta.filename': JSON.stringify(real),
        'import.meta.dirname': JSON.stringify(dirname(real)),
      },
      plugins: [
        {
          name: 'idem-standalone',
          setup(build) {
            build.onResolve({ filter: /.*/ }, (args) => {
              const entry = entries[args.path];
              if (entry) return { path: entry, external: true };
              if (!isBuiltin(args.path)) other = true;
              return { path: args.path, external: true };
            });
          },
        },
      ],
    });
  } catch {
    return 'error';
  }
  const files = result.outputFiles ?? [];
  const js = files.find((f) => f.path.endsWith('.js'));
  const map = files.find((f) => f.path.endsWith('.js.map'));
  if (!js || !map) return 'error';
  // import(spec) with a computed spec, or import.meta.resolve and the like, would be read against the cache folder.
  if (other || /\bimport\s*\(\s*[^"\s]/.test(js.text) || /\bimport\s*\.\s*meta\b/.test(js.text))
    return 'hooks';
  // The stack traces of a task name its .ts lines, by the path it was given (in its folder), wherever the module is kept.
  const sourceMap = JSON.parse(map.text) as { sources: string[] };
  sourceMap.sources = [path];
  const inline = Buffer.from(JSON.stringify(sourceMap)).toString('base64');
  return `${js.text}//# sourceMappingURL=data:application/json;base64,${inline}\n`;
}
