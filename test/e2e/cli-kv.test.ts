import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { FAULTY_BIN, idem, ndjson, openLedger, tempDir, writeCsv } from '../support/cli.ts';
import { createKvTarget } from '../support/kv-target.ts';
import { linesSeen } from '../support/wait.ts';

const TASK = 'test/e2e/tasks/kv.ts';

/** A fresh target, state dir and input of n records. */
function setup(n: number, extraRows = '') {
  const dir = tempDir();
  const target = createKvTarget(join(dir, 'target.db'));
  const rows = Array.from({ length: n }, (_, i) => `k${i + 1},v${i + 1}`).join('\n');
  const input = writeCsv(dir, 'in.csv', `id,value\n${rows}\n${extraRows}`);
  const state = join(dir, 'state');
  const env = { KV_TARGET: target, KV_INPUT: input };
  const run = (args: string[] = [], more: Record<string, string> = {}) =>
    idem(['run', TASK, '--state-dir', state, ...args], { env: { ...env, ...more } });
  const target$ = () => {
    const t = new Database(target, { readonly: true });
    try {
      return {
        rows: t.prepare('SELECT count(*) AS n FROM kv').get() as { n: number },
        applies: t.prepare('SELECT id, count(*) AS n FROM applies GROUP BY id').all() as {
          id: string;
          n: number;
        }[],
        total: (t.prepare('SELECT count(*) AS n FROM applies').get() as { n: number }).n,
      };
    } finally {
      t.close();
    }
  };
  return { dir, target, input, state, env, run, target$ };
}

/** Waits until a run holds the kv lock and has started its run. */
async function lockTaken(state: string) {
  const info = join(state, 'locks', 'kv.lock.json');
  // Polls up to 90 s: a loaded machine may take long to start a CLI.
  for (let i = 0; i < 3600; i++) {
    if (existsSync(info) && JSON.parse(readFileSync(info, 'utf8')).runId !== 'starting') return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the first run never took the lock');
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const summaryOf = (stdout: unknown): Record<string, any> => {
  const summary = ndjson(stdout).find((e) => e.type === 'summary');
  if (!summary) throw new Error(`no summary event in:\n${String(stdout)}`);
  return summary;
};

describe('idem run: dry run, first run, rerun', () => {
  it('a dry run plans N changes and writes nothing; a run changes N; a rerun changes 0 with zero writes', async () => {
    const s = setup(50);
    const before = sha(s.target);
    const dry = await s.run(['--dry-run', '--json', '--detailed-exitcode']);
    expect(dry.exitCode).toBe(5);
    const plan = summaryOf(dry.stdout);
    expect(plan).toMatchObject({ dryRun: true, counts: { changed: 50, ok: 0 } });
    expect(ndjson(dry.stdout).find((e) => e.key === 'k7')?.diff).toEqual([
      { step: 'kv.put', changes: [{ op: '+', field: 'value', to: 'v7' }] },
    ]);
    expect(sha(s.target)).toBe(before);
    expect(s.target$().total).toBe(0);

    const first = await s.run();
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toContain('changed=50 ok=0 failed=0 invalid=0 skipped=0 in-doubt=0 absorbed=0');
    expect(first.stdout).toMatch(/changed +k7 \(line 8\)\n {4}kv\.put: \+value: v7/);
    expect(s.target$().total).toBe(50);

    const again = await s.run(['--detailed-exitcode']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('changed=0 ok=50');
    expect(again.stdout).not.toMatch(/^ok /m);
    expect(s.target$().total).toBe(50);
    const verbose = await s.run(['-v']);
    expect(verbose.stdout).toMatch(/^ok +k1 \(line 2\)$/m);

    const ledger = openLedger(s.state);
    const runs = ledger.prepare('SELECT status, dry_run FROM runs ORDER BY started_at').all();
    expect(runs).toEqual([
      { status: 'succeeded', dry_run: 1 },
      { status: 'succeeded', dry_run: 0 },
      { status: 'succeeded', dry_run: 0 },
      { status: 'succeeded', dry_run: 0 },
    ]);
    ledger.close();
  });

  it('--detailed-exitcode gives 5 when changes were made', async () => {
    const s = setup(3);
    expect((await s.run(['--detailed-exitcode'])).exitCode).toBe(5);
    expect((await s.run(['--detailed-exitcode'])).exitCode).toBe(0);
  });
});

describe('idem run: crash and resume', () => {
  it('SIGKILL mid-run, then --resume: one outcome per key, no duplicated effect, finished records untouched', async () => {
    const s = setup(2000);
    const child = s.run(['--concurrency', '4'], { KV_SLOW_MS: '3' });
    const ledgerPath = join(s.state, 'ledger.db');
    let doneBefore = 0;
    for (let i = 0; i < 1800 && doneBefore < 300; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (!existsSync(ledgerPath)) continue;
      const l = new Database(ledgerPath, { readonly: true });
      try {
        doneBefore = (l.prepare('SELECT count(*) AS n FROM results').get() as { n: number }).n;
      } catch {
        // the CLI has created the file but not yet its tables
      } finally {
        l.close();
      }
    }
    child.kill('SIGKILL');
    const killed = await child;
    expect(killed.signal).toBe('SIGKILL');

    let l = openLedger(s.state);
    const finished = new Set(
      (l.prepare('SELECT slot FROM results').all() as { slot: string }[]).map((r) => r.slot),
    );
    const lastEvent = (l.prepare('SELECT max(id) AS id FROM events').get() as { id: number }).id;
    const runId = (l.prepare('SELECT id, status FROM runs').get() as { id: string; status: string }).id;
    l.close();
    expect(finished.size).toBeGreaterThanOrEqual(300);
    expect(finished.size).toBeLessThan(2000);

    const resumed = await s.run(['--resume', '--json']);
    expect(resumed.exitCode).toBe(0);
    const summary = summaryOf(resumed.stdout);
    expect(summary).toMatchObject({ runId, resumed: true, status: 'succeeded', alreadyDone: finished.size });
    expect(summary.counts.changed + summary.counts.ok).toBe(2000);
    for (const e of ndjson(resumed.stdout).filter((x) => x.type === 'record'))
      expect(finished.has(e.key)).toBe(false);

    l = openLedger(s.state);
    expect(l.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(
      l.prepare('SELECT count(*) AS n, count(DISTINCT slot) AS d FROM results WHERE run_id = ?').get(runId),
    ).toEqual({
      n: 2000,
      d: 2000,
    });
    const touchedAgain = (
      l.prepare("SELECT DISTINCT slot FROM events WHERE id > ? AND kind = 'start'").all(lastEvent) as {
        slot: string;
      }[]
    ).filter((r) => finished.has(r.slot));
    expect(touchedAgain).toEqual([]);
    l.close();

    const t = s.target$();
    expect(t.rows.n).toBe(2000);
    expect(t.applies.length).toBe(2000);
    expect(t.applies.filter((a) => a.n !== 1)).toEqual([]);
  });

  it('--resume with no unfinished run says so and starts a new run', async () => {
    const s = setup(3);
    const r = await s.run(['--resume']);
    expect(r.exitCode).toBe(0);
    // One start line says it (the usual night with --resume), not a warning line of its own.
    expect(r.stderr).toMatch(
      /^idem: \S+ \S+ \S+ run r-\S+ of task kv: 3 records \(no unfinished run to resume\)$/,
    );
  });

  it('--resume with a changed input supersedes the unfinished run and makes progress; --strict-resume refuses with exit 2', async () => {
    const s = setup(20, 'k21,v21\n');
    const aborted = await s.run(['--concurrency', '1', '--json'], { KV_FAULT: 'permanent:*' });
    expect(aborted.exitCode).toBe(4);
    const abortedId = summaryOf(aborted.stdout).runId;
    writeCsv(s.dir, 'in.csv', 'id,value\nk1,changed\n');
    const strict = await s.run(['--strict-resume']);
    expect(strict.exitCode).toBe(2);
    expect(strict.stderr).toMatch(
      /cannot resume run r-\S+ of task kv: the input .*in\.csv changed \(sha256 \S+ then, \S+ now\) since run r-\S+ started/,
    );
    const r = await s.run(['--resume']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(r.stderr).toMatch(/did not finish and the input .*in\.csv changed .* superseded by a new run/);
    expect(r.stdout).toMatch(
      new RegExp(`warning: run ${abortedId} did not finish and its input changed since`),
    );
    expect(r.stdout).toContain('changed=1');
    const db = openLedger(s.state);
    expect(db.prepare('SELECT status FROM runs WHERE id = ?').get(abortedId)).toEqual({
      status: 'superseded',
    });
    db.close();
  });

  it('SIGTERM stops taking records, finishes in-flight ones, marks the run interrupted (143); --resume completes it', async () => {
    const s = setup(400);
    const child = s.run(['--concurrency', '2'], { KV_SLOW_MS: '20' });
    // Mid-run by the run's own output, not by the clock: 5 records changed of 400.
    await linesSeen(child.stdout, /^changed /, 5);
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(r.stdout).toContain('interrupted');
    const l = openLedger(s.state);
    expect(l.prepare('SELECT status FROM runs').get()).toEqual({ status: 'interrupted' });
    l.close();
    const again = await s.run(['--resume']);
    expect(again.exitCode).toBe(0);
    expect(s.target$().applies.filter((a) => a.n !== 1)).toEqual([]);
    expect(s.target$().rows.n).toBe(400);
  });
});

describe('idem run: overlapping runs', () => {
  it('exactly one runs; the other exits 75 naming the holder; after SIGKILL of the holder the next starts at once', async () => {
    const s = setup(300);
    const first = s.run(['--concurrency', '1'], { KV_SLOW_MS: '50' });
    await lockTaken(s.state);
    const second = await s.run();
    expect(second.exitCode).toBe(75);
    expect(second.stderr).toMatch(
      new RegExp(
        `idem: task kv is locked by pid ${first.pid} on host \\S+ \\(run r-\\S+, started .+\\); try again later or wait with --wait 10m`,
      ),
    );
    first.kill('SIGKILL');
    await first;
    const third = await s.run(['--resume']);
    expect(third.exitCode).toBe(0);
    expect(s.target$().rows.n).toBe(300);
  });

  it('--wait waits for the holder instead of exiting 75', async () => {
    const s = setup(60);
    const first = s.run(['--concurrency', '1'], { KV_SLOW_MS: '50' });
    await lockTaken(s.state);
    const second = await s.run(['--wait', '60s']);
    expect((await first).exitCode).toBe(0);
    expect(second.exitCode).toBe(0);
    expect(second.stderr).toContain('waiting up to 60s');
    expect(second.stdout).toContain('changed=0 ok=60');
  });
});

describe('idem run: bad input', () => {
  let out: Awaited<ReturnType<ReturnType<typeof setup>['run']>>;
  let s: ReturnType<typeof setup>;
  beforeAll(async () => {
    s = setup(0);
    const bom = '\ufeff';
    writeCsv(
      s.dir,
      'in.csv',
      `${bom}id,value\r\nk1,a\r\nk2,b"c\r\nk3\r\nk4,d\r\nk1,again\r\nk5,bad\r\nk6,e\r\n`,
    );
    out = await s.run(['--json']);
  });

  it('gives invalid outcomes with the right lines, and processes the good rows (exit 3)', () => {
    expect(out.exitCode).toBe(3);
    const records = ndjson(out.stdout).filter((e) => e.type === 'record');
    const invalid = records.filter((e) => e.outcome === 'invalid').map((e) => [e.line, e.error.message]);
    expect(invalid.sort()).toEqual([
      [3, expect.stringMatching(/quote/i)],
      [4, expect.stringMatching(/the row has 1 field where the header has 2 columns/)],
      [6, 'duplicate key "k1": first seen on line 2'],
      [7, 'value must not be "bad"'],
    ]);
    expect(
      records
        .filter((e) => e.outcome === 'changed')
        .map((e) => e.key)
        .sort(),
    ).toEqual(['k1', 'k4', 'k6']);
    expect(summaryOf(out.stdout).counts).toMatchObject({ changed: 3, invalid: 4 });
  });

  it('an empty input (header only) exits 2 before any step', async () => {
    writeCsv(s.dir, 'empty.csv', 'id,value\n');
    const r = await idem(['run', TASK, '--state-dir', s.state, '--input', join(s.dir, 'empty.csv')], {
      env: s.env,
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('has no records; refusing to run task kv');
  });

  it('a missing task file or input, or a bad option, exits 2 with a message', async () => {
    expect((await idem(['run', 'tasks/nope.ts'])).exitCode).toBe(2);
    const missing = await idem(['run', TASK, '--state-dir', s.state, '--input', '/nonexistent.csv'], {
      env: s.env,
    });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('input /nonexistent.csv does not exist');
    const bad = await s.run(['--concurrency', 'zero']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--concurrency takes a whole number');
    expect((await idem(['run', TASK, '--bogus'])).exitCode).toBe(2);
  });
});

describe('idem run: retries and failures', () => {
  it('retries a transient fault, absorbs a fault after the apply landed, tries a permanent fault once', async () => {
    const s = setup(10);
    const r = await s.run(['--json'], { KV_FAULT: 'transient:k2,absorbed:k5,permanent:k8' });
    expect(r.exitCode).toBe(3);
    const records = Object.fromEntries(
      ndjson(r.stdout)
        .filter((e) => e.type === 'record')
        .map((e) => [e.key, e]),
    );
    // k2's transient fault hit its check in the plan phase; the retry is in its history.
    expect(records.k2).toMatchObject({ outcome: 'changed', attempts: 1 });
    expect(records.k5).toMatchObject({ outcome: 'ok', absorbed: true });
    expect(records.k8).toMatchObject({ outcome: 'failed', attempts: 1, error: { class: 'permanent' } });
    expect(summaryOf(r.stdout).counts).toMatchObject({ changed: 8, ok: 1, failed: 1, absorbed: 1 });
    const l = openLedger(s.state);
    const kinds = (slot: string) =>
      (l.prepare('SELECT kind FROM events WHERE slot = ? ORDER BY id').all(slot) as { kind: string }[]).map(
        (e) => e.kind,
      );
    expect(kinds('k2')).toEqual(['retry', 'apply', 'done']);
    expect(kinds('k5')).toEqual(['apply', 'retry', 'absorbed', 'done']);
    expect(kinds('k8')).toEqual(['failed', 'done']);
    expect(kinds('k1')).toEqual(['apply', 'done']);
    l.close();
    expect(s.target$().applies.find((a) => a.id === 'k5')?.n).toBe(1);
  });

  it('five consecutive identical failures abort with exit 4, and the rest is left for --resume', async () => {
    const s = setup(50);
    const r = await s.run(['--concurrency', '1'], { KV_FAULT: 'permanent:*' });
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toContain(
      'aborted: 5 consecutive records failed with the same error: step kv.put: no write access',
    );
    expect(r.stdout).toContain('45 records not processed; resume with --resume');
    expect(s.target$().total).toBe(0);
    const again = await s.run(['--resume']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('changed=50 ok=0 failed=0');
  });
});

describe('idem run: secrets and output', () => {
  it('a declared secret never appears in stdout, stderr, NDJSON, the ledger or its WAL', async () => {
    const s = setup(5);
    const canary = 'canary-Pa55w0rd-7781';
    writeCsv(s.dir, 'in.csv', `id,value\nk1,${canary}\nk2,x\n`);
    const r = await s.run(['--json', '-v'], { KV_SECRET: canary, KV_FAULT: 'permanent:k2' });
    expect(r.exitCode).toBe(3);
    const ledgerFiles = ['ledger.db', 'ledger.db-wal'].map((f) => join(s.state, f)).filter(existsSync);
    for (const text of [r.stdout, r.stderr, ...ledgerFiles.map((f) => readFileSync(f, 'latin1'))]) {
      expect(String(text)).not.toContain(canary);
    }
    expect(String(r.stdout)).toContain('<secret>');
  });
});

describe('idem run: a ledger that stops recording', () => {
  it('a background commit that fails ends the run with exit 4 and a clear message, stops applying, and still runs the cleanups', async () => {
    // Slow applies: the 200 ms timer commits the first batches in the background, long before 64 writes queue up.
    const s = setup(200);
    const marker = join(s.dir, 'closed');
    const r = await idem(['run', TASK, '--state-dir', s.state, '--json', '--concurrency', '2'], {
      bin: FAULTY_BIN,
      env: { ...s.env, IDEM_LEDGER_FAIL_AFTER: '1', KV_SLOW_MS: '30', KV_CLOSED_MARKER: marker },
    });
    expect(r.exitCode, String(r.stderr)).toBe(4);
    expect(String(r.stderr)).not.toMatch(/internal error|SqliteError|at .*\.js:\d+/);
    const summary = summaryOf(r.stdout);
    expect(summary.status).toBe('aborted');
    expect(summary.message).toMatch(
      /could not record outcomes: database or disk is full; nothing more was applied/,
    );
    expect(summary.message).toMatch(/resume with --resume/);
    expect(existsSync(marker)).toBe(true);
    // After the failure no new record starts, and the in-flight ones (two) are
    // refused before their apply: far fewer writes than records.
    const t = s.target$();
    expect(t.total).toBeLessThan(100);
    expect(summary.notProcessed).toBeGreaterThan(100);
    // Once the disk is fine again, --resume finishes the job with nothing applied twice.
    const resumed = await s.run(['--resume', '--json']);
    expect(resumed.exitCode, String(resumed.stderr)).toBe(0);
    const after = s.target$();
    expect(after.rows.n).toBe(200);
    expect(after.applies.every((a) => a.n === 1)).toBe(true);
  });
});

describe('idem run: a write that landed just before the process died', () => {
  it('is found done on --resume and counted absorbed, visibly, not ok; nothing is written twice', async () => {
    const s = setup(20);
    const killed = await s.run(['--concurrency', '1'], { KV_FAULT: 'kill:k10' });
    expect(killed.signal).toBe('SIGKILL');
    expect(s.target$().applies.find((a) => a.id === 'k10')?.n).toBe(1);
    const resumed = await s.run(['--resume', '--json']);
    expect(resumed.exitCode, String(resumed.stderr)).toBe(0);
    const k10 = ndjson(resumed.stdout).find((e) => e.type === 'record' && e.key === 'k10');
    expect(k10).toMatchObject({ outcome: 'ok', absorbed: true });
    expect(k10?.notes).toEqual(['found done on resume: the attempt that stopped had applied it']);
    const summary = summaryOf(resumed.stdout);
    expect(summary.counts.absorbed).toBeGreaterThanOrEqual(1);
    expect(summary.counts.changed + summary.alreadyDone + summary.counts.ok).toBe(20);
    const t = s.target$();
    expect(t.rows.n).toBe(20);
    expect(t.applies.every((a) => a.n === 1)).toBe(true);
  });
});
