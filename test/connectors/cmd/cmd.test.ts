import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { showCommand } from '../../../src/connectors/cmd/exec.ts';
import { run } from '../../../src/connectors/cmd/index.ts';
import { formatChange } from '../../../src/core/diff.ts';
import { Redactor } from '../../../src/core/redact.ts';
import { makeEnv } from '../../support/step-env.ts';
import { engineFor, tempDir } from '../helpers.ts';

const NODE = process.execPath;
let dir: string;
let cleanup: () => void;
let log: string;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('cmd'));
  log = join(dir, 'runs.log');
});
afterEach(() => cleanup());

/** A node script that appends one line per execution to the run log, then runs `body`. */
const script = (body = '') =>
  `require('fs').appendFileSync(${JSON.stringify(log)}, 'ran\\n'); const a = process.argv.slice(1); ${body}`;
const runs = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0);

describe('cmd.run with real processes', () => {
  it('passes shell metacharacters through verbatim and never executes them', async () => {
    const sentinel = join(dir, 'SENTINEL');
    const values = [
      `; touch ${sentinel}`,
      `$(touch ${sentinel})`,
      `\`touch ${sentinel}\``,
      `x & touch ${sentinel}`,
      `x | touch ${sentinel}`,
      `x && touch ${sentinel} #`,
      `> ${sentinel}`,
      '--opt',
      `--eval=require('fs').writeFileSync(${JSON.stringify(sentinel)}, 'x')`,
      '*',
      'it\'s "quoted"',
    ];
    const out = join(dir, 'argv.json');
    const engine = engineFor({}, (r) => [
      run({
        command: NODE,
        args: [
          '-e',
          script(`require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(a))`),
          '--',
          r.value ?? '',
        ],
        timeout: 20_000,
      }),
    ]);
    for (const value of values) {
      const result = await engine.run([{ id: '1', value }]);
      expect(result.summary.counts.changed).toBe(1);
      expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual([value]);
      expect(existsSync(sentinel)).toBe(false);
    }
    // And a real shell utility gets them as one argument each, too.
    const echo = engineFor({}, () => [
      run({ command: 'printf', args: ['%s\\n', ...values], timeout: 20_000 }),
    ]);
    const printed = await echo.run([{ id: '1' }]);
    expect(printed.reporter.records[0]?.notes?.[0]).toContain(`\n${values.join('\n')}`);
    expect(existsSync(sentinel)).toBe(false);
  });

  it('with no guard it runs and is honestly changed on every run', async () => {
    const step = run({ command: NODE, args: ['-e', script()], timeout: 20_000 });
    expect(step.verify).toBe(false);
    const engine = engineFor({}, () => [step]);
    for (let i = 1; i <= 3; i++) {
      const r = await engine.run([{ id: '1' }]);
      expect(r.summary.counts.changed).toBe(1);
      expect(runs()).toBe(i);
    }
  });

  it('captures the output into the outcome, with declared secrets redacted', async () => {
    const redactor = new Redactor();
    redactor.add('hunter2');
    const engine = engineFor({}, () => [
      run({
        command: NODE,
        args: ['-e', "console.log('token is ' + process.env.TOKEN); console.error('warned')"],
        env: { TOKEN: 'hunter2' },
        timeout: 20_000,
      }),
    ]);
    const r = await engine.run([{ id: '1' }], { redactor });
    const note = r.reporter.records[0]?.notes?.join('\n') ?? '';
    expect(note).toContain('token is <secret>');
    expect(note).toContain('warned');
    expect(note).not.toContain('hunter2');
  });

  it('a creates guard: runs once, then the rerun is ok and runs nothing; a dry run runs nothing', async () => {
    const target = join(dir, 'home');
    const step = () =>
      run({
        command: NODE,
        args: ['-e', script(`require('fs').mkdirSync(a[0])`), '--', target],
        creates: target,
        timeout: 20_000,
      });
    const engine = engineFor({}, () => [step()]);
    const dry = await engine.run([{ id: '1' }], { dryRun: true });
    expect(dry.summary.counts.changed).toBe(1);
    expect(dry.reporter.records[0]?.diff[0]?.changes.map(formatChange)[0]).toMatch(/^\+run: .*node -e/);
    expect(runs()).toBe(0);
    expect((await engine.run([{ id: '1' }])).summary.counts.changed).toBe(1);
    expect((await engine.run([{ id: '1' }])).summary.counts).toMatchObject({ ok: 1, changed: 0 });
    expect(runs()).toBe(1);
  });

  it('a removes guard runs only while the path exists', async () => {
    const target = join(dir, 'stale.lock');
    writeFileSync(target, '');
    const engine = engineFor({}, () => [
      run({
        command: NODE,
        args: ['-e', script(`require('fs').rmSync(a[0])`), '--', target],
        removes: target,
        timeout: 20_000,
      }),
    ]);
    expect((await engine.run([{ id: '1' }])).summary.counts.changed).toBe(1);
    expect((await engine.run([{ id: '1' }])).summary.counts.ok).toBe(1);
    expect(runs()).toBe(1);
  });

  it('a check command guards: exit 0 means done, another code means work is needed', async () => {
    const flag = join(dir, 'flag');
    const check = {
      command: NODE,
      args: ['-e', 'process.exit(require("fs").existsSync(process.argv[1]) ? 0 : 1)', flag],
    };
    const engine = engineFor({}, () => [
      run({
        command: NODE,
        args: ['-e', script(`require('fs').writeFileSync(a[0], '')`), flag],
        check,
        timeout: 20_000,
      }),
    ]);
    expect((await engine.run([{ id: '1' }])).summary.counts.changed).toBe(1);
    expect((await engine.run([{ id: '1' }])).summary.counts.ok).toBe(1);
    expect(runs()).toBe(1);

    const strict = run({
      command: NODE,
      args: ['-e', ''],
      check: { command: NODE, args: ['-e', 'process.exit(7)'], needed: [1] },
      timeout: 20_000,
    });
    await expect(strict.check({}, {}, makeEnv())).rejects.toThrow(
      /exited 7, which is neither "done" \(0\) nor "needed" \(1\)/,
    );
  });

  it('a guarded command that does not do its work fails as not converged', async () => {
    const engine = engineFor({}, () => [
      run({ command: NODE, args: ['-e', ''], creates: join(dir, 'never'), timeout: 20_000 }),
    ]);
    const r = await engine.run([{ id: '1' }]);
    expect(r.reporter.records[0]?.outcome).toBe('failed');
    expect(r.reporter.records[0]?.error?.message).toMatch(/did not converge/);
  });

  it('a non-zero exit is permanent (not retried); listed exit codes are transient and retried', async () => {
    const failing = engineFor({}, () => [
      run({
        command: NODE,
        args: ['-e', script("console.error('no rights'); process.exit(3)")],
        timeout: 20_000,
      }),
    ]);
    const r = await failing.run([{ id: '1' }]);
    expect(r.reporter.records[0]).toMatchObject({ outcome: 'failed', attempts: 1 });
    expect(r.reporter.records[0]?.error?.message).toMatch(/exited 3: no rights/);
    expect(r.reporter.records[0]?.error?.class).toBe('permanent');
    expect(runs()).toBe(1);

    const counter = join(dir, 'counter');
    const busyOnce = engineFor({}, () => [
      run({
        command: NODE,
        args: [
          '-e',
          script(
            `const fs = require('fs'); if (!fs.existsSync(a[0])) { fs.writeFileSync(a[0], ''); process.exit(75); }`,
          ),
          counter,
        ],
        transientExitCodes: [75],
        timeout: 20_000,
      }),
    ]);
    const r2 = await busyOnce.run([{ id: '1' }]);
    expect(r2.reporter.records[0]).toMatchObject({ outcome: 'changed', attempts: 2 });
    expect(runs()).toBe(3);
  });

  it('a program that cannot start is a permanent failure', async () => {
    const engine = engineFor({}, () => [run({ command: join(dir, 'no-such-program'), timeout: 20_000 })]);
    const r = await engine.run([{ id: '1' }]);
    expect(r.reporter.records[0]).toMatchObject({ outcome: 'failed', attempts: 1 });
    expect(r.reporter.records[0]?.error?.message).toMatch(/could not be run.*ENOENT/);
  });

  it('a timeout is ambiguous: the command may have done part of its work', async () => {
    const engine = engineFor({}, () => [
      run({ command: NODE, args: ['-e', 'setTimeout(() => {}, 60000)'], timeout: 300 }),
    ]);
    const r = await engine.run([{ id: '1' }], { retry: { attempts: 1 } });
    expect(r.reporter.records[0]?.outcome).toBe('failed');
    expect(r.reporter.records[0]?.error?.class).toBe('ambiguous');
    expect(r.reporter.records[0]?.error?.message).toMatch(/timed out after 300 ms/);
  });

  it('shows command lines quoted for reading', () => {
    expect(showCommand({ command: 'useradd', args: ['-c', 'Ada Lovelace', '--', "o'hara"] })).toBe(
      `useradd -c 'Ada Lovelace' -- 'o'\\''hara'`,
    );
  });
});
