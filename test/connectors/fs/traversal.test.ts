import { existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureDir, ensureFile, ensureLine, root } from '../../../src/connectors/fs/index.ts';
import { relativeSegments } from '../../../src/connectors/fs/safe-path.ts';
import { engineFor, tempDir } from '../helpers.ts';
import { realPaths, snapshot } from './snapshot.ts';

let dir: string;
let cleanup: () => void;
let base: string;
let outside: string;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('fs-traversal'));
  base = join(dir, 'base');
  outside = join(dir, 'outside');
  mkdirSync(join(base, 'homes'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'do not touch\n');
});
afterEach(() => cleanup());

const stepsFor = (r: Record<string, string>) => [
  ensureDir(`homes/${r.login}`),
  ensureFile(`homes/${r.login}/.profile`, `user = ${r.login}\n`),
  ensureLine(`homes/${r.login}/.access`, `${r.login} ok`),
];

/** Every write landed under the base: no entry's real path is elsewhere. */
function expectAllUnder(baseDir: string) {
  const realBase = realpathSync(baseDir);
  for (const p of realPaths(baseDir)) expect(p.startsWith(`${realBase}/`)).toBe(true);
}

describe('fs: paths from record values cannot leave the base', () => {
  it('rejects .., absolute paths, NUL and drive letters as invalid, writing nothing', async () => {
    const before = snapshot(dir);
    // The record value is the whole path here, so an absolute one is not defused by a prefix.
    const engine = engineFor({ fs: root(base) }, (r) => [
      ensureDir(`${r.path}`),
      ensureFile(`${r.path}/.profile`, 'x\n'),
      ensureLine(`${r.path}/.access`, 'x'),
    ]);
    const evil: Record<string, [string, RegExp]> = {
      up: ['../outside', /contains "\.\."/],
      upTwice: ['../../etc', /contains "\.\."/],
      nestedUp: ['homes/a/../../../outside', /contains "\.\."/],
      absolute: [outside, /is absolute/],
      etc: ['/etc', /is absolute/],
      nul: ['homes/x\0y', /NUL byte/],
      drive: ['C:\\Windows', /is absolute/],
      unc: ['\\\\server\\share', /is absolute/],
      backslashUp: ['homes\\..\\..\\outside', /contains "\.\."/],
    };
    const run = await engine.run(Object.entries(evil).map(([id, [path]]) => ({ id, path })));
    for (const [id, [, message]] of Object.entries(evil)) {
      const r = run.reporter.records.find((x) => x.key === id);
      expect(r?.outcome, id).toBe('invalid');
      expect(r?.error?.message, id).toMatch(message);
    }
    expect(snapshot(dir)).toEqual(before);
  });

  it('a record value inside a prefix stays inside the base, whatever it holds', async () => {
    const engine = engineFor({ fs: root(base) }, stepsFor);
    const run = await engine.run([
      { id: '1', login: '/etc' },
      { id: '2', login: 'C:\\Windows' },
      { id: '3', login: '../../outside' },
    ]);
    expect(run.reporter.records.find((r) => r.key === '3')?.outcome).toBe('invalid');
    expect(run.summary.counts.changed).toBe(2);
    expect(existsSync(join(base, 'homes/etc/.profile'))).toBe(true);
    expectAllUnder(base);
    expect(Object.keys(snapshot(outside))).toEqual([join(outside, 'secret.txt')]);
  });

  it('refuses a symlinked folder that points outside the base, and never writes through it', async () => {
    symlinkSync(outside, join(base, 'homes/mallory'));
    const before = snapshot(outside);
    const engine = engineFor({ fs: root(base) }, stepsFor);
    const run = await engine.run([{ id: 'm', login: 'mallory' }]);
    expect(run.reporter.records[0]?.outcome).toBe('failed');
    expect(run.reporter.records[0]?.error?.message).toMatch(
      /homes\/mallory is a symlink to .*outside, outside the base folder .*; not followed/,
    );
    expect(run.reporter.records[0]?.attempts).toBe(1);
    expect(snapshot(outside)).toEqual(before);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('do not touch\n');
  });

  it('refuses a file symlink that points outside, for ensureFile and ensureLine', async () => {
    mkdirSync(join(base, 'homes/eve'));
    symlinkSync(join(outside, 'secret.txt'), join(base, 'homes/eve/.profile'));
    symlinkSync(join(outside, 'secret.txt'), join(base, 'homes/eve/.access'));
    const engine = engineFor({ fs: root(base) }, (r) => [
      ensureFile(`homes/${r.login}/.profile`, 'x\n'),
      ensureLine(`homes/${r.login}/.access`, 'x'),
    ]);
    const run = await engine.run([{ id: 'e', login: 'eve' }]);
    expect(run.reporter.records[0]?.outcome).toBe('failed');
    const ensureLineOnly = engineFor({ fs: root(base) }, (r) => [
      ensureLine(`homes/${r.login}/.access`, 'x'),
    ]);
    expect((await ensureLineOnly.run([{ id: 'e', login: 'eve' }])).reporter.records[0]?.outcome).toBe(
      'failed',
    );
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('do not touch\n');
    expect(Object.keys(snapshot(outside))).toEqual([join(outside, 'secret.txt')]);
  });

  it('refuses a base-relative symlink chain that ends outside', async () => {
    mkdirSync(join(base, 'a'));
    symlinkSync('../../outside', join(base, 'a/up'));
    const engine = engineFor({ fs: root(base) }, () => [ensureFile('a/up/new.txt', 'x')]);
    const run = await engine.run([{ id: '1' }]);
    expect(run.reporter.records[0]?.outcome).toBe('failed');
    expect(existsSync(join(outside, 'new.txt'))).toBe(false);
  });

  it('follows a symlink whose target stays inside the base', async () => {
    mkdirSync(join(base, 'releases/v1'), { recursive: true });
    symlinkSync(join(base, 'releases/v1'), join(base, 'current'));
    const engine = engineFor({ fs: root(base) }, () => [ensureFile('current/app.conf', 'v = 1\n')]);
    const run = await engine.run([{ id: '1' }]);
    expect(run.summary.counts.changed).toBe(1);
    expect(readFileSync(join(base, 'releases/v1/app.conf'), 'utf8')).toBe('v = 1\n');
    expect((await engine.run([{ id: '1' }])).summary.counts.ok).toBe(1);
  });

  it('keeps every write of a normal run under the base', async () => {
    const engine = engineFor({ fs: root(base) }, stepsFor);
    const run = await engine.run([
      { id: '1', login: 'ada' },
      { id: '2', login: 'bob.smith' },
      { id: '3', login: 'x/y' }, // a nested path is still inside the base
    ]);
    expect(run.summary.counts.changed).toBe(3);
    expectAllUnder(base);
    expect(Object.keys(snapshot(outside))).toEqual([join(outside, 'secret.txt')]);
  });

  it('splits only safe relative paths', () => {
    expect(relativeSegments('homes/./ada//.profile')).toEqual(['homes', 'ada', '.profile']);
    expect(() => relativeSegments('')).toThrow(/base folder itself/);
    expect(() => relativeSegments('.')).toThrow(/base folder itself/);
    expect(relativeSegments('.', { allowBase: true })).toEqual([]);
    expect(() => relativeSegments('..')).toThrow(/\.\./);
    expect(() => relativeSegments('\\\\server\\share')).toThrow(/absolute/);
  });
});
