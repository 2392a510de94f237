/**
 * The embedded demo, end to end: the built CLI run with execa, the way cron
 * would, over tasks/onboard-accounts.ts with its demo folder in a temp dir.
 * Needs `npm run build` first (as `npm test` does).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { idem } from '../support/cli.ts';
import { ACCOUNTS, demo, LOGINS, requireBuild, STEPS, snapshot, TASK } from '../support/demo.ts';

beforeAll(requireBuild);

describe('the embedded demo (tasks/onboard-accounts.ts)', () => {
  it('--dry-run on a fresh machine lists every pending change and creates nothing', async () => {
    const d = demo();
    const r = await d.run(['--dry-run', '--detailed-exitcode']);
    expect(r.exitCode, String(r.stderr)).toBe(5);
    const recs = d.records(r.stdout);
    expect(recs).toHaveLength(50);
    for (const rec of recs) {
      expect(rec.outcome).toBe('changed');
      expect(rec.diff.map((s: { step: string }) => s.step)).toEqual(STEPS);
    }
    const ada = recs.find((x) => x.key === 'u0001')!;
    expect(ada.diff[0].changes).toContainEqual({ op: '+', field: 'login', to: 'alovelace' });
    expect(ada.diff[3].changes).toEqual([{ op: '+', field: 'line', to: 'alovelace:user' }]);
    expect(d.summary(r.stdout)).toMatchObject({ dryRun: true, counts: { changed: 50, failed: 0 } });
    expect(existsSync(d.demoDir)).toBe(false);

    const human = await idem(['run', TASK, '--state-dir', d.state, '--dry-run'], { env: d.env });
    expect(String(human.stdout).match(/^changed\* u\d{4}/gm)).toHaveLength(50);
    expect(String(human.stdout)).toContain('dry run: nothing was written');
    expect(existsSync(d.demoDir)).toBe(false);
  });

  it('the first run changes 50 accounts; the second changes nothing and writes nothing', async () => {
    const d = demo();
    const first = await d.run();
    expect(first.exitCode, String(first.stderr)).toBe(0);
    expect(d.summary(first.stdout)).toMatchObject({ status: 'succeeded', counts: { changed: 50, ok: 0 } });

    const db = new Database(join(d.demoDir, 'app.db'), { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM accounts').get()).toEqual({ n: 50 });
    expect(db.prepare("SELECT login, email, role FROM accounts WHERE id = 'u0002'").get()).toEqual({
      login: 'ghopper',
      email: 'grace.hopper@example.org',
      role: 'dev',
    });
    db.close();
    for (const login of LOGINS) {
      expect(readFileSync(join(d.demoDir, 'homes', login, 'settings.toml'), 'utf8')).toContain(
        `login = "${login}"`,
      );
    }
    const access = readFileSync(join(d.demoDir, 'access.list'), 'utf8').trim().split('\n');
    expect(access).toHaveLength(50);
    expect(new Set(access.map((l) => l.split(':')[0]))).toEqual(new Set(LOGINS));
    const m = d.mails();
    expect(m.total).toBe(50);
    for (const login of LOGINS) expect(m.count.get(login), login).toBe(1);

    const before = snapshot(d.demoDir);
    const second = await d.run();
    expect(second.exitCode).toBe(0);
    expect(d.summary(second.stdout)).toMatchObject({ counts: { changed: 0, ok: 50, failed: 0 } });
    expect(snapshot(d.demoDir)).toEqual(before);
  });

  it('an edited row changes exactly that account, and its mail is not sent again', async () => {
    const d = demo();
    expect((await d.run()).exitCode).toBe(0);
    const edited = join(d.dir, 'accounts.csv');
    writeFileSync(edited, ACCOUNTS.replace('grace.hopper@example.org', 'amazing.grace@example.org'));
    const r = await d.run(['--input', edited]);
    expect(r.exitCode).toBe(0);
    expect(d.summary(r.stdout)).toMatchObject({ counts: { changed: 1, ok: 49 } });
    const grace = d.records(r.stdout).find((x) => x.outcome === 'changed')!;
    expect(grace.key).toBe('u0002');
    expect(grace.diff.map((s: { step: string }) => s.step)).toEqual(['account', 'settings']);
    expect(grace.diff[0].changes).toEqual([
      { op: '~', field: 'email', from: 'grace.hopper@example.org', to: 'amazing.grace@example.org' },
    ]);
    expect(d.mails().count.get('ghopper')).toBe(1);
  });

  it('SIGKILL after the mail went out, before its completion: in-doubt after --resume, mail sent once, resolve settles it', async () => {
    const d = demo();
    const crashed = await d.run(['--concurrency', '1'], { IDEM_CRASH_AT: 'effect-done:welcome-mail' });
    expect(crashed.signal).toBe('SIGKILL');
    expect(d.mails().total).toBe(1);
    expect(d.mails().count.get('alovelace')).toBe(1);

    const resumed = await d.run(['--resume']);
    expect(resumed.exitCode).toBe(3);
    const s = d.summary(resumed.stdout);
    expect(s).toMatchObject({
      status: 'completed-with-failures',
      counts: { 'in-doubt': 1, changed: 49, failed: 0 },
    });
    const doubt = d.records(resumed.stdout).find((x) => x.outcome === 'in-doubt')!;
    expect(doubt.key).toBe('u0001');
    expect(doubt.error.message).toMatch(/welcome-mail .* may or may not have happened/);
    expect(d.mails().count.get('alovelace')).toBe(1);
    expect(d.mails().total).toBe(50);

    const doubts = await idem(['doubts', TASK, '--state-dir', d.state], { env: d.env });
    expect(String(doubts.stdout)).toContain('u0001');

    const settle = await idem(
      ['resolve', TASK, 'u0001', '--effect', 'welcome-mail', '--done', '--state-dir', d.state],
      {
        env: d.env,
      },
    );
    expect(settle.exitCode, String(settle.stderr)).toBe(0);

    const after = await d.run();
    expect(after.exitCode).toBe(0);
    expect(d.summary(after.stdout)).toMatchObject({ counts: { changed: 0, ok: 50, 'in-doubt': 0 } });
    expect(d.mails().count.get('alovelace')).toBe(1);
    expect(d.mails().total).toBe(50);
  });

  it('SIGKILL before the intent was recorded: after --resume the mail is sent, exactly once', async () => {
    const d = demo();
    const crashed = await d.run(['--concurrency', '1'], { IDEM_CRASH_AT: 'effect-intent:welcome-mail' });
    expect(crashed.signal).toBe('SIGKILL');
    expect(d.mails().total).toBe(0);

    const resumed = await d.run(['--resume']);
    expect(resumed.exitCode, String(resumed.stderr)).toBe(0);
    const s = d.summary(resumed.stdout);
    expect(s).toMatchObject({ status: 'succeeded', counts: { changed: 50, 'in-doubt': 0 } });
    const ada = d.records(resumed.stdout).find((x) => x.key === 'u0001')!;
    // Its other steps were done before the crash; only the mail was left.
    expect(ada.diff.map((x: { step: string }) => x.step)).toEqual(['welcome-mail']);
    const m = d.mails();
    expect(m.total).toBe(50);
    for (const login of LOGINS) expect(m.count.get(login), login).toBe(1);
  });
});

describe('the demo when the ledger is lost, moved or rebuilt', () => {
  it('a new state folder over a populated target holds every welcome mail in doubt instead of sending it again; --adopt-effects adopts them', async () => {
    const d = demo();
    expect((await d.run()).exitCode).toBe(0);
    expect(d.mails().total).toBe(50);
    const moved = join(d.dir, 'moved-state');
    const held = await d.run(['--state-dir', moved]);
    expect(held.exitCode, String(held.stderr)).toBe(3);
    const s = d.summary(held.stdout);
    expect(s.counts).toMatchObject({ 'in-doubt': 50, changed: 0 });
    const doubt = d.records(held.stdout).find((r) => r.key === 'u0001');
    expect(doubt?.error.message).toMatch(
      /welcome-mail for u0001 is held: the ledger has no record of it, yet the target already holds u0001/,
    );
    expect(doubt?.error.message).toMatch(/--adopt-effects/);
    expect(d.mails().total).toBe(50);

    const adopted = await d.run(['--state-dir', moved, '--adopt-effects']);
    expect(adopted.exitCode, String(adopted.stderr)).toBe(0);
    expect(d.summary(adopted.stdout).counts).toMatchObject({ ok: 50, 'in-doubt': 0 });
    const again = await d.run(['--state-dir', moved]);
    expect(d.summary(again.stdout).counts).toMatchObject({ ok: 50, changed: 0 });
    expect(d.mails().total).toBe(50);
  });

  it('a ledger rebuilt without its effects (the history says they happened) sends no mail twice', async () => {
    const d = demo();
    expect((await d.run()).exitCode).toBe(0);
    const db = new Database(join(d.state, 'ledger.db'));
    db.exec('DELETE FROM effects');
    db.close();
    const r = await d.run();
    expect(r.exitCode).toBe(3);
    expect(d.summary(r.stdout).counts).toMatchObject({ 'in-doubt': 50 });
    expect(d.mails().total).toBe(50);
    // A new account still gets its mail: the target does not hold it yet.
    const more = join(d.dir, 'more.csv');
    writeFileSync(more, `${ACCOUNTS.trim()}\nu0051,newbie,New Bie,new.bie@example.org,user\n`);
    const next = await d.run(['--input', more]);
    expect(d.records(next.stdout).find((x) => x.key === 'u0051')).toMatchObject({ outcome: 'changed' });
    expect(d.mails().count.get('newbie')).toBe(1);
    expect(d.mails().total).toBe(51);
  });
});
