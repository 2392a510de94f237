/**
 * Issue 9: SIGKILL at named crash points of the mixed task, each at the first, a
 * middle and the last record, then `--resume`, the in-doubt mails settled, and the
 * targets compared with a clean run of the same input:
 * - before apply (the record's LDAP entry not yet written);
 * - after apply, before the ledger commit (its file written, nothing of it committed);
 * - inside a batch commit (the transaction that writes its outcome, mid-way);
 * - between a once intent and its effect (intent durable, no mail);
 * - between the effect and its done row (the mail out, no completion).
 * The kills come from the test-only faulty CLI (IDEM_CRASH_AT, IDEM_CRASH_AFTER,
 * IDEM_CRASH_IN_COMMIT) and the mixed task's MIXED_CRASH; figures from the targets.
 */
import { beforeAll, expect, it } from 'vitest';
import { describeLdap } from '../ldap/slapd-env.ts';
import {
  chaosWorld,
  type Dump,
  differences,
  dump,
  makeUsers,
  outbox,
  resolveDoubts,
  runMixed,
  sqlRows,
  summaryOf,
  tally,
} from './support/mixed.ts';
import { chaosRow, inPool, sized } from './support/table.ts';

const N = sized(30, 400);
const key = (i: number) => `u${String(i).padStart(4, '0')}`;
const POSITIONS = [
  { name: 'first', key: key(1) },
  { name: 'middle', key: key(Math.ceil(N / 2)) },
  { name: 'last', key: key(N) },
];

interface Point {
  name: string;
  /** The environment of the crashing run, for a record key. */
  fault: (k: string) => Record<string, string>;
  /** Whether the crash leaves the record's mail in doubt, and whether it had gone out. */
  doubt?: 'sent' | 'not sent';
}

const POINTS: Point[] = [
  { name: 'before apply', fault: (k) => ({ MIXED_CRASH: `before-apply:ldap.entry:${k}` }) },
  { name: 'after apply, before the ledger commit', fault: (k) => ({ MIXED_CRASH: `after-apply:file:${k}` }) },
  { name: 'inside a batch commit', fault: (k) => ({ IDEM_CRASH_IN_COMMIT: k }) },
  {
    name: 'between a once intent and its effect',
    fault: (k) => ({ IDEM_CRASH_AFTER: `effect-intent:welcome-mail:${k}` }),
    doubt: 'not sent',
  },
  {
    name: 'between the effect and its done row',
    fault: (k) => ({ IDEM_CRASH_AT: `effect-done:welcome-mail:${k}` }),
    doubt: 'sent',
  },
];

interface Outcome {
  position: string;
  killed: boolean;
  landed: boolean;
  resumeExit: number | undefined;
  absorbed: number;
  doubts: string[];
  mailBeforeSettling: number;
  finalExit: number | undefined;
  lost: number;
  duplicated: number;
  differs: string[];
}

describeLdap('chaos: named crash points of the mixed task, then --resume', () => {
  let reference: Dump;
  const users = makeUsers(N);
  const names = POINTS.flatMap((_, p) => POSITIONS.map((_, i) => `p${p}r${i}`));
  const world = chaosWorld(['clean', ...names], users, 128);

  beforeAll(async () => {
    if (!world.slapd) return;
    const clean = world.target('clean');
    const r = await runMixed(clean, []);
    if (r.exitCode !== 0) throw new Error(`the clean run failed (${r.exitCode}): ${r.stderr}`);
    reference = await dump(world.pool, clean);
  });

  /** One crash: the faulty run, --resume, the doubts settled, one more run when some were. */
  async function crashAt(point: Point, p: number, r: number): Promise<Outcome> {
    const position = POSITIONS[r] as (typeof POSITIONS)[number];
    const t = world.target(`p${p}r${r}`);
    // One record at a time up to the crash, so that nothing else is in flight when it dies.
    const crashed = await runMixed(t, ['--concurrency', '1'], {
      faulty: true,
      env: point.fault(position.key),
    });
    const killed = crashed.signal === 'SIGKILL';
    const landed = sqlRows(t).rows.some((row) => row.uid === position.key);
    const resumed = await runMixed(t, ['--resume']);
    const mailBeforeSettling = outbox(t).mails.get(position.key)?.length ?? 0;
    // Exit 0: nothing failed, invalid or in doubt; else ask idem doubts and settle.
    const settled = resumed.exitCode === 0 ? { doubts: [] } : await resolveDoubts(t);
    const final = settled.doubts.length > 0 ? await runMixed(t, []) : resumed;
    const counted = await tally(world.pool, world.slapd, t, users);
    const { lost, dup } = counted;
    return {
      position: `${position.name} ${position.key}`,
      killed,
      landed,
      resumeExit: resumed.exitCode,
      absorbed: summaryOf(resumed.stdout)?.counts?.absorbed ?? 0,
      doubts: settled.doubts,
      mailBeforeSettling,
      finalExit: final.exitCode,
      lost: lost.ldap + lost.members + lost.rows + lost.files + lost.mails,
      duplicated: dup.ldapAdds + dup.memberValues + dup.rows + dup.mails,
      differs: differences(counted.dump, reference),
    };
  }

  it('each crash point at the first, a middle and the last record ends as a clean run', {
    timeout: 600_000,
  }, async (ctx) => {
    if (!world.ready(ctx, 'the crash points')) return;
    const jobs = POINTS.flatMap((point, p) => POSITIONS.map((_, r) => () => crashAt(point, p, r)));
    const outcomes = await inPool(jobs, 4, (job) => job());

    const problems: string[] = [];
    POINTS.forEach((point, p) => {
      const mine = outcomes.slice(p * POSITIONS.length, (p + 1) * POSITIONS.length);
      const wrong = (o: Outcome): string[] => {
        const bad: string[] = [];
        const k = o.position.split(' ')[1] as string;
        if (!o.killed) bad.push('the fault never fired');
        if (o.resumeExit !== 0 && o.resumeExit !== 3) bad.push(`--resume exit ${o.resumeExit}`);
        if (o.finalExit !== 0) bad.push(`final exit ${o.finalExit}`);
        if (o.lost > 0) bad.push(`${o.lost} lost`);
        if (o.duplicated > 0) bad.push(`${o.duplicated} duplicated`);
        if (o.differs.length > 0) bad.push(`differs from the clean run: ${o.differs.join('; ')}`);
        const wantDoubts = point.doubt ? [k] : [];
        if (JSON.stringify(o.doubts) !== JSON.stringify(wantDoubts))
          bad.push(`in doubt ${JSON.stringify(o.doubts)}, expected ${JSON.stringify(wantDoubts)}`);
        if (point.doubt && o.mailBeforeSettling !== (point.doubt === 'sent' ? 1 : 0))
          bad.push(`${o.mailBeforeSettling} mails before settling`);
        return bad;
      };
      const results = mine.map((o) => {
        const bad = wrong(o);
        problems.push(...bad.map((b) => `${point.name} at ${o.position}: ${b}`));
        const detail = [
          o.landed ? 'its row had landed' : 'its row had not landed',
          `--resume exit ${o.resumeExit}`,
          `absorbed=${o.absorbed}`,
          `${o.doubts.length} in doubt${point.doubt ? ` (mail ${point.doubt}: resolve ${point.doubt === 'sent' ? '--done' : '--retry'})` : ''}`,
        ].join(', ');
        return `${o.position}: ${bad.length === 0 ? 'identical, 0 lost, 0 duplicated' : bad.join('; ')} (${detail})`;
      });
      chaosRow({
        test: `crash point: ${point.name}, then --resume`,
        count: mine.length,
        bound: `identical to a clean run, 0 lost, 0 duplicated, ${point.doubt ? '1 in doubt' : '0 in doubt'}`,
        result: results.join('; '),
        ok: mine.every((o) => wrong(o).length === 0),
      });
    });
    expect(problems).toEqual([]);
  });
});
