/**
 * `idem run --metrics-file` (Prometheus text format, replaced atomically at the
 * end of every run, whatever its ending) and `--log-file` (NDJSON appended),
 * end to end with the built CLI.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ndjson } from '../support/cli.ts';
import { until } from '../support/wait.ts';
import { committed, holdLock, kvWorld, lockHolder, rows, summaryOf, TASKS } from './support/kv-world.ts';
import { type Family, parsePrometheus, sample } from './support/prometheus.ts';
import { expectSchema } from './support/schemas.ts';

/**
 * Reads the metrics file over and over while runs replace it, parsing every
 * read strictly: a reader must only ever see a whole old file or a whole new one.
 */
function watch(path: string) {
  let stop = false;
  let reads = 0;
  const problems: string[] = [];
  const loop = (async () => {
    while (!stop) {
      try {
        const text = readFileSync(path, 'utf8');
        parsePrometheus(text);
        reads++;
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT') problems.push((err as Error).message);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    async done() {
      stop = true;
      await loop;
      return { reads, problems };
    },
  };
}

const metricsOf = (path: string): Map<string, Family> => parsePrometheus(readFileSync(path, 'utf8'));

describe('idem run --metrics-file and --log-file', () => {
  it('every ending replaces the file atomically: succeeded, failed, dry run (untouched), interrupted, lock-refused', async () => {
    const w = kvWorld(20);
    const folder = join(w.dir, 'textfile');
    mkdirSync(folder);
    const prom = join(folder, 'idem-kv.prom');
    const log = join(w.dir, 'idem-kv.ndjson');
    const run = (args: string[] = [], env: Record<string, string> = {}) =>
      w.run(['--metrics-file', prom, '--log-file', log, ...args], env);
    const reader = watch(prom);
    // The file as it was before a run, held open: a file replaced by rename keeps
    // its old content for whoever had it open, and loses its last link.
    let held: { fd: number; text: string } | undefined;
    const hold = () => {
      if (existsSync(prom)) held = { fd: openSync(prom, 'r'), text: readFileSync(prom, 'utf8') };
    };
    let replacements = 0;
    const written = () => {
      if (held) {
        expect(fstatSync(held.fd).nlink).toBe(0);
        expect(readFileSync(held.fd, 'utf8')).toBe(held.text);
        expect(readFileSync(prom, 'utf8')).not.toBe(held.text);
        closeSync(held.fd);
        replacements++;
      }
      hold();
    };
    const ended = (runId: string) =>
      w.ledger(
        (db) =>
          (db.prepare('SELECT ended_at FROM runs WHERE id = ?').get(runId) as { ended_at: number }).ended_at,
      );

    // 1. A success.
    const first = await run(['--json']);
    expect(first.exitCode).toBe(0);
    written();
    let m = metricsOf(prom);
    expect([...m.keys()]).toEqual([
      'idem_records_total',
      'idem_run_duration_seconds',
      'idem_last_run_timestamp_seconds',
      'idem_last_success_timestamp_seconds',
      'idem_retries_total',
      'idem_in_doubt',
      'idem_lock_wait_seconds',
    ]);
    expect(m.get('idem_records_total')?.type).toBe('counter');
    expect(sample(m, 'idem_records_total', { task: 'kv', outcome: 'changed' })).toBe(20);
    expect(sample(m, 'idem_records_total', { task: 'kv', outcome: 'failed' })).toBe(0);
    expect(m.get('idem_last_run_timestamp_seconds')?.samples[0]?.labels).toEqual({
      task: 'kv',
      status: 'succeeded',
    });
    const success = ended(summaryOf(first.stdout).runId) / 1000;
    expect(sample(m, 'idem_last_success_timestamp_seconds', { task: 'kv' })).toBe(success);
    expect(sample(m, 'idem_last_run_timestamp_seconds', { task: 'kv' })).toBeGreaterThanOrEqual(success);
    expect(sample(m, 'idem_in_doubt', { task: 'kv' })).toBe(0);
    expect(sample(m, 'idem_retries_total', { task: 'kv' })).toBe(0);
    expect(sample(m, 'idem_run_duration_seconds', { task: 'kv' })).toBeGreaterThan(0);

    // 2. Failures: the counters add up, the last success is kept.
    w.write(`id,value\n${rows(20).replace('k2,v2', 'k2,w2').replace('k3,v3', 'k3,w3')}\n`);
    const failed = await run([], { KV_FAULT: 'transient:k2,permanent:k3' });
    expect(failed.exitCode).toBe(3);
    written();
    m = metricsOf(prom);
    expect(sample(m, 'idem_records_total', { task: 'kv', outcome: 'changed' })).toBe(21);
    expect(sample(m, 'idem_records_total', { task: 'kv', outcome: 'ok' })).toBe(18);
    expect(sample(m, 'idem_records_total', { task: 'kv', outcome: 'failed' })).toBe(1);
    expect(sample(m, 'idem_retries_total', { task: 'kv' })).toBe(1);
    expect(
      sample(m, 'idem_last_run_timestamp_seconds', { status: 'completed-with-failures' }),
    ).toBeGreaterThan(success);
    expect(sample(m, 'idem_last_success_timestamp_seconds', { task: 'kv' })).toBe(success);

    // 3. A dry run leaves the file alone.
    const before = readFileSync(prom, 'utf8');
    expect((await run(['--dry-run'])).exitCode).toBe(0);
    expect(readFileSync(prom, 'utf8')).toBe(before);
    expect(fstatSync(held!.fd).nlink).toBe(1);

    // 4. Interrupted by SIGTERM: the records it finished count, nothing else.
    w.write(`id,value\n${rows(2000, 1, 'x')}\n`);
    // 1,980 new keys against a last run of 20: a mass create the budget would refuse; let it through.
    const long = run(['--concurrency', '1', '--max-creates', '100%'], { KV_SLOW_MS: '5' });
    await until(
      'the run has committed outcomes',
      () => committed(w.state) >= 20 + 60 && Boolean(lockHolder(w.state, 'kv')),
    );
    long.kill('SIGTERM');
    const interrupted = await long;
    expect(interrupted.exitCode).toBe(143);
    written();
    m = metricsOf(prom);
    const interruptedRun = w.ledger((db) =>
      db
        .prepare(
          `SELECT id, (SELECT count(*) FROM results WHERE run_id = runs.id) AS n FROM runs WHERE status = 'interrupted'`,
        )
        .get(),
    ) as { id: string; n: number };
    expect(sample(m, 'idem_last_run_timestamp_seconds', { status: 'interrupted' })).toBeGreaterThan(success);
    const total = (mm: Map<string, Family>) =>
      (mm.get('idem_records_total')?.samples ?? []).reduce((sum, s) => sum + s.value, 0);
    expect(total(m)).toBe(40 + interruptedRun.n);

    // 5. Refused by the lock: exit 75, the file says so; with --wait, how long it waited.
    const { child: holder } = await holdLock(join(w.state, 'locks'), 'kv', hostname());
    try {
      const locked = await run(['--wait', '1s']);
      expect(locked.exitCode).toBe(75);
      written();
      m = metricsOf(prom);
      expect(sample(m, 'idem_last_run_timestamp_seconds', { task: 'kv', status: 'locked' })).toBeGreaterThan(
        success,
      );
      expect(sample(m, 'idem_lock_wait_seconds', { task: 'kv' })).toBeGreaterThanOrEqual(1);
      expect(total(m)).toBe(40 + interruptedRun.n);
      expect(sample(m, 'idem_last_success_timestamp_seconds', { task: 'kv' })).toBe(success);
    } finally {
      holder.kill('SIGKILL');
      await holder;
    }

    // 6. The next success moves the last success on.
    const resumed = await run(['--resume', '--json']);
    expect(resumed.exitCode).toBe(0);
    written();
    m = metricsOf(prom);
    expect(sample(m, 'idem_last_success_timestamp_seconds', { task: 'kv' })).toBe(
      ended(summaryOf(resumed.stdout).runId) / 1000,
    );
    expect(total(m)).toBe(40 + 2000);

    const seen = await reader.done();
    expect(seen.problems).toEqual([]);
    expect(seen.reads).toBeGreaterThan(0);
    // Each write was a new file renamed into place, never the old one rewritten.
    expect(replacements).toBe(4);
    if (held) closeSync(held.fd);
    // No temp file is left behind, and none ever ends in .prom.
    expect(readdirSync(folder)).toEqual(['idem-kv.prom']);

    // The log file: every line valid, appended across all six runs.
    const lines = ndjson(readFileSync(log, 'utf8'));
    for (const line of lines) expectSchema('log-event', line);
    expect(lines.filter((l) => l.type === 'run-started')).toHaveLength(5);
    expect(lines.filter((l) => l.type === 'summary').map((l) => l.status)).toEqual([
      'succeeded',
      'completed-with-failures',
      'succeeded',
      'interrupted',
      'succeeded',
    ]);
    expect(lines.find((l) => l.type === 'retry')).toMatchObject({ key: 'k2', step: 'kv.put', attempt: 1 });
    expect(lines.find((l) => l.type === 'error')).toMatchObject({
      kind: 'locked',
      exitCode: 75,
      runId: null,
    });
    expect(lines.find((l) => l.type === 'record' && l.key === 'k3' && l.outcome === 'failed')).toMatchObject({
      error: { class: 'permanent' },
    });
    const runIds = new Set(lines.filter((l) => l.type === 'record').map((l) => l.runId));
    expect(runIds.size).toBe(4);
  });

  it('a refused run (the deletion guard) writes its status too', async () => {
    const w = kvWorld(5);
    const prom = join(w.dir, 'idem-kv-prune.prom');
    expect((await w.run(['--metrics-file', prom], {}, TASKS.prune)).exitCode).toBe(0);
    w.write('id,value\nk1,v1\n');
    const refused = await w.run(['--metrics-file', prom], {}, TASKS.prune);
    expect(refused.exitCode).toBe(6);
    const m = metricsOf(prom);
    expect(
      sample(m, 'idem_last_run_timestamp_seconds', { task: 'kv-prune', status: 'refused' }),
    ).toBeGreaterThan(0);
    expect(sample(m, 'idem_records_total', { task: 'kv-prune', outcome: 'changed' })).toBe(5);
  });

  it('a metrics folder or log file that cannot be used is exit 2 before the run', async () => {
    const w = kvWorld(2);
    const noFolder = await w.run(['--metrics-file', join(w.dir, 'missing', 'x.prom')]);
    expect(noFolder.exitCode).toBe(2);
    expect(noFolder.stderr).toContain(
      `--metrics-file ${join(w.dir, 'missing', 'x.prom')}: the folder ${join(w.dir, 'missing')} does not exist`,
    );
    const noLog = await w.run(['--log-file', join(w.dir, 'missing', 'x.ndjson')]);
    expect(noLog.exitCode).toBe(2);
    expect(noLog.stderr).toContain('cannot open it for appending');
    expect(existsSync(join(w.state, 'ledger.db'))).toBe(false);
  });
});
