import { describe, expect, it } from 'vitest';
import { run } from '../../../src/connectors/cmd/index.ts';
import { Redactor } from '../../../src/core/redact.ts';
import { createSetupContext } from '../../../src/runner/setup-context.ts';
import { engineFor } from '../helpers.ts';

const setupOf = (env: NodeJS.ProcessEnv) =>
  createSetupContext({
    taskDir: process.cwd(),
    stateDir: process.cwd(),
    concurrency: 1,
    env,
    redactor: new Redactor(),
    warn: () => {},
  }).setup;

/** What `env` prints in a child started by `cmd.run` with these options. */
async function childEnv(opts: { env?: Record<string, string>; passEnv?: string[] } = {}): Promise<string> {
  const engine = engineFor({}, () => [run({ command: 'env', timeout: 20_000, ...opts })]);
  const r = await engine.run([{ id: '1' }]);
  expect(r.summary.counts.changed).toBe(1);
  return r.reporter.records[0]?.notes?.join('\n') ?? '';
}

describe('secrets leave the environment (fault 10)', () => {
  it('a secret read through setup.readSecret is gone from process.env and from a child', async () => {
    const canary = `canary-env-${process.pid}-7f3a`;
    process.env.IDEM_CANARY_PASSWORD = canary;
    try {
      const setup = setupOf(process.env);
      expect(setup.readSecret({ env: 'IDEM_CANARY_PASSWORD' })).toBe(canary);
      expect(process.env.IDEM_CANARY_PASSWORD).toBeUndefined();
      // A second read in the same process still gets it (a second connection, a second run).
      expect(setupOf(process.env).readSecret({ env: 'IDEM_CANARY_PASSWORD' })).toBe(canary);
      expect(await childEnv()).not.toContain('canary-env');
    } finally {
      delete process.env.IDEM_CANARY_PASSWORD;
    }
  });

  it('a cmd child gets the allow-list and what the step passes, not the rest of idem’s environment', async () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'canary-undeclared-91c2';
    process.env.IDEM_PASSED_ON = 'asked-for';
    try {
      const seen = await childEnv({ env: { GREETING: 'hello' }, passEnv: ['IDEM_PASSED_ON'] });
      expect(seen).not.toContain('canary-undeclared');
      expect(seen).toContain('GREETING=hello');
      expect(seen).toContain('IDEM_PASSED_ON=asked-for');
      expect(seen).toContain(`PATH=${process.env.PATH}`);
      const names = seen
        .split('\n')
        .slice(1)
        .map((l) => l.split('=')[0])
        .filter(Boolean);
      const allowed = /^(PATH|HOME|LANG|LC_\w+|TZ|USER|LOGNAME|SHELL|TMPDIR|GREETING|IDEM_PASSED_ON)$/;
      expect(names.filter((n) => !allowed.test(n as string))).toEqual([]);
    } finally {
      delete process.env.AWS_SECRET_ACCESS_KEY;
      delete process.env.IDEM_PASSED_ON;
    }
  });
});
