import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { LedgerError } from '../core/errors.ts';
import type {
  Acceptance,
  Departure,
  EffectId,
  EffectRecord,
  Ledger,
  LedgerEvent,
  OutcomeBatch,
  PlannedRecord,
  RunFilter,
  RunInfo,
  RunUpdate,
} from '../core/ledger.ts';
import { EFFECT_LINES, settledUndone } from '../core/ledger.ts';
import { type LineRange, linesIn } from '../core/line-ranges.ts';
import {
  addPlainOks,
  type Counts,
  emptyCounts,
  NON_CONVERGING,
  type Outcome,
  type RecordResult,
} from '../core/outcome.ts';
import type { EffectState } from '../core/step.ts';
import { takeCleanStamp, writeCleanStamp } from './clean-close.ts';
import { MIGRATIONS, RUN_KEY_CHUNK, SCHEMA, SCHEMA_VERSION } from './schema.ts';
import { damagedAdvice, sqliteFault } from './sqlite-fault.ts';
import { openSqliteFile } from './sqlite-file.ts';
import { toEffect, toEvent, toPlanned, toResult, toRun } from './sqlite-rows.ts';
import { ensurePrivateDir } from './state-trust.ts';

/** The stamp is taken before the folder is checked by the open: its faults are the folder's. */
function takeCleanStampOrFault(location: string): boolean {
  try {
    ensurePrivateDir(dirname(location));
    return takeCleanStamp(location);
  } catch (err) {
    throw sqliteFault(err, location, { what: 'read its clean-close stamp', atOpen: true });
  }
}

/** EFFECT_LINES as an SQL list, for the history query. */
const EFFECT_KINDS_SQL = [...EFFECT_LINES].map((k) => `'${k}'`).join(', ');

/** The largest key chunk read as hex (see `runKeys`); a chunk is 64 KiB unless migrated from schema 2. */
const HEX_LIMIT = 1024 * 1024;

/**
 * The checkpoint ledger in a SQLite file (better-sqlite3): WAL; outcomes in
 * batches with `synchronous=NORMAL`, everything else with `synchronous=FULL`;
 * `BEGIN IMMEDIATE` writes, 0600 files. It stores and reads; when to commit and
 * what to write is decided in the core. Every failure is one line with its exit
 * code (`sqliteFault`) naming the file.
 */
export class SqliteLedger implements Ledger {
  readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(readonly location: string) {
    const clean = takeCleanStampOrFault(location);
    const { db, existed } = openSqliteFile(location, { wal: true });
    this.db = db;
    try {
      // SQLite's own default page cache (2 MiB), not better-sqlite3's 16 MiB: the
      // ledger's reads and writes run in order, and a run's keys (8 MB for a million)
      // passing through a 16 MiB cache grew the process by as much.
      this.db.pragma('cache_size = -2000');
      if (existed && !clean) this.checkDamage();
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new LedgerError(
          `the ledger ${location} has schema version ${version}, newer than this idem understands (${SCHEMA_VERSION}); use a newer idem or move the ledger aside (mv ${location} ${location}.newer)`,
        );
      }
      if (version === SCHEMA_VERSION) return;
      this.write('create or upgrade the tables', () => {
        if (version === 0) this.db.exec(SCHEMA);
        else for (const step of MIGRATIONS.slice(version - 1)) this.db.exec(step);
        this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      });
    } catch (err) {
      this.db.close();
      throw sqliteFault(err, location, { what: 'open it', atOpen: true });
    }
  }

  /**
   * The previous process did not close the ledger cleanly (or it changed since):
   * `PRAGMA quick_check` (about 0.9 s for a million outcomes and events) before
   * anything is written into it; a malformed ledger is refused with the recovery.
   */
  private checkDamage(): void {
    const rows = this.db.pragma('quick_check', { simple: false }) as { quick_check: string }[];
    const first = rows[0]?.quick_check ?? 'no answer';
    if (first === 'ok') return;
    throw new LedgerError(
      `the ledger ${this.location} is damaged (quick_check: ${first.replace(/\s+/g, ' ').slice(0, 120)}${rows.length > 1 ? `, ${rows.length} problems` : ''}): ${damagedAdvice(this.location)}`,
    );
  }

  /** A prepared statement, prepared once: resume and `once` checks look up every record. */
  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw sqliteFault(err, this.location, { what });
    }
  }

  private synchronous: 'FULL' | 'NORMAL' = 'FULL';

  /**
   * A durable write (`synchronous=FULL`: the WAL is fsynced at commit, and with
   * it every batch before): `once` effects, idempotency keys, acceptances. What
   * only saves work (runs, outcomes, keys, leavers) is a `batch`: a power cut may
   * lose its last commits, and the next run checks those records again.
   */
  private write<T>(what: string, fn: () => T): T {
    return this.guard(what, () => {
      this.sync('FULL');
      return this.db.transaction(fn).immediate();
    });
  }

  /**
   * A batch of outcomes and history (`synchronous=NORMAL`: atomic, not fsynced
   * until the next durable write or checkpoint). A power cut may lose the last
   * batches; their records are checked again on resume, which is always safe.
   */
  private batch<T>(what: string, fn: () => T): T {
    return this.guard(what, () => {
      this.sync('NORMAL');
      return this.db.transaction(fn).immediate();
    });
  }

  private sync(mode: 'FULL' | 'NORMAL'): void {
    if (this.synchronous === mode) return;
    this.db.pragma(`synchronous = ${mode}`);
    this.synchronous = mode;
  }

  async insertRun(run: RunInfo): Promise<void> {
    this.batch('record the start of a run', () =>
      this.stmt(
        `INSERT INTO runs (id, task, started_at, status, dry_run, input_digest, input_path, host, pid, options,
             task_digest, idem_version, phase, records)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
        run.taskDigest ?? null,
        run.idemVersion ?? null,
        run.phase ?? null,
        run.records ?? null,
      ),
    );
  }

  async updateRun(runId: string, u: RunUpdate): Promise<void> {
    const sets = ['status = @status'];
    const params: Record<string, unknown> = { id: runId, status: u.status };
    const column = {
      endedAt: 'ended_at',
      counts: 'counts',
      message: 'message',
      pid: 'pid',
      host: 'host',
      phase: 'phase',
    };
    for (const [field, col] of Object.entries(column)) {
      const value = u[field as keyof RunUpdate];
      if (value === undefined) continue;
      sets.push(`${col} = @${field}`);
      params[field] = field === 'counts' && value !== null ? JSON.stringify(value) : value;
    }
    this.batch(`record run ${runId} as ${u.status}`, () =>
      this.stmt(`UPDATE runs SET ${sets.join(', ')} WHERE id = @id`).run(params),
    );
  }

  async getRun(runId: string): Promise<RunInfo | undefined> {
    const row = this.guard('read a run', () => this.stmt(`SELECT * FROM runs WHERE id = ?`).get(runId));
    return row ? toRun(row) : undefined;
  }

  async latestRun(task: string): Promise<RunInfo | undefined> {
    const row = this.guard('read the last run', () =>
      this.stmt(
        `SELECT * FROM runs WHERE task = ? AND dry_run = 0 ORDER BY started_at DESC, rowid DESC LIMIT 1`,
      ).get(task),
    );
    return row ? toRun(row) : undefined;
  }

  async listRuns(filter: RunFilter): Promise<RunInfo[]> {
    const rows = this.guard('list runs', () =>
      this.stmt(
        `SELECT * FROM runs WHERE (@task IS NULL OR task = @task) AND (@status IS NULL OR status = @status)
           AND (@since IS NULL OR started_at >= @since) ORDER BY started_at DESC, rowid DESC LIMIT @limit`,
      ).all({
        task: filter.task ?? null,
        status: filter.status ?? null,
        since: filter.since ?? null,
        limit: filter.limit ?? -1,
      }),
    );
    return rows.map(toRun);
  }

  async commit(batch: OutcomeBatch): Promise<void> {
    const insertResult = this.stmt(
      `INSERT OR REPLACE INTO results (run_id, slot, key, line, outcome, absorbed, diff, error, attempts, input_hash,
         started_at, ended_at, notes, warnings, drifted)
       VALUES (@runId, @slot, @key, @line, @outcome, @absorbed, @diff, @error, @attempts, @inputHash,
         @startedAt, @endedAt, @notes, @warnings, @drifted)`,
    );
    const insertPlanned = this.stmt(
      `INSERT OR REPLACE INTO planned (run_id, slot, key, line, input_hash, prune, diff)
       VALUES (@runId, @slot, @key, @line, @inputHash, @prune, @diff)`,
    );
    this.batch('record outcomes', () => {
      for (const { runId, result: r } of batch.results) {
        insertResult.run({
          runId,
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
          warnings: r.warnings ? JSON.stringify(r.warnings) : null,
          drifted: r.drifted ? 1 : 0,
        });
      }
      for (const e of batch.events) this.insertEvent(e);
      const finished = this.stmt(`INSERT INTO finished (run_id, first, last) VALUES (?, ?, ?)`);
      for (const f of batch.finished ?? []) finished.run(f.runId, f.first, f.last);
      for (const { runId, record: p } of batch.planned ?? []) {
        insertPlanned.run({
          runId,
          slot: p.slot,
          key: p.key,
          line: p.line,
          inputHash: p.inputHash,
          prune: p.prune ? 1 : 0,
          diff: JSON.stringify(p.diff),
        });
      }
    });
  }

  private insertEvent(e: LedgerEvent): void {
    this.stmt(
      `INSERT INTO events (run_id, slot, step, kind, attempt, detail, at)
       VALUES (@runId, @key, @step, @kind, @attempt, @detail, @at)`,
    ).run({
      runId: e.runId,
      key: e.key,
      step: e.step ?? null,
      kind: e.kind,
      attempt: e.attempt ?? null,
      detail: e.detail ?? null,
      at: e.at,
    });
  }

  async getResult(runId: string, slot: string): Promise<RecordResult | undefined> {
    const row = this.guard('read an outcome', () =>
      this.stmt(`SELECT * FROM results WHERE run_id = ? AND slot = ?`).get(runId, slot),
    );
    return row ? toResult(row) : undefined;
  }

  async countResults(runId: string): Promise<Counts> {
    const rows = this.guard('count outcomes', () =>
      this.stmt(
        `SELECT outcome, count(*) AS n, sum(absorbed) AS a, sum(drifted) AS d,
           sum(warnings LIKE '%"${NON_CONVERGING}%') AS nc, sum(diff LIKE '%"provisional":%') AS p,
           sum(line > 0 AND outcome NOT IN ('failed', 'in-doubt')) AS f
         FROM results WHERE run_id = ? GROUP BY outcome`,
      ).all(runId),
    ) as { outcome: Outcome; n: number; a: number; d: number; nc: number; p: number; f: number }[];
    const counts = emptyCounts();
    let finalRows = 0;
    for (const row of rows) {
      counts[row.outcome] = row.n;
      counts.absorbed += row.a;
      counts.drifted += row.d;
      counts['non-converging'] += row.nc;
      counts.provisional += row.p;
      finalRows += row.f;
    }
    return addPlainOks(counts, linesIn(await this.finishedLines(runId)), finalRows);
  }

  async finishedLines(runId: string): Promise<LineRange[]> {
    const rows = this.guard('read the finished lines', () =>
      this.stmt(`SELECT first, last FROM finished WHERE run_id = ? ORDER BY first`).raw().all(runId),
    ) as [number, number][];
    return rows;
  }

  async events(filter: { runId?: string; key?: string }): Promise<LedgerEvent[]> {
    const rows = this.guard('read the history', () =>
      this.stmt(
        `SELECT * FROM events WHERE (@runId IS NULL OR run_id = @runId) AND (@key IS NULL OR slot = @key) ORDER BY id`,
      ).all({ runId: filter.runId ?? null, key: filter.key ?? null }),
    );
    return rows.map(toEvent);
  }

  async getEffect(id: EffectId): Promise<EffectRecord | undefined> {
    const row = this.guard('read a once effect', () =>
      this.stmt(`SELECT * FROM effects WHERE task = ? AND key = ? AND effect = ?`).get(
        id.task,
        id.key,
        id.effect,
      ),
    );
    return row ? toEffect(row) : undefined;
  }

  async putEffect(id: EffectId, record: EffectRecord | null, event: LedgerEvent): Promise<void> {
    this.write(`record effect ${id.effect} of ${id.key}`, () => {
      if (record) {
        this.stmt(
          `INSERT INTO effects (task, key, effect, state, run_id, intent_at, done_at, detail)
             VALUES (@task, @key, @effect, @state, @runId, @intentAt, @doneAt, @detail)
           ON CONFLICT (task, key, effect) DO UPDATE SET state = excluded.state, run_id = excluded.run_id,
             intent_at = excluded.intent_at, done_at = excluded.done_at, detail = excluded.detail`,
        ).run({
          ...id,
          state: record.state,
          runId: record.runId,
          intentAt: record.intentAt,
          doneAt: record.doneAt ?? null,
          detail: record.detail ?? null,
        });
      } else {
        this.stmt(`DELETE FROM effects WHERE task = ? AND key = ? AND effect = ?`).run(
          id.task,
          id.key,
          id.effect,
        );
      }
      this.insertEvent(event);
    });
  }

  async effectHistory(id: EffectId): Promise<boolean> {
    const row = this.guard(
      'read the history of a once effect',
      () =>
        this.stmt(
          `SELECT e.kind, e.detail FROM events e JOIN runs r ON r.id = e.run_id
           WHERE e.slot = ? AND e.step = ? AND r.task = ?
             AND e.kind IN (${EFFECT_KINDS_SQL})
           ORDER BY e.id DESC LIMIT 1`,
        ).get(id.key, id.effect, id.task) as Pick<LedgerEvent, 'kind' | 'detail'> | undefined,
    );
    return row !== undefined && !settledUndone(row);
  }

  async listEffects(task: string, state: EffectState): Promise<EffectRecord[]> {
    const rows = this.guard('list once effects', () =>
      this.stmt(`SELECT * FROM effects WHERE task = ? AND state = ? ORDER BY intent_at`).all(task, state),
    );
    return rows.map(toEffect);
  }

  async claimIdempotencyKey(c: {
    task: string;
    key: string;
    idempotencyKey: string;
    payloadHash: string;
    at: number;
  }): Promise<string> {
    return this.write('record an idempotency key', () => {
      this.stmt(
        `INSERT INTO idempotency_keys (idem_key, task, key, payload_hash, created_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (idem_key) DO NOTHING`,
      ).run(c.idempotencyKey, c.task, c.key, c.payloadHash, c.at);
      const row = this.stmt(`SELECT payload_hash FROM idempotency_keys WHERE idem_key = ?`).get(
        c.idempotencyKey,
      ) as { payload_hash: string };
      return row.payload_hash;
    });
  }

  async planned(
    runId: string,
    after: { line: number; slot: string } | undefined,
    limit: number,
  ): Promise<PlannedRecord[]> {
    const rows = this.guard('read the plan', () =>
      this.stmt(
        `SELECT * FROM planned WHERE run_id = @runId AND (line > @line OR (line = @line AND slot > @slot))
           ORDER BY line, slot LIMIT @limit`,
      ).all({ runId, line: after?.line ?? -1, slot: after?.slot ?? '', limit }),
    );
    return rows.map(toPlanned);
  }

  async plannedSlot(runId: string, slot: string): Promise<PlannedRecord | undefined> {
    const row = this.guard('read the plan', () =>
      this.stmt(`SELECT * FROM planned WHERE run_id = ? AND slot = ?`).get(runId, slot),
    );
    return row ? toPlanned(row) : undefined;
  }

  async planProgress(runId: string): Promise<{ done: number; planned: { total: number; done: number } }> {
    const row = this.guard('read how far a run got', () =>
      this.stmt(
        `SELECT (SELECT count(*) FROM results WHERE run_id = @runId AND line = 0 AND outcome NOT IN ('failed', 'in-doubt')) AS pruned,
                (SELECT count(*) FROM planned WHERE run_id = @runId) AS total,
                (SELECT count(*) FROM planned p JOIN results r ON r.run_id = p.run_id AND r.slot = p.slot
                   WHERE p.run_id = @runId AND r.outcome NOT IN ('failed', 'in-doubt')) AS planned_done`,
      ).get({ runId }),
    ) as { pruned: number; total: number; planned_done: number };
    const done = linesIn(await this.finishedLines(runId)) + row.pruned;
    return { done, planned: { total: row.total, done: row.planned_done } };
  }

  async putRunKeys(runId: string, hashes: Uint32Array): Promise<void> {
    const step = 2 * RUN_KEY_CHUNK;
    this.batch(`record the keys of run ${runId}`, () => {
      this.stmt(`DELETE FROM run_key_chunks WHERE run_id = ?`).run(runId);
      const insert = this.stmt(`INSERT INTO run_key_chunks (run_id, chunk, hashes) VALUES (?, ?, ?)`);
      for (let at = 0, chunk = 0; at < hashes.length || chunk === 0; at += step, chunk++) {
        const part = hashes.subarray(at, at + step);
        insert.run(runId, chunk, Buffer.from(part.buffer, part.byteOffset, part.byteLength));
      }
    });
  }

  async runKeys(runId: string, visit: (chunk: Uint32Array) => void): Promise<boolean> {
    // Only the reading is a ledger fault: what the visitor throws is its own.
    let failed: { error: unknown } | undefined;
    const found = this.guard('read the keys of a run', () => {
      let any = false;
      // Each chunk comes as hex text and is decoded into one buffer reused from chunk to
      // chunk. As BLOBs, better-sqlite3 gives each its own Buffer, whose 64 KiB of native
      // memory is freed only by a garbage collection, which the load triggers none of: a
      // million keys left 8 MB of freed blocks in the C heap, never given back (peak RSS
      // of a million-row no-op rerun 113-115 MB, against 107 for a first run).
      // Chunk 0 migrated from schema 2 holds a whole run: past 1 MiB it comes as a BLOB
      // (its hex could pass the longest string V8 makes, 512 MiB, at 33 million keys).
      const rows = this.stmt(
        `SELECT CASE WHEN length(hashes) <= ${HEX_LIMIT} THEN hex(hashes) END AS hex,
                CASE WHEN length(hashes) > ${HEX_LIMIT} THEN hashes END AS blob
           FROM run_key_chunks WHERE run_id = ? ORDER BY chunk`,
      ).iterate(runId);
      const buf = Buffer.alloc(8 * RUN_KEY_CHUNK);
      for (const row of rows as Iterable<{ hex: string | null; blob: Buffer | null }>) {
        any = true;
        let chunk: Uint32Array;
        if (row.blob) {
          // A view when the bytes are aligned for one; else a copy (a new Uint8Array starts at 0).
          const b = row.blob.byteOffset % 4 === 0 ? row.blob : new Uint8Array(row.blob);
          chunk = new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
        } else {
          const hex = row.hex ?? '';
          const into = hex.length / 2 > buf.length ? Buffer.alloc(hex.length / 2) : buf;
          chunk = new Uint32Array(into.buffer, into.byteOffset, into.write(hex, 0, 'hex') / 4);
        }
        try {
          visit(chunk);
        } catch (error) {
          failed = { error };
          break;
        }
      }
      return any;
    });
    if (failed) throw failed.error;
    return found;
  }

  async recordAcceptance(a: Acceptance): Promise<void> {
    this.write('record an acceptance', () =>
      this.stmt(
        `INSERT OR REPLACE INTO acceptances (task, plan_hash, run_id, accepted_by, accepted_at, reasons)
           VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(a.task, a.planHash, a.runId, a.acceptedBy, a.acceptedAt, JSON.stringify(a.reasons)),
    );
  }

  async findAcceptance(task: string, planHash: string): Promise<Acceptance | undefined> {
    const row = this.guard('read an acceptance', () =>
      this.stmt(`SELECT * FROM acceptances WHERE task = ? AND plan_hash = ?`).get(task, planHash),
    ) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    return {
      task: row.task as string,
      planHash: row.plan_hash as string,
      runId: row.run_id as string,
      acceptedBy: row.accepted_by as string,
      acceptedAt: row.accepted_at as number,
      reasons: JSON.parse(row.reasons as string),
    };
  }

  async listDepartures(task: string): Promise<Departure[]> {
    const rows = this.guard('read the leavers', () =>
      this.stmt(`SELECT * FROM departures WHERE task = ? ORDER BY disabled_at`).all(task),
    ) as Record<string, unknown>[];
    return rows.map((row) => ({
      task: row.task as string,
      key: row.key as string,
      disabledAt: row.disabled_at as number,
      runId: row.run_id as string,
      runsSince: row.runs_since as number,
    }));
  }

  async putDeparture(task: string, key: string, d: Departure | null): Promise<void> {
    this.batch(`record the departure of ${key}`, () => {
      if (!d) this.stmt(`DELETE FROM departures WHERE task = ? AND key = ?`).run(task, key);
      else
        this.stmt(
          `INSERT OR REPLACE INTO departures (task, key, disabled_at, run_id, runs_since) VALUES (?, ?, ?, ?, ?)`,
        ).run(task, key, d.disabledAt, d.runId, d.runsSince);
    });
  }

  /** Closes the ledger; the last connection to close leaves the clean-close stamp (clean-close.ts). */
  async close(): Promise<void> {
    if (!this.db.open) return;
    this.db.close();
    writeCleanStamp(this.location);
  }
}
