/** The lock's edge cases through the built CLI (`npm run build` first): what an operator sees. */
import { readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kvWorld } from '../e2e/support/kv-world.ts';

describe('idem run and the lock file', () => {
  it('a symlinked lock file is refused with exit 2 and one line, and what it points to is untouched', async () => {
    const w = kvWorld(2);
    expect((await w.run()).exitCode).toBe(0);
    const file = join(w.state, 'locks', 'kv.lock');
    const victim = join(w.dir, 'victim.txt');
    writeFileSync(victim, 'precious\n', { mode: 0o644 });
    rmSync(file);
    symlinkSync(victim, file);
    const r = await w.run();
    expect(r.exitCode).toBe(2);
    // The state folder's check meets it first (the lock's own check stays for callers that skip it).
    expect(String(r.stderr).trim().split('\n')).toEqual([
      `idem: refusing the state file ${file}: it is a symlink, which idem never follows; replace it with a real file`,
    ]);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(statSync(victim).mode & 0o777).toBe(0o644);
  });

  it('a damaged lock file is emptied in place with a warning, and the run goes on (exit 0)', async () => {
    const w = kvWorld(2);
    expect((await w.run()).exitCode).toBe(0);
    const file = join(w.state, 'locks', 'kv.lock');
    const inode = statSync(file).ino;
    writeFileSync(file, 'garbage, not a database: '.repeat(100));
    w.write('id,value\nk1,new1\nk2,new2\n');
    const r = await w.run();
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toContain(
      `idem: the lock file ${file} was damaged (2500 bytes that are not an SQLite database); emptied it in place and took the lock`,
    );
    expect(statSync(file).ino).toBe(inode);
    expect(r.stdout).toContain('changed=2');
  });
});
