/**
 * The ledger's tables. Versioned through `PRAGMA user_version`: a new ledger gets
 * `SCHEMA` and the latest version; an older one gets the `MIGRATIONS` it lacks,
 * in order, in one transaction.
 */
export const SCHEMA_VERSION = 3;

/**
 * Version 3: a run's keys (sorted 64-bit hashes, see `KeySet.sorted`) in chunks of
 * `RUN_KEY_CHUNK` keys (64 KiB) instead of one blob a run (8 MB for a million keys,
 * copied whole on every write and every read), so that neither the writer nor the
 * reader ever holds more than a chunk beyond the list itself.
 */
const V3_TABLES = `
CREATE TABLE IF NOT EXISTS run_key_chunks (
  run_id TEXT NOT NULL,
  chunk  INTEGER NOT NULL,
  hashes BLOB NOT NULL,
  PRIMARY KEY (run_id, chunk)
);
`;

/** How many keys a row of `run_key_chunks` holds (8 bytes each). */
export const RUN_KEY_CHUNK = 8192;

/** Version 2: the plan of a plan-first run, acceptances of refused plans, and leavers in their grace period. */
const V2_TABLES = `
CREATE TABLE IF NOT EXISTS planned (
  run_id     TEXT NOT NULL,
  slot       TEXT NOT NULL,
  key        TEXT NOT NULL,
  line       INTEGER NOT NULL,
  input_hash TEXT NOT NULL,
  prune      INTEGER NOT NULL,
  diff       TEXT NOT NULL,
  PRIMARY KEY (run_id, slot)
);
CREATE INDEX IF NOT EXISTS planned_by_line ON planned (run_id, line, slot);

CREATE TABLE IF NOT EXISTS finished (
  run_id TEXT NOT NULL,
  first  INTEGER NOT NULL,
  last   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS finished_by_run ON finished (run_id, first);


CREATE TABLE IF NOT EXISTS acceptances (
  task        TEXT NOT NULL,
  plan_hash   TEXT NOT NULL,
  run_id      TEXT NOT NULL,
  accepted_by TEXT NOT NULL,
  accepted_at INTEGER NOT NULL,
  reasons     TEXT NOT NULL,
  PRIMARY KEY (task, plan_hash)
);

CREATE TABLE IF NOT EXISTS departures (
  task        TEXT NOT NULL,
  key         TEXT NOT NULL,
  disabled_at INTEGER NOT NULL,
  run_id      TEXT NOT NULL,
  runs_since  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (task, key)
);

`;

/**
 * The trigger that keeps the history append-only against deletes. Retention
 * (`idem ledger prune`) lifts it only inside its own write transaction and
 * puts this very statement back before committing (see retention.ts), so no
 * other writer ever sees the history deletable.
 */
export const EVENTS_APPEND_ONLY_DELETE = `CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'the events history is append-only'); END;`;

/**
 * Added for the read side and retention (in version 2):
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
  message      TEXT,
  task_digest  TEXT,
  idem_version TEXT,
  phase        TEXT,
  records      INTEGER
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
  warnings    TEXT,
  drifted     INTEGER NOT NULL DEFAULT 0,
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
${V2_TABLES}
${READ_SIDE}
${V3_TABLES}`;

/**
 * Version 2's table of a run's keys, one blob a run (version 3 moves them into
 * run_key_chunks). Some version 2 ledgers, from builds before it (and `finished`)
 * joined version 2, lack it: the step to 3 makes the version 2 tables first (so
 * the step from 1 to 2, always followed by it, need not).
 */
const V2_RUN_KEYS = `
CREATE TABLE IF NOT EXISTS run_keys (
  run_id TEXT PRIMARY KEY,
  hashes BLOB NOT NULL
);`;

/** What a ledger of version N-1 needs to become version N (index 0: 1 -> 2). */
export const MIGRATIONS: string[] = [
  `
ALTER TABLE runs ADD COLUMN task_digest TEXT;
ALTER TABLE runs ADD COLUMN idem_version TEXT;
ALTER TABLE runs ADD COLUMN phase TEXT;
ALTER TABLE runs ADD COLUMN records INTEGER;
ALTER TABLE results ADD COLUMN warnings TEXT;
ALTER TABLE results ADD COLUMN drifted INTEGER NOT NULL DEFAULT 0;
${V2_TABLES}
${READ_SIDE}`,
  `
${V2_TABLES}
${V2_RUN_KEYS}
${V3_TABLES}
INSERT INTO run_key_chunks (run_id, chunk, hashes) SELECT run_id, 0, hashes FROM run_keys;
DROP TABLE run_keys;
`,
];
