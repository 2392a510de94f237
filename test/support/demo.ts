/**
 * The embedded demo (tasks/onboard-accounts.ts) as a test fixture: the built CLI
 * run with execa, the way cron would, with its demo folder and state in a temp dir.
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAULTY_BIN, idem, ndjson, ROOT, tempDir } from './cli.ts';

export const TASK = 'tasks/onboard-accounts.ts';
export const ACCOUNTS = readFileSync(join(ROOT, 'fixtures/accounts.csv'), 'utf8');
export const LOGINS = ACCOUNTS.trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split(',')[1] as string);
export const STEPS = ['account', 'home', 'settings', 'access', 'welcome-mail'];

export function requireBuild(): void {
  if (!existsSync(join(ROOT, 'dist/connectors/fs/index.js'))) {
    throw new Error('the demo tests run the built CLI: run `npm run build` first');
  }
}

export function demo() {
  const dir = tempDir('idem-demo-');
  const demoDir = join(dir, 'demo');
  const state = join(dir, 'state');
  const env = { IDEM_DEMO_DIR: demoDir };
  const run = (args: string[] = [], more: Record<string, string> = {}) =>
    idem(['run', TASK, '--state-dir', state, '--json', ...args], {
      env: { ...env, ...more },
      ...(more.IDEM_CRASH_AT ? { bin: FAULTY_BIN } : {}),
    });
  const summary = (stdout: unknown) =>
    ndjson(stdout).find((e) => e.type === 'summary') as Record<string, any>;
  const records = (stdout: unknown) => ndjson(stdout).filter((e) => e.type === 'record');
  /** Mails in the outbox per login. */
  const mails = () => {
    const outbox = join(demoDir, 'outbox');
    const files = existsSync(outbox) ? readdirSync(outbox) : [];
    const count = new Map<string, number>();
    for (const f of files) {
      const login = /^\d+-[0-9a-f]+-(.+)\.eml$/.exec(f)?.[1] ?? `?${f}`;
      count.set(login, (count.get(login) ?? 0) + 1);
    }
    return { total: files.length, count };
  };
  return { dir, demoDir, state, env, run, summary, records, mails };
}

/** Every entry under `dir` with its inode, mtime and size. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      out[p] = `ino=${st.ino} mtime=${st.mtimeMs} size=${st.size} mode=${st.mode.toString(8)}`;
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}
