/**
 * What a task's author sees: a bug in the task points at the task's own file
 * and line; a template mistake shows as a text diff in the dry run; `idem init`
 * gives a folder of tasks outside the repo editor types and tsc checks.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { idem, ndjson, ROOT, tempDir } from '../support/cli.ts';
import { jsonDoc } from './support/schemas.ts';

const BUGGY = `import { csv, defineTask } from 'idem';

type Person = { login: string; manager?: { name: string } };

export default defineTask({
  name: 'buggy',
  source: csv('people.csv', { fields: ['login'] }),
  key: 'login',
  parse: (raw): Person => raw,
  steps: [
    {
      name: 'greet-manager',
      check(p: Person) {
        const name = (p.manager as { name: string }).name.toUpperCase();
        return { changes: [{ op: '+', field: 'greeting', to: name }] };
      },
      apply() {},
    },
  ],
});
`;

describe('a bug in a task', () => {
  it("names the task file's line in the record's message, and the stack with -v (live and in idem show)", async () => {
    const dir = tempDir('idem-buggy-');
    const task = join(dir, 'buggy.ts');
    writeFileSync(task, BUGGY);
    writeFileSync(join(dir, 'people.csv'), 'login\nada\n');
    const line = BUGGY.split('\n').findIndex((l) => l.includes('.name.toUpperCase()')) + 1;
    const at = new RegExp(`\\(at ${task.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:\\d+\\)$`, 'm');

    const r = await idem(['run', task], { cwd: tempDir() });
    expect(r.exitCode).toBe(3);
    const message = String(r.stdout).split('\n')[1] as string;
    expect(message).toMatch(
      /^ {4}permanent, not retried: step greet-manager: Cannot read properties of undefined \(reading 'name'\) \(at /,
    );
    expect(message).toMatch(at);
    expect(r.stdout).not.toMatch(/^\s+at /m);

    const verbose = await idem(['run', task, '-v'], { cwd: tempDir() });
    expect(verbose.stdout).toMatch(at);
    expect(verbose.stdout).toMatch(
      new RegExp(`^ {6}at .*${task.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:\\d+\\)?$`, 'm'),
    );

    const json = await idem(['run', task, '--json'], { cwd: tempDir() });
    const record = ndjson(json.stdout).find((e) => e.type === 'record');
    expect(record?.error.stack).toMatch(new RegExp(`buggy\\.ts:${line}:`));

    // idem show reads the stack back from the ledger and points at the same line.
    const shown = await idem(['show', 'last', '--task', task, '-v'], { cwd: tempDir() });
    expect(shown.exitCode, String(shown.stderr)).toBe(0);
    expect(shown.stdout).toMatch(at);
    expect(shown.stdout).toMatch(/^ {6}at /m);
    const shownJson = jsonDoc(
      'show',
      (await idem(['show', 'last', '--task', task, '--json'], { cwd: tempDir() })).stdout,
    );
    expect(shownJson.records[0].error.stack).toMatch(/^at /);
  });
});

const TEMPLATED = `import { csv, defineTask, fs } from 'idem';

export default defineTask({
  name: 'motd',
  source: csv('people.csv', { fields: ['login', 'shell'] }),
  key: 'login',
  connect: (setup) => {
    setup.secret(setup.env.MOTD_TOKEN ?? 'unset');
    return { fs: fs.root(\`\${setup.taskDir}/out\`) };
  },
  steps: (p) => [
    fs.ensureFile(
      \`\${p.login}.conf\`,
      { template: process.env.MOTD_TEMPLATE ?? '', values: { ...p, token: process.env.MOTD_TOKEN ?? '' } },
    ),
  ],
});
`;

describe('fs.ensureFile in a dry run', () => {
  it('shows the text diff of a template change, with declared secrets redacted', async () => {
    const dir = tempDir('idem-motd-');
    const task = join(dir, 'motd.ts');
    writeFileSync(task, TEMPLATED);
    writeFileSync(join(dir, 'people.csv'), 'login,shell\nada,/bin/bash\n');
    const env = {
      MOTD_TOKEN: 'tok-31337-secret',
      MOTD_TEMPLATE: 'user = {{ login }}\nshell = {{ shell }}\ntoken = old\n',
    };
    expect((await idem(['run', task], { env })).exitCode).toBe(0);
    const mistake = {
      ...env,
      MOTD_TEMPLATE: 'user = {{ login }}\nshell = /bin/{{ login }}\ntoken = {{ token }}\n',
    };
    const plan = await idem(['run', task, '--dry-run'], { env: mistake });
    expect(plan.exitCode, String(plan.stderr)).toBe(0);
    const lines = String(plan.stdout).split('\n');
    expect(lines.slice(0, 8)).toEqual([
      'changed* ada (line 2)',
      expect.stringMatching(
        /^ {4}file ada\.conf: ~content: sha256:[0-9a-f]{12} \(41 bytes\) -> sha256:[0-9a-f]{12} \(\d+ bytes\)$/,
      ),
      '      @@ -1,3 +1,3 @@',
      '       user = ada',
      '      -shell = /bin/bash',
      '      -token = old',
      '      +shell = /bin/ada',
      '      +token = <secret>',
    ]);
    expect(plan.stdout).not.toContain('tok-31337-secret');
    expect(readFileSync(join(dir, 'out', 'ada.conf'), 'utf8')).toBe(
      'user = ada\nshell = /bin/bash\ntoken = old\n',
    );
  });
});

describe('idem init: type-checking tasks outside the repo', () => {
  it("writes a tsconfig.json and an example task; tsc checks the folder against idem's types, and catches a mistake", async () => {
    // A folder that is not under any tsconfig of idem's (its own is the only one tsc reads).
    const dir = join(tempDir('idem-init-'), 'tasks');
    const init = await idem(['init', dir]);
    expect(init.exitCode, String(init.stderr)).toBe(0);
    expect(init.stdout).toContain(`wrote   ${join(dir, 'tsconfig.json')}`);
    expect(init.stdout).toContain(`wrote   ${join(dir, 'hello.ts')}`);
    const config = JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8'));
    expect(config.compilerOptions.paths.idem).toEqual([join(ROOT, 'dist', 'index.d.ts')]);

    const tsc = (cwd: string) =>
      execa(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', dir, '--pretty', 'false'], {
        cwd,
        reject: false,
      });
    const clean = await tsc(tempDir());
    expect(clean.exitCode, `${clean.stdout}\n${clean.stderr}`).toBe(0);

    const run = await idem(['run', join(dir, 'hello.ts')], { cwd: tempDir() });
    expect(run.exitCode, String(run.stderr)).toBe(0);
    expect(run.stdout).toContain('changed=2 ok=0');
    expect(readFileSync(join(dir, 'out', 'ada.txt'), 'utf8')).toBe('Hello Ada Lovelace\n');

    // Mistakes a task author makes: a column the source does not read, and a step on a context the task lacks.
    writeFileSync(
      join(dir, 'broken.ts'),
      `import { csv, defineTask, fs } from 'idem';
type Person = { login: string; name: string };
export default defineTask({
  name: 'broken',
  source: csv('hello.csv', { fields: ['login', 'name'] }),
  key: 'login',
  parse: (raw): Person => raw,
  steps: (p) => [fs.ensureFile(\`\${p.login}.txt\`, \`Hello \${p.nmae}\\n\`)],
});
`,
    );
    const broken = await tsc(tempDir());
    expect(broken.exitCode).not.toBe(0);
    expect(broken.stdout).toMatch(/broken\.ts\(\d+,\d+\): error TS\d+: .*'nmae'/);
    expect(broken.stdout).toMatch(/broken\.ts\(\d+,\d+\): error TS\d+: /);
    expect(broken.stdout).not.toContain('hello.ts');

    // Run again, it keeps what is there.
    writeFileSync(join(dir, 'hello.ts'), '// mine now\n');
    const again = await idem(['init', dir]);
    expect(again.stdout).toContain(`kept    ${join(dir, 'hello.ts')} (it exists)`);
    expect(readFileSync(join(dir, 'hello.ts'), 'utf8')).toBe('// mine now\n');
  });
});
