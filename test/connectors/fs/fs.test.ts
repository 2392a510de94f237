import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureAbsent, ensureDir, ensureFile, ensureLine, root } from '../../../src/connectors/fs/index.ts';
import { formatChange } from '../../../src/core/diff.ts';
import { makeEnv } from '../../support/step-env.ts';
import { engineFor, tempDir } from '../helpers.ts';
import { snapshot } from './snapshot.ts';

let dir: string;
let cleanup: () => void;
let base: string;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('fs'));
  base = join(dir, 'base');
});
afterEach(() => cleanup());

const PROFILE = 'user = "{{ login }}"\nshell = "{{ shell }}"\n';
const people = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `u${i + 1}`,
    login: `user${i + 1}`,
    role: i % 2 ? 'dev' : 'ops',
  }));
const changesOf = (d: { changes: Parameters<typeof formatChange>[0][] } | null | undefined) =>
  d?.changes.map(formatChange);

describe('fs steps against a real temp folder', () => {
  const homeSteps = (r: Record<string, string>) => [
    ensureDir(`homes/${r.login}`, { mode: 0o750 }),
    ensureFile(
      `homes/${r.login}/.profile`,
      { template: PROFILE, values: { login: r.login, shell: 'bash' } },
      { mode: 0o640 },
    ),
    ensureLine('access.list', `${r.login} ${r.role}`, { match: new RegExp(`^${r.login} `) }),
  ];

  it('first run changes, rerun is ok with no write at all (inodes and mtimes unchanged)', async () => {
    const engine = engineFor({ fs: root(base) }, homeSteps, { concurrency: 8 });
    const first = await engine.run(people(20));
    expect(first.summary.counts).toMatchObject({ changed: 20, failed: 0 });
    expect(
      first.reporter.records
        .find((r) => r.key === 'u1')
        ?.diff.map((d) => `${d.step}: ${d.changes.map(formatChange).join(', ')}`),
    ).toEqual([
      'dir homes/user1: +dir: 0750',
      'file homes/user1/.profile: +file: 30 bytes',
      'line access.list: +line: user1 ops',
    ]);
    expect(readFileSync(join(base, 'homes/user7/.profile'), 'utf8')).toBe('user = "user7"\nshell = "bash"\n');
    expect(statSync(join(base, 'homes/user7')).mode & 0o777).toBe(0o750);
    // Parents get the default mode (0777 less the umask), not the leaf's.
    expect(statSync(join(base, 'homes')).mode & 0o777).toBe(0o777 & ~process.umask());
    expect(statSync(join(base, 'homes/user7/.profile')).mode & 0o777).toBe(0o640);
    // 20 records appended to one file concurrently: every line is there, once.
    const lines = readFileSync(join(base, 'access.list'), 'utf8').trim().split('\n').sort();
    expect(lines).toEqual(
      people(20)
        .map((p) => `${p.login} ${p.role}`)
        .sort(),
    );

    const before = snapshot(base);
    const second = await engine.run(people(20));
    expect(second.summary.counts).toMatchObject({ changed: 0, ok: 20 });
    expect(snapshot(base)).toEqual(before);
  });

  it('a dry run on a fresh machine plans everything and creates nothing, not even the base', async () => {
    const engine = engineFor({ fs: root(base) }, homeSteps);
    const dry = await engine.run(people(5), { dryRun: true });
    expect(dry.summary.counts).toMatchObject({ changed: 5 });
    expect(existsSync(base)).toBe(false);
  });

  it('a dry run over existing files writes nothing', async () => {
    const engine = engineFor({ fs: root(base) }, homeSteps);
    await engine.run(people(3));
    const before = snapshot(base);
    const dry = await engine.run(
      people(3).map((p) => ({ ...p, role: 'admin' })),
      { dryRun: true },
    );
    expect(dry.summary.counts.changed).toBe(3);
    expect(snapshot(base)).toEqual(before);
  });

  it('ensureFile rewrites atomically when the content differs, and only chmods when only the mode does', async () => {
    const fsRoot = root(base);
    const env = makeEnv();
    const v1 = ensureFile('conf/app.toml', 'a = 1\n', { mode: 0o600 });
    await v1.apply({}, { fs: fsRoot }, (await v1.check({}, { fs: fsRoot }, env))!, env);
    const path = join(base, 'conf/app.toml');
    const ino1 = statSync(path).ino;

    chmodSync(path, 0o644);
    const modeOnly = await v1.check({}, { fs: fsRoot }, env);
    expect(changesOf(modeOnly)).toEqual(['~mode: 0644 -> 0600']);
    await v1.apply({}, { fs: fsRoot }, modeOnly!, env);
    expect(statSync(path).ino).toBe(ino1);
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const v2 = ensureFile('conf/app.toml', 'a = 2\n');
    const d2 = await v2.check({}, { fs: fsRoot }, env);
    expect(changesOf(d2)?.[0]).toMatch(
      /^~content: sha256:[0-9a-f]{12} \(6 bytes\) -> sha256:[0-9a-f]{12} \(6 bytes\)$/,
    );
    await v2.apply({}, { fs: fsRoot }, d2!, env);
    expect(readFileSync(path, 'utf8')).toBe('a = 2\n');
    expect(statSync(path).ino).not.toBe(ino1); // a new file renamed into place
    expect(statSync(path).mode & 0o777).toBe(0o600); // the mode is kept
    expect(await v2.check({}, { fs: fsRoot }, env)).toBeUndefined();
  });

  it('a template with a missing value fails instead of writing an empty placeholder', () => {
    expect(() => ensureFile('x', { template: 'hi {{ name }}', values: {} })).toThrow(/no value for name/);
  });

  it('ensureLine replaces the matching line, removes duplicates, never appends twice', async () => {
    mkdirSync(base, { recursive: true });
    writeFileSync(join(base, 'access.list'), '# access\nada ops\nbob dev\nada admin\n');
    const fsRoot = root(base);
    const env = makeEnv();
    const s = ensureLine('access.list', 'ada dev', { match: /^ada / });
    const d = await s.check({}, { fs: fsRoot }, env);
    expect(changesOf(d)).toEqual(['~line: ada ops -> ada dev', '-line: ada admin']);
    await s.apply({}, { fs: fsRoot }, d!, env);
    expect(readFileSync(join(base, 'access.list'), 'utf8')).toBe('# access\nada dev\nbob dev\n');
    expect(await s.check({}, { fs: fsRoot }, env)).toBeUndefined();

    const plain = ensureLine('access.list', 'carol ops');
    await plain.apply({}, { fs: fsRoot }, (await plain.check({}, { fs: fsRoot }, env))!, env);
    await plain.apply({}, { fs: fsRoot }, { changes: [] }, env); // a stale second apply
    expect(readFileSync(join(base, 'access.list'), 'utf8')).toBe('# access\nada dev\nbob dev\ncarol ops\n');
  });

  it('ensureLine refuses a line with a line break', () => {
    expect(() => ensureLine('a', 'x\ny')).toThrow(/line break/);
  });

  it('ensureAbsent removes a file or an empty folder, counts as a deletion, and removes a symlink itself', async () => {
    mkdirSync(join(base, 'old/empty'), { recursive: true });
    writeFileSync(join(base, 'old/file.txt'), 'x');
    writeFileSync(join(dir, 'outside.txt'), 'keep');
    symlinkSync(join(dir, 'outside.txt'), join(base, 'old/link'));
    const fsRoot = root(base);
    const env = makeEnv();
    const file = ensureAbsent('old/file.txt');
    expect(file.destructive).toBe(true);
    const d = await file.check({}, { fs: fsRoot }, env);
    expect(d).toMatchObject({ deletes: 1 });
    expect(changesOf(d)).toEqual(['-file: old/file.txt']);
    await file.apply({}, { fs: fsRoot }, d!, env);
    expect(existsSync(join(base, 'old/file.txt'))).toBe(false);
    expect(await file.check({}, { fs: fsRoot }, env)).toBeUndefined();

    const link = ensureAbsent('old/link');
    const dl = await link.check({}, { fs: fsRoot }, env);
    expect(changesOf(dl)).toEqual(['-symlink: old/link']);
    await link.apply({}, { fs: fsRoot }, dl!, env);
    expect(readFileSync(join(dir, 'outside.txt'), 'utf8')).toBe('keep');

    await expect(ensureAbsent('old').check({}, { fs: fsRoot }, env)).rejects.toThrow(/not empty/);
    const tree = ensureAbsent('old', { recursive: true });
    await tree.apply({}, { fs: fsRoot }, (await tree.check({}, { fs: fsRoot }, env))!, env);
    expect(existsSync(join(base, 'old'))).toBe(false);
  });

  it('the deletion guard stops ensureAbsent before it removes more than allowed', async () => {
    mkdirSync(base, { recursive: true });
    for (let i = 1; i <= 3; i++) writeFileSync(join(base, `f${i}`), 'x');
    const engine = engineFor({ fs: root(base) }, (r) => [ensureAbsent(`f${r.id}`)]);
    const run = await engine.run([{ id: '1' }, { id: '2' }, { id: '3' }], {
      maxDeletes: { count: 1 },
      concurrency: 1,
    });
    expect(run.summary.status).toBe('refused');
    expect(['f1', 'f2', 'f3'].filter((f) => existsSync(join(base, f)))).toHaveLength(2);
  });

  it('fails clearly when ctx has no base folder (tsx runs a task without type-checking it)', async () => {
    // @ts-expect-error: the step needs ctx.fs
    await expect(ensureDir('x').check({}, {}, makeEnv())).rejects.toThrow(/fs\.root/);
  });
});
