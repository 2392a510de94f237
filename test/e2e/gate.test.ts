/**
 * The gate, end to end on the embedded demo (a SQLite app database, home
 * folders, an access list, an outbox): a broken export is refused before any
 * write, counted at the target (every file's inode, mtime and size, and the
 * database's bytes), and a refused plan goes through exactly once with --accept.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { idem } from '../support/cli.ts';
import { ACCOUNTS, demo, requireBuild, snapshot, TASK } from '../support/demo.ts';

beforeAll(requireBuild);

const HEADER = ACCOUNTS.split('\n')[0] as string;
const ROWS = ACCOUNTS.trim().split('\n').slice(1);

/** A demo that ran once over the full export: the last accepted run every gate compares with. */
async function baseline() {
  const d = demo();
  const first = await d.run();
  expect(first.exitCode, String(first.stderr)).toBe(0);
  const input = (name: string, rows: string[]) => {
    const path = join(d.dir, name);
    writeFileSync(path, `${HEADER}\n${rows.join('\n')}\n`);
    return path;
  };
  /** Everything the demo wrote: files with inode/mtime/size, the database by content. */
  const target = () => ({
    files: snapshot(d.demoDir),
    db: createHash('sha256')
      .update(readFileSync(join(d.demoDir, 'app.db')))
      .digest('hex'),
  });
  return { ...d, input, target };
}

describe('the gate refuses a broken export before any write (exit 6) and names the budget', () => {
  it('a truncated export (10% of the rows) is refused; --accept <hash> lets exactly that plan through once', async () => {
    const d = await baseline();
    const rows = ROWS.slice(0, 5);
    rows[0] = (rows[0] as string).replace('ada.lovelace@example.org', 'ada@example.org');
    const truncated = d.input('truncated.csv', rows);
    const before = d.target();
    const refused = await d.run(['--input', truncated]);
    expect(refused.exitCode, String(refused.stderr)).toBe(6);
    const s = d.summary(refused.stdout) as Record<string, any>;
    expect(s.status).toBe('refused');
    expect(s.plan.exceeded).toEqual(['shrink']);
    expect(s.message).toMatch(
      /the input holds 5 records, down from 50 since the last accepted run r-\S+ \(-90\.0%/,
    );
    expect(s.message).toMatch(/--accept [0-9a-f]{64}/);
    expect(d.target()).toEqual(before);

    // Another truncated file is another plan: this acceptance does not let it through.
    const other = d.input('other.csv', ROWS.slice(10, 14));
    const elsewise = await d.run(['--input', other, '--accept', s.plan.hash]);
    expect(elsewise.exitCode).toBe(6);
    expect(d.summary(elsewise.stdout)?.message).toMatch(/the plan is not the one accepted with --accept/);
    expect(d.target()).toEqual(before);

    const accepted = await d.run(['--input', truncated, '--accept', s.plan.hash]);
    expect(accepted.exitCode, String(accepted.stderr)).toBe(0);
    const a = d.summary(accepted.stdout);
    expect(a.counts).toMatchObject({ changed: 1, ok: 4 });
    expect(a.plan).toMatchObject({
      hash: s.plan.hash,
      exceeded: ['shrink'],
      acceptedBy: expect.stringContaining('@'),
    });
    const db = new Database(join(d.state, 'ledger.db'), { readonly: true });
    expect(db.prepare('SELECT plan_hash, run_id FROM acceptances').all()).toEqual([
      { plan_hash: s.plan.hash, run_id: a.runId },
    ]);
    db.close();
  });

  it('keys that lost their leading zeros are refused as a mass delete plus a mass create, 0 writes', async () => {
    const d = await baseline();
    const stripped = d.input(
      'zeros.csv',
      ROWS.map((r) => r.replace(/^u0*/, 'u')),
    );
    const before = d.target();
    const r = await d.run(['--input', stripped]);
    expect(r.exitCode, String(r.stderr)).toBe(6);
    const s = d.summary(r.stdout);
    expect(s.plan.exceeded).toEqual(expect.arrayContaining(['key-churn', 'creates']));
    expect(s.message).toMatch(
      /50 of the 50 keys of the last accepted run r-\S+ are missing while 50 of 50 keys are new/,
    );
    expect(d.target()).toEqual(before);
  });

  it('one attribute changing on most records is refused by the per-attribute budget, 0 writes', async () => {
    const d = await baseline();
    const moved = d.input(
      'mail-migration.csv',
      ROWS.map((r) => r.replace('@example.org', '@mail.example.net')),
    );
    const before = d.target();
    const r = await d.run(['--input', moved]);
    expect(r.exitCode, String(r.stderr)).toBe(6);
    const s = d.summary(r.stdout);
    expect(s.plan.exceeded).toContain('attribute email');
    expect(s.message).toMatch(
      /attribute email: the plan changes it on 50 of 50 records \(100\.0%\), over the budget of 20% \(10 allowed\); e\.g\. u00/,
    );
    expect(d.target()).toEqual(before);
  });

  it('a normal night passes; an input identical to the last accepted run is said so and still reconciled', async () => {
    const d = await baseline();
    const r = await d.run();
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const s = d.summary(r.stdout);
    expect(s.plan).toMatchObject({
      creates: 0,
      modifications: 0,
      deletions: 0,
      exceeded: [],
      identicalTo: expect.stringMatching(/^r-/),
    });
    expect(r.stdout).not.toContain('the input is identical'); // --json: it is in the summary's plan
    expect(s.message).toBeNull();
  });
});

describe('idem plan and idem apply: a saved plan, applied exactly', () => {
  it('records edited at the target between plan and apply are refused and listed; the rest is applied; applying again changes nothing', async () => {
    const d = await baseline();
    const edited = d.input(
      'tonight.csv',
      ROWS.map((r, i) => (i < 3 ? r.replace(/,[a-z]+$/, ',admin') : r)),
    );
    const planFile = join(d.dir, 'tonight.plan');
    const before = d.target();
    const plan = await idem(['plan', TASK, '--state-dir', d.state, '--input', edited, '--out', planFile], {
      env: d.env,
    });
    expect(plan.exitCode, String(plan.stderr)).toBe(0);
    expect(plan.stderr).toMatch(/plan [0-9a-f]{12} saved to .*tonight\.plan: 3 records to change/);
    expect(d.target()).toEqual(before);
    const lines = readFileSync(planFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({
      type: 'idem-plan',
      task: 'onboard-accounts',
      summary: { modifications: 3 },
    });
    expect(lines.filter((l) => l.type === 'record').map((l) => l.key)).toEqual(['u0001', 'u0002', 'u0003']);

    // Someone edits u0002 at the target after the plan was reviewed.
    const app = new Database(join(d.demoDir, 'app.db'));
    app.prepare(`UPDATE accounts SET role = 'ops' WHERE id = 'u0002'`).run(); // it was dev
    app.close();

    const apply = await idem(['apply', planFile, '--state-dir', d.state, '--json'], { env: d.env });
    expect(apply.exitCode, String(apply.stderr)).toBe(3);
    expect(apply.stderr).toMatch(/1 record\(s\) no longer match plan [0-9a-f]{12} and were not applied/);
    const recs = d.records(apply.stdout);
    expect(recs.find((r) => r.key === 'u0002')).toMatchObject({ outcome: 'skipped' });
    expect(recs.find((r) => r.key === 'u0002')?.notes?.[0]).toMatch(
      /refused: the target changed since the plan/,
    );
    expect(
      recs
        .filter((r) => r.outcome === 'changed')
        .map((r) => r.key)
        .sort(),
    ).toEqual(['u0001', 'u0003']);
    const check = new Database(join(d.demoDir, 'app.db'), { readonly: true });
    expect(
      check.prepare(`SELECT id, role FROM accounts WHERE id IN ('u0001','u0002','u0003') ORDER BY id`).all(),
    ).toEqual([
      { id: 'u0001', role: 'admin' },
      { id: 'u0002', role: 'ops' },
      { id: 'u0003', role: 'admin' },
    ]);
    check.close();

    const afterFirst = d.target();
    const twice = await idem(['apply', planFile, '--state-dir', d.state, '--json'], { env: d.env });
    expect(d.summary(twice.stdout).counts.changed).toBe(0);
    expect(d.target().db).toEqual(afterFirst.db);
  });

  it('an edited plan file, or another input, is refused whole before anything is applied', async () => {
    const d = await baseline();
    const edited = d.input(
      'tonight.csv',
      ROWS.map((r, i) => (i === 0 ? r.replace(',user', ',ops') : r)),
    );
    const planFile = join(d.dir, 'tonight.plan');
    expect(
      (
        await idem(['plan', TASK, '--state-dir', d.state, '--input', edited, '--out', planFile], {
          env: d.env,
        })
      ).exitCode,
    ).toBe(0);
    const tampered = join(d.dir, 'tampered.plan');
    writeFileSync(tampered, readFileSync(planFile, 'utf8').replace('"to":"ops"', '"to":"admin"'));
    const bad = await idem(['apply', tampered, '--state-dir', d.state], { env: d.env });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/does not match its own hash/);
    const other = d.input('other.csv', ROWS);
    const wrongInput = await idem(['apply', planFile, '--state-dir', d.state, '--input', other], {
      env: d.env,
    });
    expect(wrongInput.exitCode).toBe(2);
    expect(wrongInput.stderr).toMatch(/is not the one plan [0-9a-f]{12} was made from/);
  });
});
