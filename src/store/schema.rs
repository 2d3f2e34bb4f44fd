//! The database schema as versioned migrations in code, tracked by `PRAGMA user_version`.
//!
//! Guarantees: migration `i` takes the schema from version `i` to `i + 1` and runs in one
//! IMMEDIATE transaction together with the version bump, so a crash leaves either the old
//! version or the new one, and two processes opening the same file cannot both run it.
//! Opening is idempotent. A database whose version is newer than [`LATEST`] is refused
//! rather than written by code that does not know its shape. Migrations are append-only:
//! a shipped one is never edited.

use rusqlite::{Connection, TransactionBehavior};

use super::types::StoreError;

/// Version 1: the inbox, its dedup keys, kv and the outbox.
///
/// Why these shapes:
/// - `inbox(state, id)` serves the dispatcher (`received` rows after a cursor) and
///   `inbox(channel, id)` the per-channel listing; both scan in id order without sorting.
/// - `dedup` is its own small WITHOUT ROWID table keyed by the dedup key, so the duplicate
///   check is one primary-key probe, and pruning old keys (by `received_ms`) never touches
///   the inbox rows themselves (dropped again in version 3).
/// - `id INTEGER PRIMARY KEY` without AUTOINCREMENT: ids only ever grow while rows are never
///   deleted, and it saves a `sqlite_sequence` write per insert.
/// - STRICT tables refuse a value of the wrong type instead of storing it.
const V1: &str = "
CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY,
    channel     TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    received_ms INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    duplicates  INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    headers     TEXT    NOT NULL,
    body        BLOB    NOT NULL
) STRICT;
CREATE INDEX inbox_state_id ON inbox(state, id);
CREATE INDEX inbox_channel_id ON inbox(channel, id);

CREATE TABLE dedup (
    channel     TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    received_ms INTEGER NOT NULL,
    inbox_id    INTEGER NOT NULL,
    PRIMARY KEY (channel, delivery_id)
) WITHOUT ROWID, STRICT;
CREATE INDEX dedup_received_ms ON dedup(received_ms);

CREATE TABLE kv (
    key        TEXT    PRIMARY KEY,
    value      BLOB    NOT NULL,
    updated_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    channel         TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    body            BLOB    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_ms      INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    error           TEXT
) STRICT;
CREATE INDEX outbox_state_due ON outbox(state, next_attempt_ms);
";

/// Version 2: bodies move to their own table.
///
/// Why: changing a row's state (`received` → `dispatched` → `done`) rewrote the whole row, its
/// body included, so every delivery went to the WAL twice (and was copied again by the
/// checkpointer). Now a state change rewrites a row of a few dozen bytes; the body is written
/// once. `body_len` keeps listings from touching the bodies at all.
const V2: &str = "
CREATE TABLE inbox_body (
    id   INTEGER PRIMARY KEY,
    body BLOB    NOT NULL
) STRICT;
INSERT INTO inbox_body (id, body) SELECT id, body FROM inbox;
ALTER TABLE inbox ADD COLUMN body_len INTEGER NOT NULL DEFAULT 0;
UPDATE inbox SET body_len = length(body);
ALTER TABLE inbox DROP COLUMN body;
";

/// Version 3: the dedup table goes; the keys live in memory ([`super::dedup`]), rebuilt from
/// the inbox rows (which hold every key and its time) when the store opens.
///
/// Why: the keys are random, so each new delivery dirtied one random page of the table's
/// B-tree: 60% of the bytes written per delivery, and half the writer's time.
const V3: &str = "
DROP INDEX dedup_received_ms;
DROP TABLE dedup;
";

/// Version 4: the agent runtime's sessions, transcripts and turns ([`super::agent`]).
///
/// Why these shapes:
/// - Rows are keyed by the session *key* (what every client addresses a session by), so a
///   turn needs no lookup of a numeric id first; `session_id` is the stable id shown to
///   clients and used by exports.
/// - `transcript(session_key, id)` serves "the newest N messages of a session" as one
///   backwards index scan; the session totals live on the session row so `sessions.list`
///   never sums transcripts.
/// - The partial unique index on `(session_key, idempotency_key)` makes a repeated
///   idempotency key impossible to store twice, whatever the runtime's memory says.
const V4: &str = "
CREATE TABLE sessions (
    key           TEXT    PRIMARY KEY,
    session_id    TEXT    NOT NULL UNIQUE,
    agent_id      TEXT    NOT NULL,
    model         TEXT,
    label         TEXT,
    channel       TEXT,
    chat_id       TEXT,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL    NOT NULL DEFAULT 0,
    turns         INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX sessions_updated ON sessions(updated_ms);
CREATE INDEX sessions_channel ON sessions(channel);

CREATE TABLE transcript (
    id            INTEGER PRIMARY KEY,
    session_key   TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    content       TEXT    NOT NULL,
    tool_calls    TEXT,
    tool_call_id  TEXT,
    created_ms    INTEGER NOT NULL,
    input_tokens  INTEGER,
    output_tokens INTEGER
) STRICT;
CREATE INDEX transcript_session_id ON transcript(session_key, id);

CREATE TABLE turns (
    run_id          TEXT    PRIMARY KEY,
    session_key     TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    model           TEXT    NOT NULL,
    started_ms      INTEGER NOT NULL,
    ended_ms        INTEGER,
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    cost_usd        REAL    NOT NULL DEFAULT 0,
    error           TEXT,
    idempotency_key TEXT
) STRICT, WITHOUT ROWID;
CREATE INDEX turns_session ON turns(session_key, started_ms);
CREATE UNIQUE INDEX turns_idempotency ON turns(session_key, idempotency_key) WHERE idempotency_key IS NOT NULL;
";

/// Every migration, in order: `MIGRATIONS[i]` goes from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

/// The schema version this build writes.
// The list is a handful of entries; the cast cannot truncate.
#[allow(clippy::cast_possible_truncation)]
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// The version recorded in the file.
///
/// # Errors
/// The pragma could not be read.
pub fn version(conn: &Connection) -> Result<u32, StoreError> {
    let v: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    u32::try_from(v).map_err(|_| StoreError::Sqlite(format!("invalid schema version {v}")))
}

/// Bring the file up to [`LATEST`]; returns the version it had before.
///
/// # Errors
/// The file is newer than this build, or a migration failed (and was rolled back).
pub fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    let before = version(conn)?;
    check_not_newer(before)?;
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(before as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read again under the write lock: another process may have migrated meanwhile.
        let now = version(&tx)?;
        check_not_newer(now)?;
        if now as usize > from {
            continue;
        }
        tx.execute_batch(sql).map_err(|e| StoreError::Sqlite(format!("migration to version {}: {e}", from + 1)))?;
        tx.pragma_update(None, "user_version", i64::try_from(from + 1).unwrap_or(i64::MAX))?;
        tx.commit()?;
    }
    Ok(before)
}

fn check_not_newer(v: u32) -> Result<(), StoreError> {
    if v > LATEST {
        return Err(StoreError::Sqlite(format!(
            "database schema version {v} is newer than this build knows ({LATEST}); refusing to open it"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    /// A version-1 file with a stored body keeps it, byte for byte, through version 2.
    #[test]
    fn v1_bodies_move_to_their_own_table() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(V1).expect("v1");
        conn.pragma_update(None, "user_version", 1).expect("version");
        conn.execute(
            "INSERT INTO inbox (channel, delivery_id, received_ms, updated_ms, state, headers, body) \
             VALUES ('telegram', '7', 1, 1, 'dispatched', '{}', X'00FF7B7D')",
            [],
        )
        .expect("row");
        assert_eq!(migrate(&mut conn).expect("migrate"), 1);
        assert_eq!(version(&conn).expect("version"), LATEST);
        let (body, len): (Vec<u8>, i64) = conn
            .query_row("SELECT b.body, i.body_len FROM inbox i JOIN inbox_body b ON b.id = i.id", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("joined row");
        assert_eq!((body, len), (vec![0x00, 0xFF, 0x7B, 0x7D], 4));
        let has_body_column: i64 = conn
            .query_row("SELECT COUNT(*) FROM pragma_table_info('inbox') WHERE name = 'body'", [], |r| r.get(0))
            .expect("table info");
        assert_eq!(has_body_column, 0);
    }
}
