/** The ledger's tables. Versioned through `PRAGMA user_version`. */
export const SCHEMA_VERSION = 1;

/**
 * The trigger that keeps the history append-only against deletes. Retention
 * (`idem ledger prune`) lifts it only inside its own write transaction and
 * puts this very statement back before committing (see retention.ts), so no
 * other writer ever sees the history deletable.
 */
export const EVENTS_APPEND_ONLY_DELETE = `CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'the events history is append-only'); END;`;

/**
 * Added for the read side and retention (backward compatible: an older idem
 * opens a ledger that has them, so the schema version stays 1):
 * - `events_by_slot`: `idem history` reads one record's lines across runs;
 * - `runs_readable`, `results_readable`, `events_readable`: the times as text,
 *   in UTC (ISO 8601) and in the local time of whoever runs `sqlite3`;
 * - `prunes`: one row per retention pass, what it removed and why.
 */
const READ_SIDE = `
CREATE INDEX IF NOT EXISTS events_by_slot ON events (slot, id);

CREATE VIEW IF NOT EXISTS runs_readable AS
  SELECT id, task, status, dry_run,
    strftime('%Y-%m-%dT%H:%M:%fZ', started_at / 1000.0, 'unixepoch') AS started_utc,
    datetime(started_at / 1000, 'unixepoch', 'localtime') AS started_local,
    strftime('%Y-%m-%dT%H:%M:%fZ', ended_at / 1000.0, 'unixepoch') AS ended_utc,
    datetime(ended_at / 1000, 'unixepoch', 'localtime') AS ended_local,
    (ended_at - started_at) / 1000.0 AS seconds,
    counts, message, host, pid, input_path
  FROM runs;

CREATE VIEW IF NOT EXISTS results_readable AS
  SELECT run_id, slot, key, line, outcome, absorbed, diff, error, attempts,
    strftime('%Y-%m-%dT%H:%M:%fZ', started_at / 1000.0, 'unixepoch') AS started_utc,
    datetime(started_at / 1000, 'unixepoch', 'localtime') AS started_local,
    strftime('%Y-%m-%dT%H:%M:%fZ', ended_at / 1000.0, 'unixepoch') AS ended_utc,
    datetime(ended_at / 1000, 'unixepoch', 'localtime') AS ended_local,
    notes
  FROM results;

CREATE VIEW IF NOT EXISTS events_readable AS
  SELECT e.id, r.task, e.run_id, e.slot, e.step, e.kind, e.attempt, e.detail,
    strftime('%Y-%m-%dT%H:%M:%fZ', e.at / 1000.0, 'unixepoch') AS at_utc,
    datetime(e.at / 1000, 'unixepoch', 'localtime') AS at_local
  FROM events e LEFT JOIN runs r ON r.id = e.run_id;

CREATE TABLE IF NOT EXISTS prunes (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  task           TEXT NOT NULL,
  at             INTEGER NOT NULL,
  cutoff         INTEGER NOT NULL,
  by_whom        TEXT NOT NULL,
  runs           INTEGER NOT NULL,
  results        INTEGER NOT NULL,
  events         INTEGER NOT NULL,
  effects        INTEGER NOT NULL,
  idempotency_keys INTEGER NOT NULL
);
`;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id           TEXT PRIMARY KEY,
  task         TEXT NOT NULL,
  started_at   INTEGER NOT NULL,
  ended_at     INTEGER,
  status       TEXT NOT NULL,
  dry_run      INTEGER NOT NULL,
  input_digest TEXT NOT NULL,
  input_path   TEXT NOT NULL,
  host         TEXT NOT NULL,
  pid          INTEGER NOT NULL,
  options      TEXT NOT NULL,
  counts       TEXT,
  message      TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_task ON runs (task, started_at);

CREATE TABLE IF NOT EXISTS results (
  run_id      TEXT NOT NULL REFERENCES runs (id),
  slot        TEXT NOT NULL,
  key         TEXT NOT NULL,
  line        INTEGER NOT NULL,
  outcome     TEXT NOT NULL,
  absorbed    INTEGER NOT NULL,
  diff        TEXT NOT NULL,
  error       TEXT,
  attempts    INTEGER NOT NULL,
  input_hash  TEXT NOT NULL,
  started_at  INTEGER NOT NULL,
  ended_at    INTEGER NOT NULL,
  notes       TEXT,
  PRIMARY KEY (run_id, slot)
);

CREATE TABLE IF NOT EXISTS events (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id  TEXT NOT NULL,
  slot    TEXT NOT NULL,
  step    TEXT,
  kind    TEXT NOT NULL,
  attempt INTEGER,
  detail  TEXT,
  at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, slot);
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'the events history is append-only'); END;
${EVENTS_APPEND_ONLY_DELETE}

CREATE TABLE IF NOT EXISTS effects (
  task      TEXT NOT NULL,
  key       TEXT NOT NULL,
  effect    TEXT NOT NULL,
  state     TEXT NOT NULL CHECK (state IN ('intent', 'done')),
  run_id    TEXT NOT NULL,
  intent_at INTEGER NOT NULL,
  done_at   INTEGER,
  detail    TEXT,
  UNIQUE (task, key, effect)
);

CREATE TABLE IF NOT EXISTS idempotency_keys (
  idem_key     TEXT PRIMARY KEY,
  task         TEXT NOT NULL,
  key          TEXT NOT NULL,
  payload_hash TEXT NOT NULL,
  created_at   INTEGER NOT NULL
);
${READ_SIDE}`;
