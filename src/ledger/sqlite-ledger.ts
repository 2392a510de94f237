import type Database from 'better-sqlite3';
import type { EffectRecord, Ledger, LedgerEvent, RunInfo } from '../core/ledger.ts';
import { type Counts, emptyCounts, type RecordResult, type RunStatus } from '../core/outcome.ts';
import { SCHEMA, SCHEMA_VERSION } from './schema.ts';
import { openSqliteFile } from './sqlite-file.ts';

/** How many queued writes trigger a commit, and how long a write may wait. */
const BATCH_SIZE = 64;
const BATCH_MS = 200;

type Pending = { kind: 'result'; runId: string; r: RecordResult } | { kind: 'event'; e: LedgerEvent };

interface RunRow {
  id: string;
  task: string;
  started_at: number;
  ended_at: number | null;
  status: RunStatus;
  dry_run: number;
  input_digest: string;
  input_path: string;
  host: string;
  pid: number;
  options: string;
  counts: string | null;
  message: string | null;
}

function toRun(row: RunRow): RunInfo {
  return {
    id: row.id,
    task: row.task,
    startedAt: row.started_at,
    ...(row.ended_at !== null ? { endedAt: row.ended_at } : {}),
    status: row.status,
    dryRun: row.dry_run === 1,
    inputDigest: row.input_digest,
    inputPath: row.input_path,
    host: row.host,
    pid: row.pid,
    options: JSON.parse(row.options),
    ...(row.counts ? { counts: JSON.parse(row.counts) } : {}),
    ...(row.message ? { message: row.message } : {}),
  };
}

/**
 * The checkpoint ledger in a SQLite file (better-sqlite3): WAL, `synchronous=FULL`,
 * `BEGIN IMMEDIATE` writes, 0600 files. Record outcomes and history are committed
 * in small batches (a re-check is always safe); `once` effects at once.
 */
export class SqliteLedger implements Ledger {
  readonly db: Database.Database;
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly commitBatch: (items: Pending[]) => void;
  private readonly statements = new Map<string, Database.Statement>();

  /** A prepared statement, prepared once: resume and `once` checks look up every record. */
  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  constructor(readonly location: string) {
    this.db = openSqliteFile(location, { wal: true });
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `ledger ${location} has schema version ${version}, newer than this idem understands (${SCHEMA_VERSION}); upgrade idem`,
      );
    }
    this.db
      .transaction(() => {
        this.db.exec(SCHEMA);
        this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })
      .immediate();
    const insertResult = this.stmt(
      `INSERT OR REPLACE INTO results (run_id, slot, key, line, outcome, absorbed, diff, error, attempts, input_hash, started_at, ended_at, notes)
       VALUES (@runId, @slot, @key, @line, @outcome, @absorbed, @diff, @error, @attempts, @inputHash, @startedAt, @endedAt, @notes)`,
    );
    const insertEvent = this.stmt(
      `INSERT INTO events (run_id, slot, step, kind, attempt, detail, at)
       VALUES (@runId, @key, @step, @kind, @attempt, @detail, @at)`,
    );
    this.commitBatch = (items) =>
      this.db
        .transaction(() => {
          for (const item of items) {
            if (item.kind === 'event') {
              const e = item.e;
              insertEvent.run({
                runId: e.runId,
                key: e.key,
                step: e.step ?? null,
                kind: e.kind,
                attempt: e.attempt ?? null,
                detail: e.detail ?? null,
                at: e.at,
              });
            } else {
              const r = item.r;
              insertResult.run({
                runId: item.runId,
                slot: r.slot,
                key: r.key,
                line: r.line,
                outcome: r.outcome,
                absorbed: r.absorbed ? 1 : 0,
                diff: JSON.stringify(r.diff),
                error: r.error ? JSON.stringify(r.error) : null,
                attempts: r.attempts,
                inputHash: r.inputHash,
                startedAt: r.startedAt,
                endedAt: r.endedAt,
                notes: r.notes ? JSON.stringify(r.notes) : null,
              });
            }
          }
        })
        .immediate();
  }

  private write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  private enqueue(item: Pending): void {
    this.queue.push(item);
    if (this.queue.length >= BATCH_SIZE) this.flushNow();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flushNow(), BATCH_MS);
      this.timer.unref?.();
    }
  }

  private flushNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return;
    const items = this.queue;
    this.queue = [];
    this.commitBatch(items);
  }

  async startRun(run: RunInfo): Promise<void> {
    this.write(() =>
      this.stmt(
        `INSERT INTO runs (id, task, started_at, status, dry_run, input_digest, input_path, host, pid, options)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        run.id,
        run.task,
        run.startedAt,
        run.status,
        run.dryRun ? 1 : 0,
        run.inputDigest,
        run.inputPath,
        run.host,
        run.pid,
        JSON.stringify(run.options),
      ),
    );
  }

  async reopenRun(runId: string, pid: number, host: string): Promise<void> {
    this.write(() =>
      this.stmt(`UPDATE runs SET status = 'running', ended_at = NULL, pid = ?, host = ? WHERE id = ?`).run(
        pid,
        host,
        runId,
      ),
    );
    this.enqueue({
      kind: 'event',
      e: { runId, key: '', kind: 'resumed', detail: `pid ${pid} on ${host}`, at: Date.now() },
    });
  }

  async finishRun(runId: string, status: RunStatus, counts: Counts, message?: string): Promise<void> {
    this.flushNow();
    this.write(() =>
      this.stmt(`UPDATE runs SET status = ?, ended_at = ?, counts = ?, message = ? WHERE id = ?`).run(
        status,
        Date.now(),
        JSON.stringify(counts),
        message ?? null,
        runId,
      ),
    );
  }

  async findUnfinishedRun(task: string): Promise<RunInfo | undefined> {
    const row = this.stmt(
      `SELECT * FROM runs WHERE task = ? AND dry_run = 0 ORDER BY started_at DESC, rowid DESC LIMIT 1`,
    ).get(task) as RunRow | undefined;
    if (!row) return undefined;
    return ['succeeded', 'completed-with-failures', 'refused'].includes(row.status) ? undefined : toRun(row);
  }

  async getRun(runId: string): Promise<RunInfo | undefined> {
    const row = this.stmt(`SELECT * FROM runs WHERE id = ?`).get(runId) as RunRow | undefined;
    return row ? toRun(row) : undefined;
  }

  async getResult(runId: string, slot: string): Promise<RecordResult | undefined> {
    const row = this.stmt(`SELECT * FROM results WHERE run_id = ? AND slot = ?`).get(runId, slot) as
      | Record<string, unknown>
      | undefined;
    if (!row) return undefined;
    return {
      key: row.key as string,
      slot: row.slot as string,
      line: row.line as number,
      outcome: row.outcome as RecordResult['outcome'],
      absorbed: row.absorbed === 1,
      diff: JSON.parse(row.diff as string),
      ...(row.error ? { error: JSON.parse(row.error as string) } : {}),
      attempts: row.attempts as number,
      inputHash: row.input_hash as string,
      startedAt: row.started_at as number,
      endedAt: row.ended_at as number,
      ...(row.notes ? { notes: JSON.parse(row.notes as string) } : {}),
    };
  }

  async countResults(runId: string): Promise<Counts> {
    this.flushNow();
    const counts = emptyCounts();
    const rows = this.stmt(
      `SELECT outcome, count(*) AS n, sum(absorbed) AS a FROM results WHERE run_id = ? GROUP BY outcome`,
    ).all(runId) as { outcome: keyof Counts; n: number; a: number }[];
    for (const row of rows) {
      counts[row.outcome] = row.n;
      counts.absorbed += row.a;
    }
    return counts;
  }

  async writeResult(runId: string, result: RecordResult): Promise<void> {
    this.enqueue({ kind: 'result', runId, r: result });
  }

  async appendEvent(event: LedgerEvent): Promise<void> {
    this.enqueue({ kind: 'event', e: event });
  }

  async flush(): Promise<void> {
    this.flushNow();
  }

  async getEffect(task: string, key: string, effect: string): Promise<EffectRecord | undefined> {
    const row = this.stmt(`SELECT * FROM effects WHERE task = ? AND key = ? AND effect = ?`).get(
      task,
      key,
      effect,
    ) as Record<string, unknown> | undefined;
    return row ? toEffect(row) : undefined;
  }

  async effectIntent(
    task: string,
    key: string,
    effect: string,
    runId: string,
    detail?: string,
  ): Promise<void> {
    this.flushNow();
    this.write(() => {
      this.stmt(
        `INSERT INTO effects (task, key, effect, state, run_id, intent_at, detail) VALUES (?, ?, ?, 'intent', ?, ?, ?)
           ON CONFLICT (task, key, effect) DO UPDATE SET state = 'intent', run_id = excluded.run_id,
             intent_at = excluded.intent_at, done_at = NULL, detail = excluded.detail WHERE state <> 'done'`,
      ).run(task, key, effect, runId, Date.now(), detail ?? null);
      this.insertEventNow(runId, key, effect, 'effect-intent', detail);
    });
  }

  async effectDone(task: string, key: string, effect: string, runId: string, detail?: string): Promise<void> {
    this.write(() => {
      const now = Date.now();
      this.stmt(
        `INSERT INTO effects (task, key, effect, state, run_id, intent_at, done_at, detail) VALUES (?, ?, ?, 'done', ?, ?, ?, ?)
           ON CONFLICT (task, key, effect) DO UPDATE SET state = 'done', done_at = excluded.done_at,
             detail = coalesce(excluded.detail, effects.detail)`,
      ).run(task, key, effect, runId, now, now, detail ?? null);
      this.insertEventNow(runId, key, effect, 'effect-done', detail);
    });
  }

  async effectClear(task: string, key: string, effect: string): Promise<void> {
    this.write(() => {
      this.stmt(`DELETE FROM effects WHERE task = ? AND key = ? AND effect = ?`).run(task, key, effect);
    });
  }

  async listInDoubt(task: string): Promise<EffectRecord[]> {
    const rows = this.stmt(
      `SELECT * FROM effects WHERE task = ? AND state = 'intent' ORDER BY intent_at`,
    ).all(task) as Record<string, unknown>[];
    return rows.map(toEffect);
  }

  async claimIdempotencyKey(
    task: string,
    key: string,
    idempotencyKey: string,
    payloadHash: string,
  ): Promise<string> {
    return this.write(() => {
      this.stmt(
        `INSERT INTO idempotency_keys (idem_key, task, key, payload_hash, created_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (idem_key) DO NOTHING`,
      ).run(idempotencyKey, task, key, payloadHash, Date.now());
      const row = this.stmt(`SELECT payload_hash FROM idempotency_keys WHERE idem_key = ?`).get(
        idempotencyKey,
      ) as {
        payload_hash: string;
      };
      return row.payload_hash;
    });
  }

  /** Appends a history line inside the current transaction. */
  private insertEventNow(
    runId: string,
    key: string,
    step: string | null,
    kind: string,
    detail?: string,
  ): void {
    this.stmt(`INSERT INTO events (run_id, slot, step, kind, detail, at) VALUES (?, ?, ?, ?, ?, ?)`).run(
      runId,
      key,
      step,
      kind,
      detail ?? null,
      Date.now(),
    );
  }

  async close(): Promise<void> {
    this.flushNow();
    this.db.close();
  }
}

function toEffect(row: Record<string, unknown>): EffectRecord {
  return {
    task: row.task as string,
    key: row.key as string,
    effect: row.effect as string,
    state: row.state as EffectRecord['state'],
    runId: row.run_id as string,
    intentAt: row.intent_at as number,
    ...(row.done_at !== null && row.done_at !== undefined ? { doneAt: row.done_at as number } : {}),
    ...(row.detail ? { detail: row.detail as string } : {}),
  };
}
