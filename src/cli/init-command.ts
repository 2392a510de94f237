import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { IDEM_HOME } from '../runner/version.ts';
import { EXIT } from './exit-codes.ts';
import { stdout } from './output.ts';

/**
 * A tsconfig.json for a folder of tasks anywhere on disk: `import … from 'idem'`
 * resolves to this installation's declarations, so an editor shows idem's types
 * and `tsc -p <dir>` checks the tasks (tasks run with tsx; tsc only checks).
 */
export function taskTsconfig(home: string = IDEM_HOME): Record<string, unknown> {
  const nodeTypes = join(home, 'node_modules', '@types');
  const withNode = existsSync(join(nodeTypes, 'node'));
  return {
    compilerOptions: {
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      lib: ['ES2023'],
      strict: true,
      noUncheckedIndexedAccess: true,
      allowImportingTsExtensions: true,
      noEmit: true,
      skipLibCheck: true,
      ...(withNode ? { types: ['node'], typeRoots: [nodeTypes] } : {}),
      paths: {
        idem: [join(home, 'dist', 'index.d.ts')],
        'idem/testing': [join(home, 'dist', 'testing.d.ts')],
      },
    },
    include: ['**/*.ts'],
  };
}

const EXAMPLE_TASK = `import { csv, defineTask, fs } from 'idem';

type Person = { login: string; name: string };

/** An example: one greeting file per person in hello.csv, under out/. */
export default defineTask({
  name: 'hello',
  source: csv('hello.csv', { fields: ['login', 'name'] }),
  key: 'login',
  parse: (raw): Person => raw,
  validate: (p) => (/^[a-z][a-z0-9-]*$/.test(p.login) ? undefined : \`login "\${p.login}" is not a valid name\`),
  connect: (setup) => ({ fs: fs.root(\`\${setup.taskDir}/out\`) }),
  steps: (p) => [fs.ensureFile(\`\${p.login}.txt\`, \`Hello \${p.name}\\n\`)],
});
`;

const EXAMPLE_CSV = 'login,name\nada,Ada Lovelace\ngrace,Grace Hopper\n';

/**
 * `idem init <dir>`: a folder for tasks outside idem's own tree, with a
 * tsconfig.json (editor types, `tsc` checks) and an example task. Existing
 * files are left alone.
 */
export async function initCommand(dirArg: string): Promise<number> {
  const dir = resolve(dirArg);
  mkdirSync(dir, { recursive: true });
  const files: [string, string][] = [
    ['tsconfig.json', `${JSON.stringify(taskTsconfig(), null, 2)}\n`],
    ['hello.ts', EXAMPLE_TASK],
    ['hello.csv', EXAMPLE_CSV],
  ];
  const lines: string[] = [];
  for (const [name, text] of files) {
    const path = join(dir, name);
    if (existsSync(path)) {
      lines.push(`kept    ${path} (it exists)`);
      continue;
    }
    writeFileSync(path, text);
    lines.push(`wrote   ${path}`);
  }
  const tsc = join(IDEM_HOME, 'node_modules', '.bin', 'tsc');
  const shown = relative(process.cwd(), dir) || '.';
  lines.push(
    '',
    'next:',
    `  idem run ${join(shown, 'hello.ts')} --dry-run     # the example's plan`,
    `  ${existsSync(tsc) ? tsc : 'npx -p typescript tsc'} -p ${shown}   # type-check the tasks in ${shown}`,
  );
  if (!('types' in (taskTsconfig().compilerOptions as object)))
    lines.push(`  npm install --save-dev @types/node   # in ${shown}, for tasks that import node: modules`);
  stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

export function registerInit(program: Command, action: (code: Promise<number>) => void): void {
  program
    .command('init')
    .description("a folder for tasks: a tsconfig.json pointing at idem's types, and an example task")
    .argument('<dir>', 'the folder (created if missing); existing files are kept')
    .addHelpText(
      'after',
      `
Examples:
  $ idem init /etc/idem/tasks
  $ tsc -p /etc/idem/tasks        # type-checks every task there against idem's API`,
    )
    .action((dir: string) => action(initCommand(dir)));
}
