/**
 * The morning after, end to end: `idem status`, `runs` and `show` on real
 * ledger files, in human and JSON form (the JSON checked against
 * docs/schemas/), and the not-found cases that used to be a false all-clear.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { idem, tempDir } from '../support/cli.ts';
import { until } from '../support/wait.ts';
import { committed, kvWorld, lockHolder, rows, summaryOf, TASKS } from './support/kv-world.ts';
import { jsonDoc } from './support/schemas.ts';

const RECORD_HEAD = /^(changed[ *]|ok {6}|failed {2}|invalid |in-doubt|absorbed|skipped ) /;

/** The record blocks of human output: a record's head line and its indented lines. */
function recordBlocks(text: unknown): string[] {
  const blocks: string[] = [];
  let open = false;
  for (const line of String(text).split('\n')) {
    if (RECORD_HEAD.test(line)) {
      blocks.push(line);
      open = true;
    } else if (open && line.startsWith('    ')) blocks[blocks.length - 1] += `\n${line}`;
    else open = false;
  }
  return blocks;
}

describe('idem status, runs and show after a night with failures', () => {
  it('status says what needs attention (exit 3), then all clear (exit 0); runs and show read the same ledger', async () => {
    const w = kvWorld(10);
    const night = await w.run(['--concurrency', '1'], { KV_FAULT: 'transient:k2,absorbed:k5,permanent:k8' });
    expect(night.exitCode).toBe(3);
    const failedRun = w.ledger((db) => (db.prepare('SELECT id FROM runs').get() as { id: string }).id);

    const status = await w.cmd(['status', 'kv']);
    expect(status.exitCode, String(status.stderr)).toBe(3);
    expect(status.stdout).toContain('task kv: needs attention');
    expect(status.stdout).toContain(
      `! the last run ${failedRun} finished with failures: failed=1 invalid=0 in-doubt=0`,
    );
    expect(status.stdout).toMatch(/^ {2}lock {6}free$/m);
    expect(status.stdout).toMatch(
      new RegExp(
        `^ {4}${failedRun} {2}\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d [+-]\\d\\d:\\d\\d +\\S+ {2}completed-with-failures {2}changed=8 ok=1 failed=1`,
        'm',
      ),
    );
    expect(status.stdout).toContain('  resume    nothing to continue: the last run finished');
    expect(status.stdout).toContain('  problems in the last run: 1\n    failed   k8 (line 9)\n');
    expect(status.stdout).toContain('permanent, not retried: step kv.put: no write access to kv (key k8)');
    const statusJson = jsonDoc('status', (await w.cmd(['status', 'kv', '--json'])).stdout);
    expect(statusJson).toMatchObject({
      needsAttention: true,
      tasks: [
        {
          task: 'kv',
          lock: { state: 'free' },
          lastRun: { id: failedRun, status: 'completed-with-failures', countsPartial: false },
          resumable: null,
          inDoubt: 0,
          problems: {
            total: 1,
            records: [{ key: 'k8', outcome: 'failed', line: 9, error: { class: 'permanent' } }],
          },
        },
      ],
    });

    // show: the same record lines the live output printed, in the same format, in input order
    // (the live output prints a failed check from the plan phase before the applied changes).
    const show = await w.cmd(['show', failedRun]);
    expect(show.exitCode, String(show.stderr)).toBe(0);
    expect([...recordBlocks(show.stdout)].sort()).toEqual([...recordBlocks(night.stdout)].sort());
    // 8 changed, k5 absorbed, k8 failed: every record but a no-op, as the live output showed them.
    expect(recordBlocks(show.stdout)).toHaveLength(10);
    const onlyFailed = await w.cmd(['show', failedRun, '--outcome', 'failed']);
    expect(recordBlocks(onlyFailed.stdout)).toEqual([
      'failed   k8 (line 9)\n    permanent, not retried: step kv.put: no write access to kv (key k8)',
    ]);
    const absorbed = jsonDoc(
      'show',
      (await w.cmd(['show', failedRun, '--outcome', 'absorbed', '--json'])).stdout,
    );
    expect(absorbed.records.map((r: { key: string }) => r.key)).toEqual(['k5']);
    expect(absorbed.run).toMatchObject({ id: failedRun, status: 'completed-with-failures', dryRun: false });
    const all = jsonDoc('show', (await w.cmd(['show', failedRun, '-v', '--json'])).stdout);
    expect(all.records.map((r: { key: string }) => r.key)).toEqual(
      rows(10)
        .split('\n')
        .map((l) => l.split(',')[0]),
    );
    expect((await w.cmd(['show', failedRun, '--outcome', 'wrong'])).exitCode).toBe(2);

    const fixed = await w.run();
    expect(fixed.exitCode).toBe(0);
    const ok = await w.cmd(['status', 'kv']);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toMatch(/^task kv: ok$/m);
    const okJson = jsonDoc('status', (await w.cmd(['status', '--json'])).stdout);
    expect(okJson.needsAttention).toBe(false);
    expect(okJson.tasks[0].lastRuns.map((r: { status: string }) => r.status)).toEqual([
      'succeeded',
      'completed-with-failures',
    ]);

    const runs = await w.cmd(['runs', 'kv']);
    expect(runs.exitCode).toBe(0);
    const lines = String(runs.stdout).trim().split('\n');
    expect(lines[0]).toMatch(/^r-\S+ {2}\S+ \S+ \S+ +\S+ {2}succeeded +changed=1 ok=9 failed=0/);
    expect(lines[1]).toMatch(new RegExp(`^${failedRun} .* completed-with-failures {2}changed=8`));
    expect(lines.at(-1)).toMatch(/^2 run\(s\) of task kv, newest first · ledger /);
    const runsJson = jsonDoc('runs', (await w.cmd(['runs', 'kv', '--limit', '1', '--json'])).stdout);
    expect(runsJson.runs).toHaveLength(1);
    expect(runsJson.runs[0]).toMatchObject({ status: 'succeeded', counts: { changed: 1, ok: 9 } });
    const future = jsonDoc('runs', (await w.cmd(['runs', 'kv', '--since', '2999-01-01', '--json'])).stdout);
    expect(future.runs).toEqual([]);
    const week = jsonDoc('runs', (await w.cmd(['runs', 'kv', '--since', '7d', '--json'])).stdout);
    expect(week.runs).toHaveLength(2);
    const last = await w.cmd(['show', 'last', '--task', 'kv']);
    expect(recordBlocks(last.stdout)).toEqual(['changed  k8 (line 9)\n    kv.put: +value: v8']);
    const missing = await w.cmd(['show', 'r-20000101-000000-0000']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain(
      `no run r-20000101-000000-0000 in the ledger ${join(w.state, 'ledger.db')}`,
    );
  });

  it('times are the local zone with its offset in human form, UTC in JSON', async () => {
    const w = kvWorld(2);
    expect((await w.run()).exitCode).toBe(0);
    const zoned = async (tz: string) =>
      String((await w.cmd(['runs', 'kv'], { TZ: tz })).stdout).split('\n')[0] ?? '';
    const ny = await zoned('America/New_York');
    const kolkata = await zoned('Asia/Kolkata');
    expect(ny).toMatch(/^r-\S+ {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d -0[45]:00 /);
    expect(kolkata).toMatch(/^r-\S+ {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+05:30 /);
    const at = (line: string) => {
      const m = /^\S+ {2}(\S+) (\S+) (\S+)/.exec(line) as RegExpExecArray;
      return Date.parse(`${m[1]}T${m[2]}${m[3]}`);
    };
    const json = jsonDoc('runs', (await w.cmd(['runs', 'kv', '--json'], { TZ: 'Asia/Kolkata' })).stdout);
    expect(json.runs[0].startedAt).toMatch(/Z$/);
    // The same instant, whatever the zone it is shown in (to the second).
    expect(at(ny)).toBe(Math.floor(Date.parse(json.runs[0].startedAt) / 1000) * 1000);
    expect(at(kolkata)).toBe(at(ny));
    // The start line of a run says when, too.
    const run = await w.run(['-q'], { TZ: 'Asia/Kolkata' });
    expect(run.stderr).toMatch(
      /^idem: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+05:30 run r-\S+ of task kv: 2 records$/m,
    );
    expect(run.stdout).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+05:30 run r-\S+ of task kv: succeeded in \S+ · changed=0 ok=2 /,
    );
  });
});

describe('idem status while a run is going, and after it died', () => {
  it('names the lock holder (exit 0: in progress); once the process is killed, records the run crashed (exit 3)', async () => {
    const w = kvWorld(3000);
    const child = w.run(['--concurrency', '2'], { KV_SLOW_MS: '5' });
    await until(
      'the run holds the lock and has committed outcomes',
      () => Boolean(lockHolder(w.state, 'kv')) && committed(w.state) >= 50,
    );
    const live = await w.cmd(['status', 'kv', '--json']);
    expect(live.exitCode, String(live.stderr)).toBe(0);
    const seen = jsonDoc('status', live.stdout).tasks[0];
    expect(seen.lock).toMatchObject({ state: 'held', holder: { pid: child.pid } });
    expect(seen).toMatchObject({ needsAttention: false, resumable: null, settledAsCrashed: [] });
    expect(seen.lastRun).toMatchObject({
      status: 'running',
      endedAt: null,
      durationMs: null,
      countsPartial: true,
    });
    const human = await w.cmd(['status', 'kv']);
    expect(human.stdout).toMatch(
      new RegExp(`^ {2}lock {6}held by pid ${child.pid} on host \\S+ \\(run r-\\S+, since \\d{4}-`, 'm'),
    );

    child.kill('SIGKILL');
    await child;
    const runId = seen.lastRun.id;
    const after = await w.cmd(['status', 'kv']);
    expect(after.exitCode).toBe(3);
    expect(after.stdout).toContain(
      `run ${runId} was left running by a process that died: recorded as crashed now`,
    );
    expect(after.stdout).toMatch(
      new RegExp(
        `! the last run ${runId} ended crashed: the process \\(pid ${child.pid} on \\S+\\) stopped without finishing the run; resume with --resume`,
      ),
    );
    expect(after.stdout).toContain(`--resume would continue run ${runId} (crashed)`);
    expect(w.ledger((db) => db.prepare('SELECT status FROM runs WHERE id = ?').get(runId))).toEqual({
      status: 'crashed',
    });
    const again = jsonDoc('status', (await w.cmd(['status', 'kv', '--json'])).stdout).tasks[0];
    expect(again).toMatchObject({
      settledAsCrashed: [],
      lock: { state: 'free' },
      resumable: { id: runId, status: 'crashed' },
    });
    expect(again.lastRun.countsPartial).toBe(true);
    expect(again.lastRun.counts.changed).toBeGreaterThanOrEqual(50);

    const resumed = await w.run(['--resume', '--json']);
    expect(resumed.exitCode).toBe(0);
    expect(summaryOf(resumed.stdout)).toMatchObject({ runId, resumed: true, status: 'succeeded' });
    expect(resumed.stderr).toMatch(
      new RegExp(`^idem: \\S+ \\S+ \\S+ resumed run ${runId} of task kv: 3000 records$`, 'm'),
    );
    expect((await w.cmd(['status', 'kv'])).exitCode).toBe(0);
  });
});

describe('not found is not an all-clear', () => {
  it('doubts, status, runs and history with the wrong state dir or task name exit 2 and say where they looked', async () => {
    const w = kvWorld(2);
    expect((await w.run()).exitCode).toBe(0);
    const empty = tempDir('idem-nowhere-');
    for (const args of [
      ['doubts', 'kv'],
      ['status', 'kv'],
      ['status'],
      ['runs', 'kv'],
      ['history', 'kv', 'k1'],
    ]) {
      const r = await idem([...args, '--state-dir', empty]);
      expect(r.exitCode, `${args.join(' ')}: ${r.stdout}`).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`idem: no ledger at ${join(empty, 'ledger.db')}`);
      expect(r.stderr).toContain(`looked in ${empty} (--state-dir ${empty})`);
    }
    // No flag, no IDEM_STATE_DIR: ./.idem of the working directory, said so.
    const cwd = tempDir('idem-cwd-');
    const bare = await idem(['doubts', 'kv'], { cwd });
    expect(bare.exitCode).toBe(2);
    expect(bare.stderr).toContain(
      `looked in ${join(cwd, '.idem')} (.idem/ in the working directory ${cwd}: no --state-dir, no IDEM_STATE_DIR)`,
    );
    const viaEnv = await idem(['doubts', 'kv'], { cwd, env: { IDEM_STATE_DIR: empty } });
    expect(viaEnv.stderr).toContain(`(IDEM_STATE_DIR=${empty})`);
    // The right ledger, the wrong task name: it names the tasks it knows.
    const typo = await w.cmd(['doubts', 'kvv']);
    expect(typo.exitCode).toBe(2);
    expect(typo.stderr).toContain(`task kvv has never run with the ledger ${join(w.state, 'ledger.db')}`);
    expect(typo.stderr).toContain('it holds the tasks kv');
    // And the right one is a true all-clear.
    const fine = await w.cmd(['doubts', 'kv']);
    expect(fine.exitCode).toBe(0);
    expect(fine.stdout).toContain('no in-doubt effects for task kv');
    // Without a task, status covers every task of the ledger; one that needs attention makes it exit 3.
    expect((await w.run([], { KV_FAULT: 'permanent:k1' }, TASKS.notify)).exitCode).toBe(3);
    const every = await w.cmd(['status', '--json']);
    expect(every.exitCode).toBe(3);
    const doc = jsonDoc('status', every.stdout);
    expect(
      doc.tasks.map((t: { task: string; needsAttention: boolean }) => [t.task, t.needsAttention]),
    ).toEqual([
      ['kv', false],
      ['kv-notify', true],
    ]);
    const human = await w.cmd(['status']);
    expect(human.stdout).toMatch(/^task kv: ok$/m);
    expect(human.stdout).toMatch(/^task kv-notify: needs attention$/m);
    // sqlite3 users read the times through the views.
    const readable = w.ledger((db) =>
      db.prepare('SELECT started_utc, started_local, ended_utc FROM runs_readable').all(),
    );
    for (const row of readable as Record<string, string>[]) {
      expect(row.started_utc).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(row.started_local).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    }
  });
});
