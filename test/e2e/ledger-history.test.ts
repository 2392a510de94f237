/**
 * `idem history <task> <key>`: the audit trail of one record across runs, from
 * the append-only history, with each retry, absorbed retry, crash, resumption,
 * in-doubt effect, resolution and supersession on its own line.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ndjson } from '../support/cli.ts';
import { kvWorld, summaryOf, TASKS } from './support/kv-world.ts';
import { expectSchema, jsonDoc } from './support/schemas.ts';

describe('idem history', () => {
  it('tells one record across five runs: a retry, a crash, in doubt, a resolution, an absorbed retry, a supersession', async () => {
    const w = kvWorld(0);
    w.write('id,value\nk1,a\nk2,b\n');
    const run = (args: string[], env: Record<string, string> = {}) =>
      w.run(['--concurrency', '1', ...args], env, TASKS.notify);

    // Night 1: k1 is retried once, its mail goes out, and the process dies before the mail is recorded done.
    const crashed = await w.runFaulty(
      ['--concurrency', '1'],
      {
        KV_FAULT: 'transient:k1',
        IDEM_CRASH_AT: 'effect-done:notify',
      },
      TASKS.notify,
    );
    expect(crashed.signal).toBe('SIGKILL');
    expect(readFileSync(w.env.KV_OUTBOX, 'utf8')).toBe('k1\n');
    const night1 = w.ledger((db) => (db.prepare('SELECT id FROM runs').get() as { id: string }).id);

    // Night 2: --resume records night 1 crashed, continues it: k1 is in doubt, never mailed twice.
    const resumed = await run(['--resume', '--json']);
    expect(resumed.exitCode).toBe(3);
    expect(summaryOf(resumed.stdout)).toMatchObject({
      runId: night1,
      resumed: true,
      counts: { 'in-doubt': 1 },
    });
    const doubts = await w.cmd(['doubts', 'kv-notify', '--json']);
    expect(doubts.exitCode).toBe(3);
    const lines = ndjson(doubts.stdout);
    for (const line of lines) expectSchema('doubts', line);
    expect(lines).toEqual([
      expect.objectContaining({ type: 'in-doubt', key: 'k1', effect: 'notify', runId: night1 }),
    ]);
    // The on-call person checks the outbox, and settles it.
    const settle = await w.cmd(['resolve', 'kv-notify', 'k1', '--effect', 'notify', '--done']);
    expect(settle.exitCode, String(settle.stderr)).toBe(0);

    // Night 3: a new value for k1; the write lands but the reply is lost: the retry finds it done.
    w.write('id,value\nk1,a2\nk2,b\n');
    const absorbed = await run(['--json'], { KV_FAULT: 'absorbed:k1' });
    expect(absorbed.exitCode).toBe(0);
    const night3 = summaryOf(absorbed.stdout).runId;

    // Night 4 aborts on k1 (breaker 1); night 5's export differs, so --resume supersedes night 4.
    w.write('id,value\nk1,a3\nk2,b\n');
    const aborted = await run(['--json', '--breaker', '1'], { KV_FAULT: 'permanent:k1' });
    expect(aborted.exitCode).toBe(4);
    const night4 = summaryOf(aborted.stdout).runId;
    w.write('id,value\nk1,a4\nk2,b\n');
    const night5run = await run(['--resume', '--json']);
    expect(night5run.exitCode).toBe(0);
    const night5 = summaryOf(night5run.stdout).runId;
    expect(summaryOf(night5run.stdout).supersedes).toBe(night4);
    expect(readFileSync(w.env.KV_OUTBOX, 'utf8')).toBe('k1\nk2\n');

    const history = await w.cmd(['history', 'kv-notify', 'k1']);
    expect(history.exitCode, String(history.stderr)).toBe(0);
    const trail = String(history.stdout).split('\n');
    const T = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d [+-]\\d\\d:\\d\\d';
    const at = (run: string, what: string) => new RegExp(`^${T} {2}${run} {2}${what}$`);
    const expected = [
      // The check's retry in the plan phase; the apply after the gate is its own first attempt.
      at(night1, 'retry kv\\.put: attempt 1 failed: transient: target busy for k1'),
      at(night1, 'apply kv\\.put \\(attempt 1\\): \\+value: a'),
      at(night1, 'apply notify \\(attempt 1\\): \\+once:notify'),
      at(night1, 'once notify: intent recorded, about to run it'),
      at(
        night1,
        'run crashed: the process \\(pid \\d+ on \\S+\\) stopped without finishing the run; resume with --resume',
      ),
      at(night1, 'run resumed: pid \\d+ on \\S+'),
      at(night1, 'done: in-doubt'),
      at(night1, 'once notify: resolved: done by \\S+@\\S+'),
      at(night3, 'apply kv\\.put \\(attempt 1\\): ~value: a -> a2'),
      at(night3, 'retry kv\\.put: attempt 1 failed: ambiguous: connection closed before the reply for k1'),
      at(night3, 'absorbed kv\\.put \\(attempt 2\\): the retry found the work already done'),
      at(night3, 'done: ok \\(absorbed\\)'),
      at(
        night4,
        'failed kv\\.put \\(attempt 1\\): permanent: step kv\\.put: no write access to kv \\(key k1\\)',
      ),
      at(night4, 'done: failed'),
      at(night4, `run superseded: superseded by run ${night5}: the input changed before this run finished`),
      at(night5, 'apply kv\\.put \\(attempt 1\\): ~value: a2 -> a4'),
      at(night5, 'done: changed'),
    ];
    expect(trail.slice(0, -1), String(history.stdout)).toHaveLength(expected.length);
    for (const [i, re] of expected.entries()) expect(trail[i]).toMatch(re);
    expect(trail.at(-1)).toMatch(/^17 line\(s\) over 4 run\(s\) for k1 in task kv-notify · ledger /);

    const json = jsonDoc('history', (await w.cmd(['history', 'kv-notify', 'k1', '--json'])).stdout);
    expect(json.events.map((e: { kind: string }) => e.kind)).toEqual([
      'retry',
      'apply',
      'apply',
      'effect-intent',
      'crashed',
      'resumed',
      'done',
      'resolved',
      'apply',
      'retry',
      'absorbed',
      'done',
      'failed',
      'done',
      'superseded',
      'apply',
      'done',
    ]);
    expect(json.events.find((e: { kind: string }) => e.kind === 'crashed')).toMatchObject({
      key: null,
      step: null,
    });
    expect(json.events.filter((e: { key: string | null }) => e.key === 'k2')).toEqual([]);
    const none = jsonDoc(
      'history',
      (await w.cmd(['history', 'kv-notify', 'k1', '--since', '2999-01-01', '--json'])).stdout,
    );
    expect(none.events).toEqual([]);
    const week = jsonDoc(
      'history',
      (await w.cmd(['history', 'kv-notify', 'k1', '--since', '7d', '--json'])).stdout,
    );
    expect(week.events).toHaveLength(17);
  });
});
