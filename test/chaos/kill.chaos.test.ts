/**
 * Issue 9: random SIGKILL, then `--resume`, on a mixed task (LDAP entry and groups
 * through the real provisioning steps, a SQLite row, a file, a `once` welcome mail)
 * over 1,000+ records, until the campaign's kills are spent; then `--resume` to
 * completion, the in-doubt mails settled as an operator would, and a clean run of the
 * same input into fresh targets to compare with. Every figure is read from the
 * targets (slapd's entries and audit log, the SQLite target and its insert log, the
 * files, the outbox), and only the integrity check looks at the ledger.
 *
 * The kill moment is chosen by output, not by time: after a random number of
 * finished records (or at the start line), so the kills land at every phase.
 * `IDEM_CHAOS_SEED` replays a campaign; `IDEM_CHAOS_KILL_N` and `IDEM_CHAOS_KILLS` set
 * the records and kills (for trying a change quickly).
 */
import { expect, it } from 'vitest';
import { describeLdap } from '../ldap/slapd-env.ts';
import {
  chaosWorld,
  differences,
  dump,
  integrity,
  makeUsers,
  outbox,
  resolveDoubts,
  runMixed,
  sqlRows,
  summaryOf,
  type Target,
  tally,
} from './support/mixed.ts';
import { chaosRow, LONG, sized } from './support/table.ts';

const N = Number(process.env.IDEM_CHAOS_KILL_N ?? sized(1200, 3000));
const KILLS = Number(process.env.IDEM_CHAOS_KILLS ?? sized(60, 220));
const MIN_KILLS = LONG ? 200 : 50;
/**
 * Records in flight at once: a kill leaves about one once-mail in doubt per 16, and each
 * doubt costs an `idem resolve` (about half a second) at the end.
 */
const CONCURRENCY = 16;
const SEED = Number(process.env.IDEM_CHAOS_SEED ?? Date.now() % 1_000_000);

/** A small seeded generator (mulberry32), so a campaign can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What one attempt printed and how it ended. */
interface Attempt {
  killed: boolean;
  exitCode: number | undefined;
  keys: string[];
  absorbed: string[];
  /** Each record line's key and how it was reported: its outcome, `absorbed` when flagged. */
  lines: [string, string][];
  stdout: string;
  stderr: string;
}

/**
 * One `run --resume`, SIGKILLed once `after` records have printed their line (0: at
 * its start line); a run that ends first is returned as it ended.
 */
async function attempt(t: Target, after: number | undefined): Promise<Attempt> {
  const child = runMixed(t, ['--resume', '--concurrency', String(CONCURRENCY)]);
  const keys: string[] = [];
  const absorbed: string[] = [];
  const reports: [string, string][] = [];
  let partial = '';
  let killed = false;
  const kill = () => {
    if (!killed) {
      killed = true;
      child.kill('SIGKILL');
    }
  };
  child.stdout?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{"type":"record"')) continue;
      const e = JSON.parse(line) as { key: string; outcome: string; absorbed?: boolean };
      keys.push(e.key);
      reports.push([e.key, e.absorbed ? 'absorbed' : e.outcome]);
      if (e.absorbed) absorbed.push(e.key);
      if (after !== undefined && after > 0 && keys.length >= after) kill();
    }
  });
  if (after === 0) child.stderr?.once('data', kill);
  const r = await child;
  return {
    killed: killed && r.signal === 'SIGKILL',
    exitCode: r.exitCode,
    keys,
    absorbed,
    lines: reports,
    stdout: String(r.stdout),
    stderr: String(r.stderr),
  };
}

describeLdap('chaos: random SIGKILL + --resume on the mixed task', () => {
  const users = makeUsers(N);
  const world = chaosWorld(['crashed', 'clean'], users, LONG ? 512 : 256);

  it(`${KILLS} kills, then --resume to completion: nothing lost or doubled, same as a clean run`, {
    timeout: LONG ? 3_600_000 : 600_000,
  }, async (ctx) => {
    if (!world.ready(ctx, 'the SIGKILL campaign')) return;
    const { slapd, pool } = world;
    const crashed = world.target('crashed');
    const clean = world.target('clean');
    const rnd = random(SEED);
    const started = Date.now();
    const reported = new Set<string>();
    const absorbedReported = new Set<string>();
    let kills = 0;
    let atStart = 0;
    let integrityFailures = 0;
    const problems: string[] = [];
    /** Records whose writes landed at the target (a SQL row) in an attempt that was killed before it printed them. */
    const landedUnreported = new Set<string>();
    /** How each of those was reported by the attempt that next printed it. */
    const reportedAs = new Map<string, string>();
    const noteReports = (a: Attempt) => {
      for (const [k, how] of a.lines)
        if (landedUnreported.has(k) && !reportedAs.has(k)) reportedAs.set(k, how);
    };
    let last: Attempt | undefined;
    let runs = 0;
    while (kills < KILLS) {
      const remaining = Math.max(0, N - reported.size);
      const left = KILLS - kills;
      const max = Math.max(2, Math.floor((1.2 * remaining) / (left + 1)));
      const after = rnd() < 0.1 ? 0 : 1 + Math.floor(rnd() * max);
      const a = await attempt(crashed, after);
      runs++;
      noteReports(a);
      for (const k of a.keys) reported.add(k);
      for (const k of a.absorbed) absorbedReported.add(k);
      if (!a.killed) {
        // It finished before its kill moment: nothing left to kill.
        last = a;
        break;
      }
      kills++;
      if (after === 0) atStart++;
      const check = integrity(crashed);
      if (check !== 'ok') {
        integrityFailures++;
        problems.push(`after kill ${kills}: ${check}`);
      }
      for (const r of sqlRows(crashed).rows) {
        const uid = r.uid as string;
        if (!reported.has(uid)) landedUnreported.add(uid);
      }
    }
    const campaignMs = Date.now() - started;

    // --resume to completion (a run that found nothing unfinished starts a new one: a no-op).
    const final = last ?? (await attempt(crashed, undefined));
    if (!last) noteReports(final);
    for (const k of final.absorbed) absorbedReported.add(k);
    const finalSummary = summaryOf(final.stdout);
    const c = finalSummary?.counts ?? {};
    const finalLine = `final --resume exit ${final.exitCode}: changed=${c.changed} ok=${c.ok} failed=${c.failed} in-doubt=${c['in-doubt']} absorbed=${c.absorbed}`;

    // The in-doubt mails: listed by idem doubts, settled by what the outbox holds.
    const settled = await resolveDoubts(crashed);
    const mailsBefore = outbox(crashed).mails;
    const sentTwiceInDoubt = settled.doubts.filter((k) => (mailsBefore.get(k)?.length ?? 0) > 1).length;
    const after = await attempt(crashed, undefined);
    noteReports(after);
    const afterSummary = summaryOf(after.stdout);

    const counted = await tally(pool, slapd, crashed, users);
    const ref = await runMixed(clean, []);
    const cleanDump = await dump(pool, clean);
    const same = JSON.stringify(counted.dump) === JSON.stringify(cleanDump);
    const differing = (['ldap', 'rows', 'files', 'mails'] as const).filter(
      (k) => JSON.stringify(counted.dump[k]) !== JSON.stringify(cleanDump[k]),
    );
    // Records the killed attempts had changed, as the next attempt reported them: absorbed
    // (found done), changed (part of their steps were left), in-doubt (their mail), never
    // again (the killed attempt had committed their outcome), or passed off as ok (fault 8).
    const absorbedCount = absorbedReported.size;
    const how = (o: string) => [...reportedAs.values()].filter((v) => v === o).length;
    const passedOffAsOk = how('ok');
    const notAgain = landedUnreported.size - reportedAs.size;

    const { lost, dup } = counted;
    const seed = `seed ${SEED}`;
    chaosRow({
      test: 'SIGKILL + --resume, mixed task (LDAP, SQL, file, once mail): kills',
      count: kills,
      bound: `>= ${MIN_KILLS}`,
      result: `${kills} kills over ${N} records in ${runs} attempts (${atStart} at the start line, the rest after 1 or more finished records; ${Math.round(campaignMs / 1000)} s); ${finalLine}; after settling the doubts: exit ${after.exitCode}, changed=${afterSummary?.counts?.changed}; ${seed}`,
      ok: kills >= MIN_KILLS,
    });
    const lostTotal = lost.ldap + lost.members + lost.rows + lost.files + lost.mails;
    chaosRow({
      test: 'SIGKILL + --resume, mixed task: lost (ldap entries, memberships, rows, files, mails)',
      count: N,
      bound: '0',
      result: `${lost.ldap}, ${lost.members}, ${lost.rows}, ${lost.files}, ${lost.mails} (from slapd, the SQLite target, the files, the outbox)`,
      ok: lostTotal === 0,
    });
    const dupTotal = dup.ldapAdds + dup.memberValues + dup.rows + dup.mails;
    chaosRow({
      test: 'SIGKILL + --resume, mixed task: duplicated (ldap adds, member values, rows, mails)',
      count: N,
      bound: '0',
      result: `${dup.ldapAdds}, ${dup.memberValues}, ${dup.rows}, ${dup.mails} (slapd's audit log: entry adds and member values added twice; the target's insert log; mail files per key)`,
      ok: dupTotal === 0,
    });
    chaosRow({
      test: 'SIGKILL + --resume, mixed task: ledger integrity_check failures',
      count: kills,
      bound: '0',
      result:
        integrityFailures === 0 ? '0 (checked after every kill)' : `${integrityFailures}: ${problems[0]}`,
      ok: integrityFailures === 0,
    });
    chaosRow({
      test: 'SIGKILL + --resume, mixed task: final targets vs a clean run',
      count: N,
      bound: 'identical',
      result: same
        ? `identical (${Object.keys(cleanDump.ldap).length} LDAP entries, ${cleanDump.rows.length} rows, ${Object.keys(cleanDump.files).length} files, ${Object.keys(cleanDump.mails).length} mails; clean run exit ${ref.exitCode})`
        : `differs in ${differing.join(', ')}: ${differences(counted.dump, cleanDump).join('; ')}`,
      ok: same && ref.exitCode === 0,
    });
    chaosRow({
      test: 'SIGKILL + --resume, mixed task: in-doubt mails reported (idem doubts --json)',
      count: settled.doubts.length,
      bound: 'none sent twice; each settled',
      result: `${settled.doubts.length} in doubt: ${settled.done} had gone out (resolve --done), ${settled.retried} had not (resolve --retry, sent by the next run); ${sentTwiceInDoubt} sent twice`,
      ok: sentTwiceInDoubt === 0 && after.exitCode === 0,
    });
    chaosRow({
      test: 'SIGKILL + --resume, mixed task: temporaries of interrupted writes (fault 9)',
      count: kills,
      bound: '0 in outbox/ or homes/ (where a consumer reads); 0 left in .idem-tmp/ after the last run',
      result: `${counted.leftovers.length} in outbox/ or homes/${counted.leftovers.length ? ` (${counted.leftovers.slice(0, 3).join(', ')})` : ''}; ${counted.parked.length} left in .idem-tmp/`,
      ok: counted.leftovers.length === 0 && counted.parked.length === 0,
    });
    chaosRow({
      test: 'SIGKILL + --resume, mixed task: changes by killed attempts reported (fault 8)',
      count: landedUnreported.size,
      bound: '0 passed off as ok; > 0 absorbed',
      result: `${landedUnreported.size} records had their SQL row written by an attempt killed before it printed them; the next attempt reported ${how('absorbed')} absorbed, ${how('changed')} changed (steps left), ${how('in-doubt')} in-doubt, ${passedOffAsOk} ok; ${notAgain} not again (outcome committed before the kill); ${absorbedCount} absorbed in all (final summary absorbed=${c.absorbed})`,
      ok: passedOffAsOk === 0 && (landedUnreported.size === 0 || absorbedCount > 0),
    });

    expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);
    expect(lost).toEqual({ ldap: 0, members: 0, rows: 0, files: 0, mails: 0 });
    expect(dup).toEqual({ ldapAdds: 0, memberValues: 0, rows: 0, mails: 0 });
    expect(integrityFailures, problems.join('\n')).toBe(0);
    expect(ref.exitCode, String(ref.stderr)).toBe(0);
    expect(differing).toEqual([]);
    expect(sentTwiceInDoubt).toBe(0);
    expect(after.exitCode, after.stderr).toBe(0);
    expect(final.exitCode === 0 || final.exitCode === 3, final.stderr).toBe(true);
    expect(passedOffAsOk).toBe(0);
    expect(counted.leftovers).toEqual([]);
    expect(counted.parked).toEqual([]);
    if (landedUnreported.size > 0) expect(absorbedCount).toBeGreaterThan(0);
  });
});
