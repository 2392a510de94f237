import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { idem, ROOT, tempDir } from './support/cli.ts';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The repository's compiler options, as a task author's editor would apply them. */
const COMPILER = ts.parseJsonConfigFileContent(
  ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile).config,
  ts.sys,
  ROOT,
).options;

/** The fenced block of `lang` that follows `after` in the README. */
function block(after: string, lang: string): string {
  const start = README.indexOf(after);
  if (start < 0) throw new Error(`README has no "${after}"`);
  const open = README.indexOf(`\`\`\`${lang}\n`, start);
  const close = README.indexOf('\n```', open + 1);
  return README.slice(open + lang.length + 4, close + 1);
}

describe('README', () => {
  it('keeps the two set-up commands literally', () => {
    expect(README).toContain('```sh\nnpm ci && npm run demo\n```');
    expect(README).toContain('```sh\nnpm ci && npm test\n```');
    expect(readFileSync(join(ROOT, '.ci/run'), 'utf8')).toContain('\nnpm ci && npm test\n');
  });

  it('documents every exit code the CLI uses', async () => {
    const { EXIT } = await import('../src/cli/exit-codes.ts');
    for (const code of Object.values(EXIT))
      expect(README).toMatch(new RegExp(`\\| ${code}( / \\d+)? \\||\\| \\d+ / ${code} \\|`));
  });

  it('its task example runs as written: changes on the first run, nothing on the second', async () => {
    const dir = tempDir('idem-readme-');
    writeFileSync(join(dir, 'greet.ts'), block('<!-- readme-example: tasks/greet.ts -->', 'ts'));
    writeFileSync(join(dir, 'people.csv'), block('With `people.csv` beside it', 'csv'));
    const first = await idem(['run', join(dir, 'greet.ts')], { cwd: tempDir() });
    expect(first.stderr).toContain('2 records');
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toContain('changed=2 ok=0');
    expect(readFileSync(join(dir, 'out/teams/eng/ada.txt'), 'utf8')).toBe('Hello Ada Lovelace\n');
    expect(statSync(join(dir, 'out/teams/eng/ada.txt')).mode & 0o777).toBe(0o640);
    expect(readFileSync(join(dir, 'out/notes/grace.txt'), 'utf8')).toBe('welcome, Grace Hopper\n');
    const second = await idem(['run', join(dir, 'greet.ts')], { cwd: tempDir() });
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toContain('changed=0 ok=2');
  });

  it('its examples type-check as a task author would write them', () => {
    const dir = tempDir('idem-readme-');
    writeFileSync(join(dir, 'greet.ts'), block('<!-- readme-example: tasks/greet.ts -->', 'ts'));
    writeFileSync(join(dir, 'greet.test.ts'), block('<!-- readme-example: tasks/greet.test.ts -->', 'ts'));
    const program = ts.createProgram([join(dir, 'greet.ts'), join(dir, 'greet.test.ts')], {
      ...COMPILER,
      noEmit: true,
    });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(problems).toEqual([]);
  });

  it('its idem/testing example passes under vitest, as a task author would run it', async () => {
    const dir = tempDir('idem-readme-');
    writeFileSync(join(dir, 'greet.ts'), block('<!-- readme-example: tasks/greet.ts -->', 'ts'));
    writeFileSync(join(dir, 'greet.test.ts'), block('<!-- readme-example: tasks/greet.test.ts -->', 'ts'));
    // The author's own (empty) vitest config, not this repository's.
    writeFileSync(join(dir, 'vitest.config.mjs'), 'export default { test: {} };\n');
    const r = await execa(
      join(ROOT, 'node_modules/.bin/vitest'),
      ['run', '--root', dir, '--reporter', 'dot'],
      {
        cwd: dir,
        reject: false,
        env: { CI: 'true' },
      },
    );
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/1 passed/);
  });
});
