/**
 * Security rows of `npm run test:chaos` (issue 9): the secret canary.
 *
 * A private slapd whose admin password is the canary; a task (tasks/secret-canary.ts)
 * that binds with it, writes an entry per record and runs a `cmd` child per record
 * that looks around while idem runs. Run twice: the password given as
 * IDEM_LDAP_PASSWORD, then as IDEM_LDAP_PASSWORD_FILE, each with --json and
 * --log-file. The canary is searched for in stdout, stderr, the NDJSON log, the
 * state dir (ledger, WAL, lock files) as the child copied it mid-run and as it is
 * after, `ps -eo args` taken mid-run, and the child's environment. Masks
 * (`<secret>`) are allowed; the canary itself must appear 0 times.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { Client } from 'ldapts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeLdap } from '../ldap/slapd-env.ts';
import { BIN, ROOT } from '../support/cli.ts';
import { Slapd } from '../support/slapd.ts';
import { tempDir } from '../support/temp.ts';
import { chaosRow, sized } from './support/table.ts';

const CANARY = 'Canary-secret-5d1e77-DoNotLeak';
const TASK = join(ROOT, 'test', 'chaos', 'tasks', 'secret-canary.ts');
const N = sized(12, 60);

/** Occurrences of the canary in a text or a file's bytes. */
function occurrences(data: string | Buffer): number {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  let n = 0;
  for (let at = bytes.indexOf(CANARY); at >= 0; at = bytes.indexOf(CANARY, at + 1)) n++;
  return n;
}

/** Every file under `dir`. */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p) : statSync(p).isFile() ? [p] : [];
  });
}

const sum = (paths: string[]) => paths.reduce((n, p) => n + occurrences(readFileSync(p)), 0);

interface Found {
  places: Record<string, number>;
  environ: number;
  peeks: number;
  /** The state files the children copied mid-run, by name (ledger.db-wal, locks/…). */
  stateFiles: string[];
}

describeLdap('secret canary (issue 9, fault 10)', () => {
  let slapd: Slapd;
  const dir = tempDir('chaos-secret-');
  const input = join(dir, 'in.csv');
  const passwordFile = join(dir, 'bind.pw');
  beforeAll(async () => {
    slapd = await Slapd.start({ adminPassword: CANARY });
    writeFileSync(input, `id\n${Array.from({ length: N }, (_, i) => i + 1).join('\n')}\n`);
    writeFileSync(passwordFile, `${CANARY}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await slapd?.destroy();
  });

  /** The entries the runs wrote, counted at slapd. */
  async function canaryEntries(): Promise<number> {
    const client = new Client({ url: slapd.url });
    try {
      await client.bind(slapd.adminDn, CANARY);
      const { searchEntries } = await client.search(slapd.peopleDn, {
        filter: '(uid=canary*)',
        attributes: ['1.1'],
      });
      return searchEntries.length;
    } finally {
      await client.unbind();
    }
  }

  /** One run with the password given `as` an env var or a file; where the canary was found. */
  async function runWith(as: 'env' | 'file'): Promise<Found> {
    const work = join(dir, as);
    const state = join(work, 'state');
    const out = join(work, 'peek');
    const log = join(work, 'run.ndjson');
    mkdirSync(work, { recursive: true });
    const { IDEM_LDAP_PASSWORD: _, ...ldapEnv } = slapd.env();
    const secretEnv =
      as === 'env' ? { IDEM_LDAP_PASSWORD: CANARY } : { IDEM_LDAP_PASSWORD_FILE: passwordFile };
    const r = await execa(
      process.execPath,
      [BIN, 'run', TASK, '--state-dir', state, '--json', '--log-file', log, '--concurrency', '4'],
      {
        reject: false,
        cwd: ROOT,
        env: { NO_COLOR: '1', ...ldapEnv, ...secretEnv, CANARY_INPUT: input, CANARY_OUT: out },
      },
    );
    expect(r.exitCode, String(r.stderr)).toBe(0);
    // The run did its work: N entries in slapd, N children that looked around.
    const peeks = readdirSync(out).filter((d) => existsSync(join(out, d, 'done')));
    const under = (name: string) => peeks.map((d) => join(out, d, name));
    const places = {
      stdout: occurrences(String(r.stdout)),
      stderr: occurrences(String(r.stderr)),
      'NDJSON log': occurrences(readFileSync(log)),
      'state dir after (ledger, WAL, locks)': sum(files(state)),
      'state dir mid-run (ledger, WAL, locks)': sum(peeks.flatMap((d) => files(join(out, d, 'state')))),
      'ps -eo args mid-run': sum(under('ps.txt')),
      "cmd child's environment": sum(under('env.txt')),
    };
    const stateFiles = [
      ...new Set(
        peeks.flatMap((d) => files(join(out, d, 'state')).map((f) => relative(join(out, d, 'state'), f))),
      ),
    ].sort();
    return { places, environ: sum(under('parent-environ')), peeks: peeks.length, stateFiles };
  }

  it('appears 0 times in output, NDJSON, ledger, WAL, locks, ps and a cmd child’s environment; /proc/PID/environ: file 0', async () => {
    const env = await runWith('env');
    const file = await runWith('file');
    const people = await canaryEntries();
    const total = (f: Found) => Object.values(f.places).reduce((a, b) => a + b, 0);
    const show = (f: Found) =>
      Object.entries(f.places)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
    chaosRow({
      test: 'secret canary (env var and file): occurrences',
      count: `2 runs × ${N} records (${people} entries in slapd), ${env.peeks + file.peeks} mid-run looks`,
      bound: '0',
      result: `env: ${total(env)} (${show(env)}); file: ${total(file)}`,
      ok: total(env) === 0 && total(file) === 0 && env.peeks === N && file.peeks === N,
    });
    chaosRow({
      test: 'secret canary: state files searched mid-run',
      count: `${env.peeks + file.peeks} copies`,
      bound: 'ledger, WAL and lock files among them',
      result: [...new Set([...env.stateFiles, ...file.stateFiles])].join(', '),
      ok:
        ['ledger.db', 'ledger.db-wal'].every((f) => env.stateFiles.includes(f)) &&
        env.stateFiles.some((f) => f.startsWith('locks/')),
    });
    chaosRow({
      test: "secret canary: idem's own /proc/PID/environ",
      count: `${env.peeks + file.peeks} reads`,
      bound: 'file canary 0',
      result: `file canary ${file.environ}; env canary ${env.environ} (the kernel keeps the start-up environment: known limit, use *_FILE)`,
      ok: file.environ === 0 && file.peeks === N,
    });
    expect(people).toBe(N);
    expect(env.peeks).toBe(N);
    expect(file.peeks).toBe(N);
    expect(env.places).toEqual(Object.fromEntries(Object.keys(env.places).map((k) => [k, 0])));
    expect(file.places).toEqual(Object.fromEntries(Object.keys(file.places).map((k) => [k, 0])));
    expect(file.environ).toBe(0);
    // The mid-run looks really saw the ledger, its WAL and the lock files (else "0" proves little).
    expect(env.stateFiles).toEqual(expect.arrayContaining(['ledger.db', 'ledger.db-wal']));
    expect(env.stateFiles.some((f) => f.startsWith('locks/'))).toBe(true);
  });
});
