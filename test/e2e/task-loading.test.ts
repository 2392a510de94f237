/**
 * How the CLI loads a task file. A TypeScript task that imports only `idem` and
 * Node's builtins is compiled once into a standalone module and imported as it
 * is: no module hooks, so no loader thread (on Node 20 `module.register` starts a
 * worker with its own V8 isolate, ~10 MB and ~40 ms). Everything else (relative
 * or package imports, JavaScript tasks) goes through the hooks, as before. Either
 * way the task's relative paths are its own folder's, its stack traces name its
 * .ts lines, and an edited task is compiled anew.
 *
 * The observable for "no loader thread": thread ids are handed out in order, so
 * the first Worker a task starts gets id 1 only if no worker was started before it.
 */

import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { idem, tempDir } from '../support/cli.ts';

/** Top of a task: writes the thread id its first Worker gets to $PROBE. */
const PROBE = `import { appendFileSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { csv, defineTask } from 'idem';

const probe = new Worker('', { eval: true });
writeFileSync(process.env.PROBE as string, String(probe.threadId));
await probe.terminate();
`;

/** A task over `source` whose one step appends `note(login)` to $OUT and finds nothing to change. */
const task = (head: string, source: string, note = 'p.login') => `${head}
export default defineTask({
  name: 'loading',
  source: csv(${source}, { fields: ['login'] }),
  key: 'login',
  steps: [
    {
      name: 'note',
      check(p: { login: string }) {
        appendFileSync(process.env.OUT as string, \`\${${note}}\\n\`);
        return undefined;
      },
      apply() {},
    },
  ],
});
`;

/** A folder with the task file `name` and its CSV in data/people.csv (ada, grace). */
function taskDir(name: string, code: string): { dir: string; file: string } {
  const dir = tempDir('idem-load-');
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', 'people.csv'), 'login\nada\ngrace\n');
  const file = join(dir, name);
  writeFileSync(file, code);
  return { dir, file };
}

/** `idem run file` from an unrelated folder, the compile cache under `cacheHome`; its probe and notes. */
async function run(file: string, cacheHome: string, args: string[] = []) {
  const out = join(tempDir('idem-load-out-'), 'out');
  const probe = `${out}.probe`;
  const r = await idem(['run', file, ...args], {
    cwd: tempDir('idem-load-cwd-'),
    env: { XDG_CACHE_HOME: cacheHome, OUT: out, PROBE: probe },
  });
  return {
    ...r,
    notes: existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').sort() : [],
    threadId: existsSync(probe) ? readFileSync(probe, 'utf8') : undefined,
  };
}

const cached = (cacheHome: string) => readdirSync(join(cacheHome, 'idem', 'tasks')).sort();
const mode = (path: string) => statSync(path).mode & 0o777;

describe('a task that imports only idem and builtins', () => {
  it('runs without a loader thread, its source path read against its own folder, from a private cache', async () => {
    const { dir, file } = taskDir('people.ts', task(PROBE, "'data/people.csv'"));
    const cache = join(dir, 'cache');
    for (const pass of ['compiled', 'cached']) {
      const r = await run(file, cache);
      expect(r.exitCode, `${pass}: ${String(r.stderr)}`).toBe(0);
      expect(r.threadId, pass).toBe('1');
      expect(r.notes, pass).toEqual(['ada', 'grace']);
    }
    const files = cached(cache);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]{64}\.mjs$/);
    expect(mode(join(cache, 'idem', 'tasks'))).toBe(0o700);
    expect(mode(join(cache, 'idem', 'tasks', files[0] as string))).toBe(0o600);
  });

  it("keeps import.meta.url the task file's own, not the cache's", async () => {
    const head = `${PROBE}import { fileURLToPath } from 'node:url';\n`;
    const source = "fileURLToPath(new URL('./data/people.csv', import.meta.url))";
    const { dir, file } = taskDir('meta.ts', task(head, source, "p.login + '@' + import.meta.filename"));
    const r = await run(file, join(dir, 'cache'));
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(r.threadId).toBe('1');
    expect(r.notes).toEqual([`ada@${file}`, `grace@${file}`]);
    // Through a symlink, as Node has it for any module: the real file's.
    const link = join(tempDir('idem-load-link-'), 'link.ts');
    symlinkSync(file, link);
    const linked = await run(link, join(dir, 'cache'));
    expect(linked.exitCode, String(linked.stderr)).toBe(0);
    expect(linked.notes).toEqual([`ada@${file}`, `grace@${file}`]);
  });

  it('still runs, without a loader thread, when the cache folder cannot be written', async () => {
    const { dir, file } = taskDir('people.ts', task(PROBE, "'data/people.csv'"));
    const notAFolder = join(dir, 'cache-file');
    writeFileSync(notAFolder, '');
    const r = await run(file, notAFolder);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(r.threadId).toBe('1');
    expect(r.notes).toEqual(['ada', 'grace']);
  });

  it('is compiled again when its cached module was cut short (a power loss), not called "not a task"', async () => {
    const { dir, file } = taskDir('people.ts', task(PROBE, "'data/people.csv'"));
    const cache = join(dir, 'cache');
    expect((await run(file, cache)).exitCode).toBe(0);
    const module = join(cache, 'idem', 'tasks', cached(cache)[0] as string);
    const whole = readFileSync(module, 'utf8');
    for (const damaged of ['', whole.slice(0, Math.floor(whole.length / 2))]) {
      writeFileSync(module, damaged);
      const r = await run(file, cache);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(r.notes).toEqual(['ada', 'grace']);
      expect(readFileSync(module, 'utf8')).toBe(whole);
    }
  });

  it('drops the entries no run wrote for 30 days, and temporaries of writers gone an hour, when it writes a new one', async () => {
    const a = taskDir('a.ts', task(PROBE, "'data/people.csv'", "'a'"));
    const cache = join(a.dir, 'cache');
    const folder = join(cache, 'idem', 'tasks');
    expect((await run(a.file, cache)).exitCode).toBe(0);
    const [entryA] = cached(cache);
    const day = 86_400_000;
    const ago = (days: number) => new Date(Date.now() - days * day);
    const plant = (name: string, days: number) => {
      writeFileSync(join(folder, name), 'x');
      utimesSync(join(folder, name), ago(days), ago(days));
    };
    const hex = (c: string) => c.repeat(64);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    plant(`${hex('b')}.mjs`, 40);
    plant(`${hex('c')}.hooks`, 40);
    plant(`${hex('d')}.mjs`, 10);
    plant(`${hex('e')}.mjs.${dead}.0a1b2c3d.tmp`, 2 / 24);
    // A writer gone for minutes only (or one of another host sharing the folder): its temporary stays.
    plant(`${hex('f')}.mjs.${dead}.0a1b2c3d.tmp`, 10 / 1440);
    plant('notes.txt', 40);
    utimesSync(join(folder, entryA as string), ago(40), ago(40));
    // A run that finds its entry writes nothing, so it prunes nothing.
    expect((await run(a.file, cache)).exitCode).toBe(0);
    expect(cached(cache)).toHaveLength(7);
    const b = taskDir('b.ts', task(PROBE, "'data/people.csv'", "'b'"));
    const r = await run(b.file, cache);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const left = cached(cache);
    expect(left).toHaveLength(4);
    expect(left).toContain(`${hex('d')}.mjs`);
    expect(left).toContain('notes.txt');
    expect(left).toContain(`${hex('f')}.mjs.${dead}.0a1b2c3d.tmp`);
    expect(left.filter((f) => /^[0-9a-f]{64}\.mjs$/.test(f) && f !== `${hex('d')}.mjs`)).toHaveLength(1);
    // Task a's entry was old and is gone: it is compiled again, and runs as before.
    const again = await run(a.file, cache);
    expect(again.exitCode, String(again.stderr)).toBe(0);
    expect(again.notes).toEqual(['a', 'a']);
    expect(cached(cache)).toContain(entryA);
  });

  it('is compiled anew when edited, not read from the stale cache', async () => {
    const { dir, file } = taskDir('edited.ts', task(PROBE, "'data/people.csv'", "'one'"));
    const cache = join(dir, 'cache');
    expect((await run(file, cache)).notes).toEqual(['one', 'one']);
    writeFileSync(file, task(PROBE, "'data/people.csv'", "'two'"));
    const again = await run(file, cache);
    expect(again.exitCode, String(again.stderr)).toBe(0);
    expect(again.notes).toEqual(['two', 'two']);
  });

  it("names the task's .ts file and line when a step throws, compiled and cached", async () => {
    const code = task(PROBE, "'data/people.csv'", '(p as unknown as { x: { y: string } }).x.y');
    const { dir, file } = taskDir('buggy.ts', code);
    const line = code.split('\n').findIndex((l) => l.includes('.x.y}')) + 1;
    for (const pass of ['compiled', 'cached']) {
      const r = await run(file, join(dir, 'cache'));
      expect(r.exitCode, pass).toBe(3);
      expect(String(r.stdout), pass).toContain(`(at ${file}:${line}:`);
    }
  });

  it("leaves idem's own modules without source maps (Node reads none of their .map files), the task's own mapped", async () => {
    const head = `${PROBE}import { findSourceMap } from 'node:module';\nimport { dirname, join } from 'node:path';\n`;
    const idemIndex = "join(dirname(process.argv[1] as string), '..', 'dist', 'bundle', 'index.js')";
    const { dir, file } = taskDir(
      'maps.ts',
      task(head, "'data/people.csv'", `findSourceMap(${idemIndex}) === undefined`),
    );
    const r = await run(file, join(dir, 'cache'));
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(r.threadId).toBe('1'); // the standalone way
    expect(r.notes).toEqual(['true', 'true']);
  });
});

describe('a task that needs the module hooks', () => {
  it('imports a relative ./helper.js (read as helper.ts) and an npm package', async () => {
    const head = `${PROBE}import { parse } from 'csv-parse/sync';\nimport { shout } from './helper.js';\n`;
    const note = "shout(p.login) + ':' + parse('a,b\\n').length";
    const { dir, file } = taskDir('helped.ts', task(head, "'data/people.csv'", note));
    writeFileSync(join(dir, 'helper.ts'), 'export const shout = (s: string): string => s.toUpperCase();\n');
    const cache = join(dir, 'cache');
    for (const pass of ['first', 'again']) {
      const r = await run(file, cache);
      expect(r.exitCode, `${pass}: ${String(r.stderr)}`).toBe(0);
      expect(r.notes, pass).toEqual(['ADA:1', 'GRACE:1']);
    }
    // The verdict is kept: the next run goes to the hooks without compiling in the main thread first.
    expect(cached(cache).filter((f) => f.endsWith('.hooks'))).toHaveLength(1);
  });

  it('imports a module named at run time against its own folder', async () => {
    const head = `${PROBE}const { shout } = await import(process.env.HELPER as string);\n`;
    const { dir, file } = taskDir('computed.ts', task(head, "'data/people.csv'", 'shout(p.login)'));
    writeFileSync(join(dir, 'helper.ts'), 'export const shout = (s: string): string => s.toUpperCase();\n');
    const r = await idem(['run', file], {
      cwd: tempDir('idem-load-cwd-'),
      env: {
        XDG_CACHE_HOME: join(dir, 'cache'),
        OUT: join(dir, 'out'),
        PROBE: join(dir, 'probe'),
        HELPER: './helper.ts',
      },
    });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(readFileSync(join(dir, 'out'), 'utf8')).toBe('ADA\nGRACE\n');
  });

  it("reports a task esbuild cannot compile as before: the file's line, exit 2", async () => {
    const { dir, file } = taskDir(
      'broken.ts',
      "import { defineTask } from 'idem';\nexport default defineTask({ name: 'x',\n",
    );
    const r = await run(file, join(dir, 'cache'));
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toContain(
      `idem: cannot load task file ${file}: Transform failed with 1 error:\n${file}:3:0: ERROR:`,
    );
  });

  it('loads a JavaScript task', async () => {
    const js = task(PROBE, "'data/people.csv'").replace('(p: { login: string })', '(p)');
    const { dir, file } = taskDir('plain.mjs', js.replace(' as string', '').replace(' as string', ''));
    const r = await run(file, join(dir, 'cache'));
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(r.notes).toEqual(['ada', 'grace']);
  });
});
