import type Database from 'better-sqlite3';
import type { LedgerEvent, RunInfo } from '../core/ledger.ts';
import type { Outcome, RecordResult } from '../core/outcome.ts';
import { sqliteFault } from './sqlite-fault.ts';
import { toEvent, toResult, toRun } from './sqlite-rows.ts';

/** Which of a run's records `results` returns. */
export interface ResultFilter {
  /** Only these outcomes. */
  outcomes?: readonly Outcome[];
  /** Also (or, without `outcomes`, only) records a retry found already done. Neither: every record. */
  absorbed?: boolean;
}

/**
 * The queries behind `idem status`, `runs`, `show`, `history` and the metrics
 * file, on the SQLite ledger's connection. They read what the core's roles
 * (`RunStore`, `OutcomeStore`, `OnceStore`) do not need to run a task, so they
 * live here, beside the SQLite ledger, rather than on the core's interfaces and
 * their in-memory twin: nothing in the engine asks these questions.
 */
export class LedgerReader {
  constructor(
    private readonly db: Database.Database,
    readonly location: string,
  ) {}

  private read<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw sqliteFault(err, this.location, { what });
    }
  }

  /** Every task the ledger knows, by name. */
  tasks(): string[] {
    const rows = this.read('list the tasks', () =>
      this.db.prepare('SELECT task FROM runs UNION SELECT task FROM effects ORDER BY 1').all(),
    ) as { task: string }[];
    return rows.map((r) => r.task);
  }

  /** The newest run of a task that reached this status (not a dry run). */
  lastWithStatus(task: string, status: RunInfo['status']): RunInfo | undefined {
    const row = this.read('read the runs', () =>
      this.db
        .prepare(
          'SELECT * FROM runs WHERE task = ? AND status = ? AND dry_run = 0 ORDER BY started_at DESC, rowid DESC LIMIT 1',
        )
        .get(task, status),
    );
    return row ? toRun(row) : undefined;
  }

  /** Runs of a task, newest first, dry runs included. */
  runs(task: string, filter: { since?: number; limit?: number } = {}): RunInfo[] {
    const rows = this.read('list runs', () =>
      this.db
        .prepare(
          `SELECT * FROM runs WHERE task = @task AND (@since IS NULL OR started_at >= @since)
             ORDER BY started_at DESC, rowid DESC LIMIT @limit`,
        )
        .all({ task, since: filter.since ?? null, limit: filter.limit ?? -1 }),
    );
    return rows.map(toRun);
  }

  /** A run by id. */
  run(runId: string): RunInfo | undefined {
    const row = this.read('read a run', () => this.db.prepare('SELECT * FROM runs WHERE id = ?').get(runId));
    return row ? toRun(row) : undefined;
  }

  /** A run's record outcomes in input order (prune keys last). */
  results(runId: string, filter: ResultFilter = {}): RecordResult[] {
    const outcomes = filter.outcomes ?? [];
    const absorbed = filter.absorbed ? 1 : 0;
    const rows = this.read('read outcomes', () =>
      this.db
        .prepare(
          `SELECT * FROM results WHERE run_id = @runId
             AND ((@some = 0 AND @absorbed = 0) OR outcome IN (SELECT value FROM json_each(@outcomes))
                  OR (@absorbed = 1 AND absorbed = 1))
             ORDER BY line = 0, line, slot`,
        )
        .all({ runId, some: outcomes.length, outcomes: JSON.stringify(outcomes), absorbed }),
    );
    return rows.map(toResult);
  }

  /**
   * Every history line of one record of a task, oldest first: its own lines
   * (its key, and `key#line` for a duplicate of it) and the run-level lines
   * (resumed, crashed, superseded) of the runs it took part in.
   */
  history(task: string, key: string, since?: number): LedgerEvent[] {
    const rows = this.read('read the history', () =>
      this.db
        .prepare(
          `WITH mine AS (
             SELECT e.* FROM events e JOIN runs r ON r.id = e.run_id
              WHERE r.task = @task AND e.at >= @since
                AND (e.slot = @key OR (e.slot >= @key || '#' AND e.slot < @key || '$')))
           SELECT * FROM mine
           UNION
           SELECT e.* FROM events e
            WHERE e.slot = '' AND e.at >= @since AND e.run_id IN (SELECT run_id FROM mine)
           ORDER BY id`,
        )
        .all({ task, key, since: since ?? 0 }),
    );
    return rows.map(toEvent);
  }
}
