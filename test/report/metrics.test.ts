import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPreviousMetrics, renderMetrics, writeFileAtomic } from '../../src/report/metrics.ts';
import { parsePrometheus, sample } from '../e2e/support/prometheus.ts';
import { tempDir } from '../support/temp.ts';

const records = { changed: 2, ok: 3, failed: 1, invalid: 0, skipped: 0, 'in-doubt': 0 };

describe('the metrics file', () => {
  it('escapes label values, and reads its own counters back (a task name with quotes, backslashes, a newline)', () => {
    const task = 'odd "name" \\ with\nnewline';
    const first = renderMetrics(
      {
        task,
        status: 'succeeded',
        endedAt: 1_700_000_000_123,
        durationMs: 1500,
        records,
        retries: 2,
        inDoubt: 1,
        lockWaitMs: 0,
        lastSuccessAt: 1_700_000_000_123,
      },
      { records: {}, retries: 0 },
    );
    const parsed = parsePrometheus(first);
    expect(sample(parsed, 'idem_records_total', { task, outcome: 'failed' })).toBe(1);
    expect(sample(parsed, 'idem_last_success_timestamp_seconds', { task })).toBe(1_700_000_000.123);
    expect(sample(parsed, 'idem_run_duration_seconds', { task })).toBe(1.5);
    const dir = tempDir('idem-metrics-');
    const path = join(dir, 'm.prom');
    writeFileAtomic(path, first);
    // Another task's series in the same file are not this task's counters.
    writeFileSync(path, `${readFileSync(path, 'utf8')}idem_retries_total{task="other"} 99\n`);
    const previous = readPreviousMetrics(path, task);
    expect(previous).toEqual({
      records: { changed: 2, ok: 3, failed: 1, invalid: 0, skipped: 0, 'in-doubt': 0 },
      retries: 2,
      lastSuccessAt: 1_700_000_000_123,
      inDoubt: 1,
    });
    // A failed run: counters add up, the last success and the in-doubt count carry over when unknown.
    const second = parsePrometheus(
      renderMetrics(
        {
          task,
          status: 'error',
          endedAt: 1_700_000_100_000,
          durationMs: 10,
          records: { ...records, failed: 0, changed: 0, ok: 0 },
          retries: 0,
          lockWaitMs: 0,
        },
        previous,
      ),
    );
    expect(sample(second, 'idem_records_total', { task, outcome: 'ok' })).toBe(3);
    expect(sample(second, 'idem_retries_total', { task })).toBe(2);
    expect(sample(second, 'idem_last_success_timestamp_seconds', { task })).toBe(1_700_000_000.123);
    expect(sample(second, 'idem_in_doubt', { task })).toBe(1);
    expect(sample(second, 'idem_last_run_timestamp_seconds', { task, status: 'error' })).toBe(1_700_000_100);
  });

  it('a missing or unreadable previous file starts the counters at 0', () => {
    const dir = tempDir('idem-metrics-');
    expect(readPreviousMetrics(join(dir, 'none.prom'), 'kv')).toEqual({ records: {}, retries: 0 });
    writeFileSync(join(dir, 'junk.prom'), 'not { metrics\n\u0000\n');
    expect(readPreviousMetrics(join(dir, 'junk.prom'), 'kv')).toEqual({ records: {}, retries: 0 });
  });
});

describe('the metrics file is replaced atomically', () => {
  it("a dead writer's temporary is removed by the next write; a live one's is kept; other files are left alone", async () => {
    const dir = tempDir('idem-metrics-tmp-');
    const path = join(dir, 'idem.prom');
    // A writer killed between open and rename: a real process that has exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
    writeFileSync(join(dir, `.idem.prom.${dead}.0badf00d.tmp`), 'half a file');
    const live = join(dir, `.idem.prom.${process.ppid}.c0ffee00.tmp`);
    writeFileSync(live, 'a write going on');
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'untouched');
    writeFileAtomic(path, 'idem_up 1\n');
    expect(readFileSync(path, 'utf8')).toBe('idem_up 1\n');
    expect(readdirSync(dir).sort()).toEqual(
      [`.idem.prom.${process.ppid}.c0ffee00.tmp`, 'idem.prom', 'victim'].sort(),
    );
    expect(readFileSync(victim, 'utf8')).toBe('untouched');
    expect(existsSync(live)).toBe(true);
  });
});
