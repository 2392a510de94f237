/** The ledger's tables. Versioned through `PRAGMA user_version`. */
export const SCHEMA_VERSION = 1;

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
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'the events history is append-only'); END;

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
`;
