import type Database from 'better-sqlite3';
import { ACCEPTED } from '../core/runs.ts';
import { EVENTS_APPEND_ONLY_DELETE } from './schema.ts';
import { sqliteFault } from './sqlite-fault.ts';

/** What `idem ledger prune` is asked to remove. */
export interface PruneRequest {
  task: string;
  /** Epoch ms: runs that ended before this go, with their outcomes and history. */
  cutoff: number;
  /**
   * Also forget completed `once` effects and idempotency keys older than the
   * cutoff. They are what stops a second welcome mail: off unless asked.
   */
  forgetOnceEffects: boolean;
  /** Count what would go; remove nothing. */
  dryRun: boolean;
  /** Who asked (user@host), for the `prunes` table. */
  by: string;
  now: number;
}

/** What a prune removed (or, in a dry run, would remove) and what it kept on purpose. */
export interface PruneReport {
  task: string;
  cutoff: number;
  dryRun: boolean;
  removed: { runs: number; results: number; events: number; effects: number; idempotencyKeys: number };
  /** The oldest and newest start among the removed runs. */
  span?: { from: number; to: number };
  kept: {
    /** The task's newest real run, which `status` and `--resume` read. */
    latestRun?: string;
    /** The newest run that went through, when it is not the newest run: the change budgets compare the next plan with it. */
    acceptedRun?: string;
    /** Runs whose `once` effect is still in doubt: their history is the evidence. */
    inDoubtRuns: string[];
    /** Completed `once` effects and idempotency keys older than the cutoff, kept without the flag. */
    onceEffects: number;
    idempotencyKeys: number;
  };
}

/** A run the ledger could remove: its id, start, and when it last wrote anything. */
export interface RunAge {
  id: string;
  startedAt: number;
  endedAt: number;
}

/**
 * Which runs a prune removes: those that ended before the cutoff, except the
 * ones to keep (the newest real run, the newest accepted one, runs holding an
 * in-doubt effect). Pure.
 */
export function prunableRuns(runs: RunAge[], cutoff: number, keep: ReadonlySet<string>): RunAge[] {
  return runs.filter((r) => r.endedAt < cutoff && !keep.has(r.id));
}

const BATCH = 20;
const IN_IDS = '(SELECT value FROM json_each(?))';
const OLD_EFFECTS = `task = ? AND state = 'done' AND coalesce(done_at, intent_at) < ?`;
const OLD_KEYS = 'task = ? AND created_at < ?';

type Removed = PruneReport['removed'];

/**
 * Retention for one task. The history is append-only: the trigger
 * `events_append_only_delete` refuses every DELETE on `events`. A prune lifts
 * it inside its own `BEGIN IMMEDIATE` transaction (DROP TRIGGER, delete the old
 * lines, CREATE TRIGGER again, COMMIT), one batch of runs at a time. The write
 * lock keeps every other connection out while the trigger is gone, and a crash
 * or an error rolls the DROP back with the rest, so the history is never left
 * deletable; an ordinary UPDATE or DELETE still fails. Each pass is itself
 * recorded in the `prunes` table.
 */
export function pruneLedger(db: Database.Database, location: string, req: PruneRequest): PruneReport {
  const r = new Retention(db, location, req);
  const plan = r.plan();
  const removed: Removed = { runs: 0, results: 0, events: 0, effects: 0, idempotencyKeys: 0 };
  for (let i = 0; i < plan.doomed.length; i += BATCH) {
    const ids = plan.doomed.slice(i, i + BATCH).map((run) => run.id);
    const batch = req.dryRun ? r.countBatch(ids) : r.removeBatch(ids);
    removed.runs += batch.runs;
    removed.results += batch.results;
    removed.events += batch.events;
  }
  if (req.forgetOnceEffects) {
    removed.effects = plan.oldEffects;
    removed.idempotencyKeys = plan.oldKeys;
  }
  if (!req.dryRun) r.record(removed);
  const first = plan.doomed[0];
  const last = plan.doomed[plan.doomed.length - 1];
  return {
    task: req.task,
    cutoff: req.cutoff,
    dryRun: req.dryRun,
    removed,
    ...(first && last ? { span: { from: first.startedAt, to: last.startedAt } } : {}),
    kept: {
      ...(plan.latest ? { latestRun: plan.latest } : {}),
      ...(plan.accepted ? { acceptedRun: plan.accepted } : {}),
      inDoubtRuns: plan.keptInDoubt,
      onceEffects: req.forgetOnceEffects ? 0 : plan.oldEffects,
      idempotencyKeys: req.forgetOnceEffects ? 0 : plan.oldKeys,
    },
  };
}

/** The tables besides outcomes and history that hold rows of a run, removed with it. */
const RUN_PARTS = ['planned', 'finished', 'run_key_chunks'] as const;

/** The statements of one prune, each failure a `LedgerError` naming the file. */
class Retention {
  constructor(
    private readonly db: Database.Database,
    private readonly location: string,
    private readonly req: PruneRequest,
  ) {}

  private guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw sqliteFault(err, this.location, { what });
    }
  }

  private count(what: string, sql: string, ...params: unknown[]): number {
    return this.guard(what, () => (this.db.prepare(sql).get(...params) as { n: number }).n);
  }

  /** What goes and what stays: the runs to remove, the last run, the last accepted run, in-doubt runs, old once effects. */
  plan() {
    const { db, req } = this;
    const { task, cutoff } = req;
    return this.guard('read the runs and once effects', () => {
      const latest = db
        .prepare(
          'SELECT id FROM runs WHERE task = ? AND dry_run = 0 ORDER BY started_at DESC, rowid DESC LIMIT 1',
        )
        .get(task) as { id: string } | undefined;
      const inDoubt = (
        db.prepare(`SELECT DISTINCT run_id FROM effects WHERE task = ? AND state = 'intent'`).all(task) as {
          run_id: string;
        }[]
      ).map((row) => row.run_id);
      // A run that never recorded its end ended with its last history line (its crash, say).
      const ages = db
        .prepare(
          `SELECT id, started_at AS startedAt,
              coalesce(ended_at, (SELECT max(at) FROM events WHERE run_id = runs.id), started_at) AS endedAt
             FROM runs WHERE task = ? AND status <> 'running' ORDER BY started_at`,
        )
        .all(task) as RunAge[];
      // The baseline of the change budgets (runs.ts, lastAcceptedRun): without it the next plan is not judged at all.
      const accepted = db
        .prepare(
          `SELECT id FROM runs WHERE task = ? AND dry_run = 0 AND status IN (SELECT value FROM json_each(?))
             ORDER BY started_at DESC, rowid DESC LIMIT 1`,
        )
        .get(task, JSON.stringify([...ACCEPTED])) as { id: string } | undefined;
      const keep = new Set([...(latest ? [latest.id] : []), ...(accepted ? [accepted.id] : []), ...inDoubt]);
      return {
        latest: latest?.id,
        accepted: accepted && accepted.id !== latest?.id ? accepted.id : undefined,
        doomed: prunableRuns(ages, cutoff, keep),
        keptInDoubt: ages.filter((r) => r.endedAt < cutoff && inDoubt.includes(r.id)).map((r) => r.id),
        oldEffects: this.count(
          'count once effects',
          `SELECT count(*) AS n FROM effects WHERE ${OLD_EFFECTS}`,
          task,
          cutoff,
        ),
        oldKeys: this.count(
          'count idempotency keys',
          `SELECT count(*) AS n FROM idempotency_keys WHERE ${OLD_KEYS}`,
          task,
          cutoff,
        ),
      };
    });
  }

  /** What removing these runs would remove (a dry run). */
  countBatch(ids: string[]): Pick<Removed, 'runs' | 'results' | 'events'> {
    const list = JSON.stringify(ids);
    return {
      runs: ids.length,
      results: this.count(
        'count outcomes',
        `SELECT count(*) AS n FROM results WHERE run_id IN ${IN_IDS}`,
        list,
      ),
      events: this.count(
        'count history lines',
        `SELECT count(*) AS n FROM events WHERE run_id IN ${IN_IDS} AND at < ?`,
        list,
        this.req.cutoff,
      ),
    };
  }

  /**
   * Removes these runs, their outcomes and their history lines, the trigger lifted for
   * this transaction only, and their plans, finished lines and keys.
   */
  removeBatch(ids: string[]): Pick<Removed, 'runs' | 'results' | 'events'> {
    const { db } = this;
    const list = JSON.stringify(ids);
    return this.guard('remove old runs', () =>
      db
        .transaction(() => {
          db.exec('DROP TRIGGER IF EXISTS events_append_only_delete');
          const events = db
            .prepare(`DELETE FROM events WHERE run_id IN ${IN_IDS} AND at < ?`)
            .run(list, this.req.cutoff);
          const results = db.prepare(`DELETE FROM results WHERE run_id IN ${IN_IDS}`).run(list);
          // What else the runs kept: their plans, finished lines and keys (a million keys: 8 MB a run).
          for (const table of RUN_PARTS)
            db.prepare(`DELETE FROM ${table} WHERE run_id IN ${IN_IDS}`).run(list);
          const runs = db.prepare(`DELETE FROM runs WHERE id IN ${IN_IDS}`).run(list);
          db.exec(EVENTS_APPEND_ONLY_DELETE);
          return { runs: runs.changes, results: results.changes, events: events.changes };
        })
        .immediate(),
    );
  }

  /** Forgets old once effects when asked, and records the pass in `prunes`. */
  record(removed: Removed): void {
    const { db, req } = this;
    this.guard('record the prune', () =>
      db
        .transaction(() => {
          if (req.forgetOnceEffects) {
            db.prepare(`DELETE FROM effects WHERE ${OLD_EFFECTS}`).run(req.task, req.cutoff);
            db.prepare(`DELETE FROM idempotency_keys WHERE ${OLD_KEYS}`).run(req.task, req.cutoff);
          }
          db.prepare(
            `INSERT INTO prunes (task, at, cutoff, by_whom, runs, results, events, effects, idempotency_keys)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          ).run(
            req.task,
            req.now,
            req.cutoff,
            req.by,
            removed.runs,
            removed.results,
            removed.events,
            removed.effects,
            removed.idempotencyKeys,
          );
        })
        .immediate(),
    );
    // Hand the freed pages back to the main file; a reader in the way only delays it.
    this.guard('checkpoint the ledger', () => db.pragma('wal_checkpoint(PASSIVE)'));
  }
}
