/**
 * A task whose `connect` fails with a message holding a declared secret: the
 * message idem prints (stderr, and the --log-file) shows `<secret>`, never the
 * secret, however the error is wrapped.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { idem, tempDir } from '../support/cli.ts';

const TOKEN = 'Canary-connect-4b1e77';

const TASK = `import { csv, defineTask } from 'idem';

export default defineTask({
  name: 'leaky-connect',
  source: csv('people.csv', { fields: ['login'] }),
  key: 'login',
  connect: (setup) => {
    const token = setup.readSecret({ env: 'API_TOKEN' });
    throw new Error('the API refused the token ' + token, { cause: new Error('401 for ' + token) });
  },
  steps: [{ name: 'noop', check: () => undefined, apply() {} }],
});
`;

it('a connect failure naming a declared secret prints it redacted (stderr and the log file)', async () => {
  const dir = tempDir('idem-connect-redaction-');
  const task = join(dir, 'leaky.ts');
  writeFileSync(task, TASK);
  writeFileSync(join(dir, 'people.csv'), 'login\nada\n');
  const log = join(dir, 'run.log');
  const r = await idem(['run', task, '--state-dir', join(dir, 'state'), '--log-file', log], {
    env: { API_TOKEN: TOKEN },
    cwd: dir,
  });
  expect(r.exitCode).toBe(2);
  expect(String(r.stderr)).toContain('connect failed: the API refused the token <secret>');
  expect(String(r.stderr)).not.toContain(TOKEN);
  expect(String(r.stdout)).not.toContain(TOKEN);
  expect(readFileSync(log, 'utf8')).not.toContain(TOKEN);
});
