/**
 * The leavers' lifecycle end to end (issue 11), with the built CLI over a real SQLite
 * target and an outbox: a leaver is disabled, comes back within the grace period and is
 * enabled again with no second welcome mail; one who stays away is deleted after it.
 * Everything is counted at the target: the accounts table and the mail files.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { idem, tempDir } from '../support/cli.ts';
import { requireBuild } from '../support/demo.ts';

beforeAll(requireBuild);

const TASK = join(import.meta.dirname, 'tasks', 'accounts-lifecycle.ts');
const ids = Array.from({ length: 30 }, (_, i) => `k${String(i + 1).padStart(2, '0')}`);

describe('prune.lifecycle: leavers are disabled, deleted after the grace period, re-enabled on rehire', () => {
  it('rehire within the grace period: enabled again, no second welcome mail; a leaver who stays away is deleted after two runs', async () => {
    const dir = tempDir('idem-lifecycle-');
    const target = join(dir, 'target');
    const night = async (keep: string[]) => {
      const input = join(dir, 'accounts.csv');
      writeFileSync(input, `id,name\n${keep.map((id) => `${id},Person ${id}`).join('\n')}\n`);
      const r = await idem(['run', TASK, '--state-dir', join(dir, 'state'), '--json'], {
        env: { LC_DIR: target, LC_INPUT: input },
      });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const db = new Database(join(target, 'accounts.db'), { readonly: true });
      const status = new Map(
        (db.prepare('SELECT id, status FROM accounts').all() as { id: string; status: string }[]).map((a) => [
          a.id,
          a.status,
        ]),
      );
      db.close();
      const mails = readdirSync(join(target, 'outbox')).map((f) => f.replace(/^\d+-|\.eml$/g, ''));
      return { status, mails, stdout: String(r.stdout) };
    };
    const mailsFor = (mails: string[], id: string) => mails.filter((m) => m === id).length;

    const first = await night(ids);
    expect(first.mails.sort()).toEqual(ids);
    const without = ids.filter((id) => id !== 'k07' && id !== 'k11');
    const left = await night(without);
    expect(left.status.get('k07')).toBe('disabled');
    expect(left.status.get('k11')).toBe('disabled');
    expect([...left.status.values()].filter((s) => s === 'active')).toHaveLength(28);

    const back = await night([...without, 'k07']);
    expect(back.status.get('k07')).toBe('active');
    expect(mailsFor(back.mails, 'k07')).toBe(1); // no second welcome mail
    expect(back.mails).toHaveLength(30);
    expect(back.status.get('k11')).toBe('disabled'); // its second run away: still in its grace period

    const gone = await night([...without, 'k07']);
    expect(gone.status.has('k11')).toBe(false); // the grace period is over: deleted
    expect(gone.status.get('k07')).toBe('active');
    expect(gone.mails).toHaveLength(30);
    const rerun = await night([...without, 'k07']);
    expect(rerun.stdout).toMatch(/"changed":0/);
  });
});
