import type Database from 'better-sqlite3';
import { errorMessage, LedgerError } from '../core/errors.ts';
import { EVENTS_APPEND_ONLY_DELETE } from './schema.ts';

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
 * newest real run and runs holding an in-doubt effect. Pure.
 */
export function prunableRuns(runs: RunAge[], cutoff: number, keep: ReadonlySet<string>): RunAge[] {
  return runs.filter((r) => r.endedAt < cutoff && !keep.has(r.id));
}

const BATCH = 20;

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
  const guard = <T>(what: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw new LedgerError(`ledger ${location}: cannot ${what}: ${errorMessage(err)}`, { cause: err });
    }
  };
  const { task, cutoff } = req;
  const latest = guard(
    'read the runs',
    () =>
      db
        .prepare(
          'SELECT id FROM runs WHERE task = ? AND dry_run = 0 ORDER BY started_at DESC, rowid DESC LIMIT 1',
        )
        .get(task) as { id: string } | undefined,
  );
  const inDoubt = guard(
    'read the once effects',
    () =>
      db.prepare(`SELECT DISTINCT run_id FROM effects WHERE task = ? AND state = 'intent'`).all(task) as {
        run_id: string;
      }[],
  ).map((r) => r.run_id);
  const ages = guard(
    'read the runs',
    () =>
      db
        .prepare(
          `SELECT id, started_at AS startedAt,
              coalesce(ended_at, (SELECT max(at) FROM events WHERE run_id = runs.id), started_at) AS endedAt
             FROM runs WHERE task = ? AND status <> 'running' ORDER BY started_at`,
        )
        .all(task) as RunAge[],
  );
  const keep = new Set([...(latest ? [latest.id] : []), ...inDoubt]);
  const doomed = prunableRuns(ages, cutoff, keep);
  const count = (what: string, sql: string, ...params: unknown[]) =>
    guard(what, () => (db.prepare(sql).get(...params) as { n: number }).n);
  const effectsWhere = `task = ? AND state = 'done' AND coalesce(done_at, intent_at) < ?`;
  const oldEffects = count(
    'count once effects',
    `SELECT count(*) AS n FROM effects WHERE ${effectsWhere}`,
    task,
    cutoff,
  );
  const oldKeys = count(
    'count idempotency keys',
    'SELECT count(*) AS n FROM idempotency_keys WHERE task = ? AND created_at < ?',
    task,
    cutoff,
  );
  const removed = { runs: 0, results: 0, events: 0, effects: 0, idempotencyKeys: 0 };
  const inIds = '(SELECT value FROM json_each(?))';
  for (let i = 0; i < doomed.length; i += BATCH) {
    const ids = doomed.slice(i, i + BATCH).map((r) => r.id);
    const list = JSON.stringify(ids);
    if (req.dryRun) {
      removed.runs += ids.length;
      removed.results += count(
        'count outcomes',
        `SELECT count(*) AS n FROM results WHERE run_id IN ${inIds}`,
        list,
      );
      removed.events += count(
        'count history lines',
        `SELECT count(*) AS n FROM events WHERE run_id IN ${inIds} AND at < ?`,
        list,
        cutoff,
      );
      continue;
    }
    guard('remove old runs', () =>
      db
        .transaction(() => {
          db.exec('DROP TRIGGER IF EXISTS events_append_only_delete');
          removed.events += db
            .prepare(`DELETE FROM events WHERE run_id IN ${inIds} AND at < ?`)
            .run(list, cutoff).changes;
          removed.results += db.prepare(`DELETE FROM results WHERE run_id IN ${inIds}`).run(list).changes;
          removed.runs += db.prepare(`DELETE FROM runs WHERE id IN ${inIds}`).run(list).changes;
          db.exec(EVENTS_APPEND_ONLY_DELETE);
        })
        .immediate(),
    );
  }
  if (req.forgetOnceEffects) {
    removed.effects = oldEffects;
    removed.idempotencyKeys = oldKeys;
  }
  if (!req.dryRun) {
    guard('record the prune', () =>
      db
        .transaction(() => {
          if (req.forgetOnceEffects) {
            db.prepare(`DELETE FROM effects WHERE ${effectsWhere}`).run(task, cutoff);
            db.prepare('DELETE FROM idempotency_keys WHERE task = ? AND created_at < ?').run(task, cutoff);
          }
          db.prepare(
            `INSERT INTO prunes (task, at, cutoff, by_whom, runs, results, events, effects, idempotency_keys)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          ).run(
            task,
            req.now,
            cutoff,
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
    guard('checkpoint the ledger', () => db.pragma('wal_checkpoint(PASSIVE)'));
  }
  const first = doomed[0];
  const last = doomed[doomed.length - 1];
  return {
    task,
    cutoff,
    dryRun: req.dryRun,
    removed,
    ...(first && last ? { span: { from: first.startedAt, to: last.startedAt } } : {}),
    kept: {
      ...(latest ? { latestRun: latest.id } : {}),
      inDoubtRuns: ages.filter((r) => r.endedAt < cutoff && inDoubt.includes(r.id)).map((r) => r.id),
      onceEffects: req.forgetOnceEffects ? 0 : oldEffects,
      idempotencyKeys: req.forgetOnceEffects ? 0 : oldKeys,
    },
  };
}
