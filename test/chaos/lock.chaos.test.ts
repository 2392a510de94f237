/**
 * The lock by force (issue 9, fault 5): double starts of lean contender processes and
 * of the real CLI, a holder killed or stopped, its lock file removed or damaged.
 * Figures come from the contenders' own answers and from the kv target's `applies`
 * table, never from idem's ledger.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { kvWorld, rows } from '../e2e/support/kv-world.ts';
import { ROOT, tempDir } from '../support/cli.ts';
import { until } from '../support/wait.ts';
import { chaosRow, inPool, percentile, sized } from './support/table.ts';

const CONTENDER = join(ROOT, 'test', 'lock', 'support', 'contender.mjs');

type Answer = { acquired: boolean; ms: number; holder?: { pid: number } | null; note?: string };

/** A lean contender process (test/lock/support/contender.mjs) and its answers, line by line. */
function contender(lockDir: string, task: string, rounds: number | 'go at once' = 1, fileOnly = false) {
  const args =
    rounds === 'go at once' ? ['--go'] : ['--rounds', String(rounds), ...(fileOnly ? ['--file-only'] : [])];
  const child = execa(process.execPath, [CONTENDER, lockDir, task, ...args], {
    reject: false,
    stdin: 'pipe',
  });
  const waiters: { want: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  let seen: string[] = [];
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      seen.push(line);
      for (const w of [...waiters])
        if (w.want(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
    }
  });
  const line = (want: (l: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      const old = seen.find(want);
      if (old !== undefined) return resolve(old);
      waiters.push({ want, resolve });
      void child.then((r) => reject(new Error(`contender exited (${r.exitCode}): ${r.stderr}`)));
    });
  return {
    child,
    pid: child.pid as number,
    ready: () => line((l) => l === 'ready'),
    answer: async () => JSON.parse(await line((l) => l.startsWith('{"acquired"'))) as Answer,
    /** Waits for the end of a round, and forgets its lines. */
    released: async () => {
      await line((l) => l === 'released');
      seen = [];
    },
    send: (s: string) => child.stdin?.write(`${s}\n`),
    done: async () => {
      child.stdin?.end();
      await child;
    },
  };
}

/** Applies at the kv target of the values `value<n>`, per id. */
function appliesOf(target: string, value: string): Map<string, number> {
  const db = new Database(target, { readonly: true });
  try {
    const got = db
      .prepare('SELECT id, count(*) AS n FROM applies WHERE value LIKE ? GROUP BY id')
      .all(`${value}%`) as { id: string; n: number }[];
    return new Map(got.map((r) => [r.id, r.n]));
  } finally {
    db.close();
  }
}

const ms = (n: number) => `${Math.round(n)} ms`;

/** `starts` double starts of lean contenders on the built lock, recorded as `name` and its refusal time. */
async function doubleStarts(starts: number, name: string, fileOnly: boolean): Promise<void> {
  // Pairs of processes that meet again round after round (each round a new socket and
  // a new SQLite connection): fresh processes for each start cost too long on a loaded
  // CI machine, and warm ones start closer together, which is the harder race.
  const rounds = 5;
  const dir = tempDir('idem-chaos-lock-');
  const perPair = await inPool(
    Array.from({ length: Math.ceil(starts / rounds) }, (_, p) => p),
    3,
    async (p) => {
      const lockDir = join(dir, `p${p}`);
      const a = contender(lockDir, 'kv', rounds, fileOnly);
      const b = contender(lockDir, 'kv', rounds, fileOnly);
      await Promise.all([a.ready(), b.ready()]);
      const out = [];
      for (let r = 0; r < rounds; r++) {
        a.send('go');
        b.send('go');
        const [ra, rb] = await Promise.all([a.answer(), b.answer()]);
        // The holder keeps the lock until its rival has answered: every pair really met.
        a.send('release');
        b.send('release');
        await Promise.all([a.released(), b.released()]);
        const refused = [ra, rb].filter((x) => !x.acquired);
        const winner = ra.acquired ? a.pid : rb.acquired ? b.pid : undefined;
        out.push({
          double: ra.acquired && rb.acquired,
          nobody: refused.length === 2,
          refusalMs: refused.map((x) => x.ms),
          named: refused.every((x) => winner !== undefined && x.holder?.pid === winner),
        });
      }
      await Promise.all([a.done(), b.done()]);
      return out;
    },
  );
  const results = perPair.flat();
  const double = results.filter((r) => r.double).length;
  const nobody = results.filter((r) => r.nobody).length;
  const unnamed = results.filter((r) => !r.named && !r.nobody).length;
  const times = results.flatMap((r) => r.refusalMs);
  chaosRow({
    test: name,
    count: `${results.length} starts (${perPair.length} pairs of processes x ${rounds})`,
    bound: '0 double runs, 0 nobody ran',
    result: `${double} double runs, ${nobody} nobody ran; ${unnamed} refusals not naming the holder`,
    ok: double === 0 && nobody === 0 && unnamed === 0,
  });
  const p50 = percentile(times, 50);
  const p95 = percentile(times, 95);
  chaosRow({
    test: `${name.replace(' (lock, 2 processes at once)', '')}: refusal time`,
    count: `${times.length} refusals`,
    bound: 'p95 < 2,000 ms',
    result: `p50 ${ms(p50)}, p95 ${ms(p95)}, max ${ms(Math.max(...times))}`,
    ok: p95 < 2000,
  });
  expect({ double, nobody, unnamed }).toEqual({ double: 0, nobody: 0, unnamed: 0 });
  expect(p95).toBeLessThan(2000);
}

// Concurrent: the SIGSTOP row mostly waits out its 15 s, and the rows use separate folders.
describe.concurrent('lock chaos (fault 5)', () => {
  it('double starts of lean contender processes: 0 double runs, 0 nobody ran; refusal time', () =>
    doubleStarts(sized(200, 1000), 'double starts (lock, 2 processes at once)', false));

  it('double starts with the file lock alone (no socket: macOS, containers on one volume)', () =>
    doubleStarts(sized(100, 500), 'double starts, file lock alone', true));

  it('double starts of the CLI on the kv task: 0 applied twice, 0 nobody ran (counted at the target)', async () => {
    const pairs = sized(10, 100);
    const w = kvWorld(5);
    const target = join(w.dir, 'target.db');
    const codes: number[] = [];
    let twice = 0;
    let nobody = 0;
    let met = 0;
    for (let i = 0; i < pairs; i++) {
      w.write(`id,value\n${rows(5, 1, `d${i}x`)}\n`);
      const [a, b] = await Promise.all([
        w.run(['--concurrency', '1'], { KV_SLOW_MS: '100' }),
        w.run(['--concurrency', '1'], { KV_SLOW_MS: '100' }),
      ]);
      codes.push(a.exitCode ?? -1, b.exitCode ?? -1);
      if (a.exitCode === 75 || b.exitCode === 75) met++;
      const applied = appliesOf(target, `d${i}x`);
      if ([...applied.values()].some((n) => n > 1)) twice++;
      if (applied.size !== 5) nobody++;
    }
    const other = codes.filter((c) => c !== 0 && c !== 75).length;
    chaosRow({
      test: 'double starts of the CLI',
      count: `${pairs} pairs (${met} met the lock held)`,
      bound: '0 applied twice, 0 nobody ran, the lock met at least once',
      result: `${twice} applied twice, ${nobody} nobody ran; exits: ${codes.filter((c) => c === 0).length}x0, ${codes.filter((c) => c === 75).length}x75, ${other} other`,
      ok: twice === 0 && nobody === 0 && other === 0 && met > 0,
    });
    // Pairs that never overlapped would prove nothing about the lock.
    expect({ twice, nobody, other, met: met > 0 }).toEqual({ twice: 0, nobody: 0, other: 0, met: true });
  });

  it('holder SIGKILL -> the next run starts at once', async () => {
    const kills = sized(10, 50);
    const w = kvWorld(19);
    const target = join(w.dir, 'target.db');
    const took: number[] = [];
    const codes: number[] = [];
    let incomplete = 0;
    for (let i = 0; i < kills; i++) {
      w.write(`id,value\n${rows(19, 1, `s${i}x`)}\n`);
      const first = w.run(['--concurrency', '1'], { KV_SLOW_MS: '100' });
      await until('the first run applied a record', () => appliesOf(target, `s${i}x`).size > 0).catch(
        async (err) => {
          first.kill('SIGKILL');
          const r = await first;
          throw new Error(`${err}: the first run exited ${r.exitCode}: ${r.stderr}`);
        },
      );
      first.kill('SIGKILL');
      await first;
      const t0 = Date.now();
      const next = await w.run(['--resume']);
      took.push(Date.now() - t0);
      codes.push(next.exitCode ?? -1);
      if (appliesOf(target, `s${i}x`).size !== 19) incomplete++;
    }
    const refused = codes.filter((c) => c !== 0).length;
    const p95 = percentile(took, 95);
    chaosRow({
      test: 'holder SIGKILL -> next run',
      count: `${kills} kills`,
      bound: 'every next run starts at once and completes (exit 0)',
      result: `${refused} next runs not exit 0 (${codes.filter((c) => c === 75).length} refused), ${incomplete} incomplete; start-to-exit p50 ${ms(percentile(took, 50))}, p95 ${ms(p95)}`,
      ok: refused === 0 && incomplete === 0,
    });
    expect({ refused, incomplete }).toEqual({ refused: 0, incomplete: 0 });
  });

  it('holder SIGSTOP 15 s: no takeover, the holder named in every refusal, and it completes after SIGCONT', async () => {
    const least = sized(14, 14);
    const w = kvWorld(30);
    const target = join(w.dir, 'target.db');
    w.write(`id,value\n${rows(30, 1, 'stop')}\n`);
    const holder = w.run(['--concurrency', '1'], { KV_SLOW_MS: '50' });
    await until('the holder applied a record', () => appliesOf(target, 'stop').size > 0);
    holder.kill('SIGSTOP');
    const stopped = Date.now();
    const before = [...appliesOf(target, 'stop').values()].reduce((a, b) => a + b, 0);
    // Two starters keep trying for the whole 15 s stop (at least `least` tries), so every
    // moment of it is tried, not only the first ones.
    const refusals: Awaited<ReturnType<typeof w.run>>[] = [];
    const stillStopped = () => refusals.length < least || Date.now() - stopped < 15_000;
    await Promise.all(
      [0, 1].map(async () => {
        while (stillStopped()) refusals.push(await w.run());
      }),
    );
    const tries = refusals.length;
    const after = [...appliesOf(target, 'stop').values()].reduce((a, b) => a + b, 0);
    holder.kill('SIGCONT');
    const done = await holder;
    const takeovers = refusals.filter((r) => r.exitCode !== 75).length + (after !== before ? 1 : 0);
    const named = refusals.filter((r) =>
      String(r.stderr).includes(`locked by pid ${holder.pid} on host`),
    ).length;
    const completed = done.exitCode === 0 && appliesOf(target, 'stop').size === 30;
    chaosRow({
      test: 'holder SIGSTOP 15 s',
      count: `${tries} starts during the stop`,
      bound: '0 takeovers, the holder named in every refusal, it completes after SIGCONT',
      result: `${takeovers} takeovers, holder named in ${named}/${tries} refusals, ${after - before} writes by others while stopped; after SIGCONT: exit ${done.exitCode}, ${appliesOf(target, 'stop').size}/30 records`,
      ok: takeovers === 0 && named === tries && completed,
    });
    expect({ takeovers, named, completed }).toEqual({ takeovers: 0, named: tries, completed: true });
  });

  it('lock file deleted while held: 0 granted twice', async () => {
    const n = sized(10, 50);
    const w = kvWorld(3);
    const target = join(w.dir, 'target.db');
    const locks = join(w.state, 'locks');
    let granted = 0;
    let unnamed = 0;
    for (let i = 0; i < n; i++) {
      const holder = contender(locks, 'kv', 'go at once');
      expect((await holder.answer()).acquired).toBe(true);
      // What `rm -rf locks/*` does: the lock file, its journal and the holder's record.
      for (const f of readdirSync(locks)) rmSync(join(locks, f), { force: true });
      w.write(`id,value\n${rows(3, 1, `del${i}x`)}\n`);
      const rival = await w.run();
      if (rival.exitCode !== 75 || appliesOf(target, `del${i}x`).size > 0) granted++;
      if (!String(rival.stderr).includes(`locked by pid ${holder.pid} on host`)) unnamed++;
      holder.send('release');
      await holder.done();
    }
    chaosRow({
      test: 'lock file deleted while held',
      count: `${n} deletions`,
      bound: '0 granted twice',
      result: `${granted} granted twice (a rival run that was not refused or wrote to the target); ${unnamed} refusals not naming the holder`,
      ok: granted === 0 && unnamed === 0,
    });
    expect({ granted, unnamed }).toEqual({ granted: 0, unnamed: 0 });
  });

  it('lock file damaged (garbage): repaired in place, with a warning, and the run goes on', async () => {
    const n = sized(10, 50);
    const w = kvWorld(3);
    const target = join(w.dir, 'target.db');
    const file = join(w.state, 'locks', 'kv.lock');
    mkdirSync(join(w.state, 'locks'), { recursive: true, mode: 0o700 });
    writeFileSync(file, '', { mode: 0o600 });
    const inode = statSync(file).ino;
    let repaired = 0;
    let ran = 0;
    let moved = 0;
    for (let i = 0; i < n; i++) {
      writeFileSync(
        file,
        Buffer.concat([Buffer.from(`garbage ${i}\n`), randomBytes(1 + ((i * 997) % 8192))]),
      );
      w.write(`id,value\n${rows(3, 1, `dmg${i}x`)}\n`);
      const r = await w.run();
      if (String(r.stderr).includes(`the lock file ${file} was damaged`)) repaired++;
      if (r.exitCode === 0 && appliesOf(target, `dmg${i}x`).size === 3) ran++;
      if (statSync(file).ino !== inode) moved++;
    }
    chaosRow({
      test: 'lock file damaged (garbage)',
      count: `${n} damaged files`,
      bound: 'every one repaired (warning) and run',
      result: `${repaired} repaired with a warning, ${ran} runs completed (counted at the target), ${moved} lock files replaced instead of emptied in place`,
      ok: repaired === n && ran === n && moved === 0,
    });
    expect({ repaired, ran, moved }).toEqual({ repaired: n, ran: n, moved: 0 });
  });
});
