import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ensureFile, root } from '../../../src/connectors/fs/index.ts';
import { makeEnv } from '../../support/step-env.ts';
import { tempDir } from '../../support/temp.ts';
import { linesSeen } from '../../support/wait.ts';

const CHILD = join(import.meta.dirname, 'support', 'write-child.ts');
const SIZE = 8 * 1024 * 1024;

/** Every file under `dir`, relative, sorted. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), base) : [relative(base, join(dir, e.name))]))
    .sort();
}

/** Starts a writer of `rel` under `base`, waits for its `half-written` line, SIGKILLs it. */
async function killMidWrite(base: string, rel: string): Promise<number> {
  const child = execa(process.execPath, ['--import', 'tsx', CHILD, base, rel, String(SIZE)], {
    reject: false,
    buffer: false,
  });
  const [line] = await linesSeen(child.stdout, /^half-written \d+$/);
  const pid = Number(line?.split(' ')[1]);
  child.kill('SIGKILL');
  const r = await child;
  expect(r.signal).toBe('SIGKILL');
  return pid;
}

const write = (base: string, rel: string, text: string) =>
  ensureFile(rel, text).apply({}, { fs: root(base) }, { changes: [] }, makeEnv());

describe('atomic writes keep their temporaries out of the target folders (fault 9)', () => {
  it('a write killed half-way leaves nothing in the target folder', async () => {
    const base = tempDir('atomic-');
    const pid = await killMidWrite(base, 'outbox/ada.eml');
    // What a mail pickup reading outbox/ would see: nothing at all.
    expect(readdirSync(join(base, 'outbox'))).toEqual([]);
    // The half-written temporary is in .idem-tmp/, named with the writer's pid.
    const temps = readdirSync(join(base, '.idem-tmp'));
    expect(temps).toHaveLength(1);
    expect(temps[0]).toMatch(new RegExp(`^${pid}\\.`));
    expect(statSync(join(base, '.idem-tmp', temps[0] as string)).size).toBe(SIZE / 2);
  });

  it('removes dead temporaries on the next run and keeps a live writer’s', async () => {
    const base = tempDir('atomic-');
    const first = await killMidWrite(base, 'outbox/ada.eml');
    // A temporary of a process that is alive (the test runner's parent) must stay.
    const live = `${process.ppid}.0123456789ab.tmp`;
    mkdirSync(join(base, '.idem-tmp'), { recursive: true });
    writeFileSync(join(base, '.idem-tmp', live), 'in flight');
    expect(walk(base).filter((f) => f.includes(String(first)))).toHaveLength(1);
    // The second writer's first write removed the first one's temporary.
    const second = await killMidWrite(base, 'homes/bob/settings.toml');
    expect(walk(base).filter((f) => !f.includes(live))).toEqual([
      expect.stringMatching(new RegExp(`^\\.idem-tmp/${second}\\.`)),
    ]);

    await write(base, 'outbox/carol.eml', 'Hello Carol\n');
    expect(walk(base)).toEqual([`.idem-tmp/${live}`, 'outbox/carol.eml']);
  });

  it('refuses a planted .idem-tmp symlink and writes nothing through it', async () => {
    const base = tempDir('atomic-');
    const elsewhere = tempDir('elsewhere-');
    mkdirSync(base, { recursive: true });
    symlinkSync(elsewhere, join(base, '.idem-tmp'));
    await expect(write(base, 'outbox/dave.eml', 'Hello Dave\n')).rejects.toThrow(/\.idem-tmp is a symlink/);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(existsSync(join(base, 'outbox', 'dave.eml'))).toBe(false);
  });
});
