/**
 * `idem run … | head`: a real shell pipe whose reader exits early. The run
 * used to die of an unhandled EPIPE with the run left `running`; now it stops
 * as on a first SIGINT: in-flight records finish, the run is recorded
 * interrupted, the lock is released, exit 141; --resume finishes the job.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../support/cli.ts';
import { kvWorld, summaryOf, TASKS } from './support/kv-world.ts';

/** Runs `idem run <args> | head -n <n>` in bash; idem's exit code comes back on stderr. */
function throughHead(w: ReturnType<typeof kvWorld>, args: string[], lines: number) {
  const command = `"${process.execPath}" "${BIN}" run ${TASKS.kv} --state-dir "${w.state}" ${args.join(' ')} | head -n ${lines}; echo "idem-exit=\${PIPESTATUS[0]}" >&2`;
  return execa('bash', ['-c', command], {
    cwd: ROOT,
    reject: false,
    env: { ...w.env, KV_SLOW_MS: '2', NO_COLOR: '1' },
  });
}

describe('a closed standard output', () => {
  for (const json of [false, true]) {
    it(`stops the run cleanly (interrupted, exit 141, lock released); --resume completes it${json ? ' (--json)' : ''}`, async () => {
      const w = kvWorld(2000);
      const r = await throughHead(w, ['--concurrency', '2', ...(json ? ['--json'] : [])], 2);
      expect(String(r.stdout).split('\n')).toHaveLength(2);
      expect(r.stderr).toContain('idem-exit=141');
      expect(r.stderr).toContain(
        'idem: standard output was closed (its reader went away): no new records; letting in-flight records finish; the run is recorded interrupted and --resume continues it',
      );
      expect(r.stderr).not.toMatch(/EPIPE|internal error|Unhandled|at .*\.js:\d+/);
      const run = w.ledger((db) => db.prepare('SELECT id, status, message FROM runs').get()) as Record<
        string,
        string
      >;
      expect(run.status).toBe('interrupted');
      expect(run.message).toMatch(/records not processed; resume with --resume$/);

      const resumed = await w.run(['--resume', '--json']);
      expect(resumed.exitCode, String(resumed.stderr)).toBe(0);
      expect(summaryOf(resumed.stdout)).toMatchObject({ runId: run.id, resumed: true, status: 'succeeded' });
      const applied = w.ledger((db) =>
        db.prepare('SELECT count(*) AS n, count(DISTINCT slot) AS d FROM results').get(),
      );
      expect(applied).toEqual({ n: 2000, d: 2000 });
    });
  }
});
