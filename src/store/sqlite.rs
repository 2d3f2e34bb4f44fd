//! The SQLite [`Backend`]: one file in WAL mode, three connections (writer, reader,
//! checkpointer), so that reads and checkpoints never wait behind the writer's transaction.
//!
//! Guarantees:
//! - Durable, full sync: `synchronous=FULL`, so COMMIT syncs the WAL before it returns.
//!   Durable, normal sync: `synchronous=NORMAL` and [`Backend::apply`] `fdatasync`s the WAL
//!   itself after COMMIT, before it returns. Buffered: `synchronous=NORMAL`, and
//!   [`Backend::sync`] `fdatasync`s the WAL. In every mode checkpoints sync the WAL before
//!   copying it and the database file before the WAL is reused, so a commit once synced stays
//!   on disk.
//! - The writer never checkpoints (`wal_autocheckpoint=0`): [`Backend::maintain`] runs a
//!   PASSIVE checkpoint on its own connection, a RESTART one when the WAL holds more than
//!   [`WAL_RESTART_BYTES`] of frames (so the WAL starts over under steady writes), and a
//!   TRUNCATE one when the file is past [`WAL_TRUNCATE_BYTES`], so the WAL stays bounded
//!   without stalling commits for long.
//! - Every write runs in one `BEGIN IMMEDIATE` transaction per [`Backend::apply`] call.
//! - Dedup keys live in a [`DedupIndex`] in memory, rebuilt from the inbox rows at open; a hit
//!   is confirmed against the stored row before a delivery is called a duplicate.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use super::backend::{Applied, Backend, DedupStats, Outcome, WriteOp};
use super::dedup::{DedupIndex, DedupLimits};
use super::schema;
use super::types::{
    AckMode, Appended, InboxEntry, InboxQuery, InboxState, MAX_BODY_BYTES_PER_QUERY, MAX_QUERY_LIMIT, NewDelivery,
    NewOutbound, OutboxEntry, OutboxState, StoreError,
};

/// Once the WAL holds this many bytes of frames, the checkpointer follows its PASSIVE round
/// with a RESTART one: it holds new commits off while it copies the few frames PASSIVE left,
/// syncs the database and waits for readers, so the next commit writes the WAL from its start.
///
/// Why: under steady writing a PASSIVE checkpoint is never complete when the writer commits
/// again, so the WAL never restarted and grew to [`WAL_TRUNCATE_BYTES`], whose TRUNCATE
/// stalled every commit for ~200 ms every 2 s at 9 k deliveries/s (docs/BENCHMARKS.md). A
/// RESTART right after a PASSIVE round has little left to copy.
pub const WAL_RESTART_BYTES: u64 = 8 << 20;

/// Past this size, the WAL file is checkpointed with TRUNCATE (which waits for the writer's
/// current transaction and holds off the next one while it copies) and shortened to nothing.
/// It is the file's bound: RESTART keeps the frames near [`WAL_RESTART_BYTES`], so this only
/// bites when long reads kept the checkpoints from finishing, or once after a burst.
pub const WAL_TRUNCATE_BYTES: u64 = 64 << 20;

/// How long the writer waits for a lock (a TRUNCATE checkpoint in progress) before the
/// transaction fails, which fail-stops the store. Far above what copying
/// [`WAL_TRUNCATE_BYTES`] takes.
pub const WRITER_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a checkpoint waits for readers and the writer before it gives up until the next
/// round; this bounds how long it can hold the writer off.
pub const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// Statements the reader keeps prepared: the 8 listing shapes and the other reads, with room.
const READER_STATEMENT_CACHE: usize = 32;

/// How long a read waits for a lock (only a TRUNCATE checkpoint takes one that blocks it).
pub const READER_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How commits reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// `synchronous=FULL`: COMMIT syncs.
    Full,
    /// `synchronous=NORMAL`, then our own fdatasync of the WAL before `apply` returns.
    NormalThenSync,
    /// `synchronous=NORMAL`; [`Backend::sync`] syncs later.
    Deferred,
}

/// The SQLite backend.
#[derive(Debug)]
pub struct SqliteBackend {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    checkpointer: Mutex<Connection>,
    /// Only the writer's transactions touch it (under `writer`'s lock, taken first).
    dedup: Mutex<DedupIndex>,
    /// The index's size as of the last transaction, readable without waiting for one.
    dedup_keys: AtomicU64,
    dedup_evicted_early: AtomicU64,
    /// Our own handle on the `-wal` file, for fdatasync. Opened once it exists; SQLite removes
    /// the file only when the last connection closes, and we hold three, so the handle always
    /// names the live WAL (TRUNCATE shortens it in place).
    wal: Mutex<Option<File>>,
    wal_path: PathBuf,
    durability: Durability,
    wal_truncate_bytes: u64,
    /// The database's page size (a WAL frame holds one page).
    page_size: u64,
    /// Frames in the WAL at the last maintenance: unchanged means nothing was written since.
    last_wal_frames: AtomicU64,
}

impl SqliteBackend {
    /// Open (creating the file and its parent directory) and migrate to the latest schema,
    /// with the default dedup limits (24 h, [`super::dedup::DEFAULT_MAX_KEYS`]).
    ///
    /// # Errors
    /// The directory or file cannot be created or opened, WAL mode is refused, or the schema
    /// is newer than this build.
    pub fn open(path: &Path, ack: AckMode, sync_full: bool) -> Result<Self, StoreError> {
        Self::open_with(path, ack, sync_full, DedupLimits::default())
    }

    /// [`Self::open`] with these dedup limits: the index is rebuilt from the inbox rows
    /// received within `dedup.window` (newest first, at most `dedup.max_keys`).
    ///
    /// # Errors
    /// As [`Self::open`], or the inbox cannot be read.
    pub fn open_with(path: &Path, ack: AckMode, sync_full: bool, dedup: DedupLimits) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Sqlite(format!("cannot create {}: {e}", dir.display())))?;
        }
        let durability = match (ack, sync_full) {
            (AckMode::Durable, true) => Durability::Full,
            (AckMode::Durable, false) => Durability::NormalThenSync,
            (AckMode::Buffered { .. }, _) => Durability::Deferred,
        };
        let sync_level = if durability == Durability::Full { "FULL" } else { "NORMAL" };
        let open = |what: &str| {
            let conn = Connection::open(path)
                .map_err(|e| StoreError::Sqlite(format!("opening {} ({what}): {e}", path.display())))?;
            // Plans must not depend on bound values: with STAT4 (on in the bundled build) a
            // value bound to an indexed column made SQLite plan the dispatcher's query again at
            // every run, a third of the dispatcher's time. Our indexes fit every query anyway.
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
            Ok::<_, StoreError>(conn)
        };

        let mut writer = open("writer")?;
        let mode: String = writer.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Sqlite(format!("{} refused WAL mode (journal_mode={mode})", path.display())));
        }
        writer.pragma_update(None, "synchronous", sync_level)?;
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.busy_timeout(WRITER_BUSY_TIMEOUT)?;
        schema::migrate(&mut writer)?;
        let page_size: i64 = writer.pragma_query_value(None, "page_size", |row| row.get(0))?;
        let index = rebuild_dedup(&writer, dedup)?;

        let reader = open("reader")?;
        reader.pragma_update(None, "query_only", true)?;
        // Every listing shape (state and channel filters × bodies) plus the other reads stay cached.
        reader.set_prepared_statement_cache_capacity(READER_STATEMENT_CACHE);
        reader.busy_timeout(READER_BUSY_TIMEOUT)?;

        let checkpointer = open("checkpointer")?;
        // NORMAL or FULL: either way a checkpoint syncs the WAL before copying it and the
        // database before the WAL can be reused.
        checkpointer.pragma_update(None, "synchronous", sync_level)?;
        checkpointer.pragma_update(None, "wal_autocheckpoint", 0)?;
        checkpointer.busy_timeout(CHECKPOINT_BUSY_TIMEOUT)?;

        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            checkpointer: Mutex::new(checkpointer),
            dedup_keys: AtomicU64::new(index.len() as u64),
            dedup_evicted_early: AtomicU64::new(0),
            dedup: Mutex::new(index),
            wal: Mutex::new(None),
            wal_path: PathBuf::from(wal_path),
            durability,
            wal_truncate_bytes: WAL_TRUNCATE_BYTES,
            page_size: u64::try_from(page_size).unwrap_or(4096),
            last_wal_frames: AtomicU64::new(0),
        })
    }

    /// The `-wal` file's path.
    #[must_use]
    pub fn wal_path(&self) -> &Path {
        &self.wal_path
    }

    #[cfg(test)]
    pub(crate) fn set_wal_truncate_bytes(&mut self, bytes: u64) {
        self.wal_truncate_bytes = bytes;
    }

    /// How often the reader had to plan the statement of this listing shape again.
    #[cfg(test)]
    pub(crate) fn list_repreparations(&self, q: &InboxQuery) -> i32 {
        let conn = self.reader.lock();
        conn.prepare_cached(&list_sql(q)).map_or(-1, |s| s.get_status(rusqlite::StatementStatus::RePrepare))
    }

    /// Frames in the WAL now (after a PASSIVE checkpoint).
    #[cfg(test)]
    pub(crate) fn wal_frames(&self) -> u64 {
        self.checkpoint("PASSIVE").unwrap_or(u64::MAX)
    }

    /// The read connection (the agent runtime's reads use it too).
    pub(crate) fn lock_reader(&self) -> parking_lot::MutexGuard<'_, Connection> {
        self.reader.lock()
    }

    #[cfg(test)]
    pub(crate) fn lock_writer(&self) -> parking_lot::MutexGuard<'_, Connection> {
        self.writer.lock()
    }

    /// fdatasync the WAL file (flushes the inode, whichever descriptor wrote it).
    fn sync_wal(&self) -> Result<(), StoreError> {
        let mut wal = self.wal.lock();
        if wal.is_none() {
            match File::open(&self.wal_path) {
                Ok(f) => *wal = Some(f),
                // No WAL file: every commit is in the database file, put there by a
                // checkpoint that synced it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(StoreError::Sqlite(format!("opening {}: {e}", self.wal_path.display()))),
            }
        }
        match wal.as_ref() {
            Some(f) => {
                f.sync_data().map_err(|e| StoreError::Sqlite(format!("fdatasync {}: {e}", self.wal_path.display())))
            }
            None => Ok(()),
        }
    }

    /// One checkpoint; the frames in the WAL as it found them (0 when it could not tell).
    fn checkpoint(&self, mode: &str) -> Result<u64, StoreError> {
        let conn = self.checkpointer.lock();
        // The pragma answers (busy, wal frames, frames checkpointed); busy is not an error,
        // it only means a reader or the writer was in the way: the next round tries again.
        match conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| r.get::<_, i64>(1)) {
            Ok(frames) => Ok(u64::try_from(frames).unwrap_or(0)),
            Err(e) if is_busy(&e) => Ok(0),
            Err(e) => Err(StoreError::Sqlite(format!("wal_checkpoint({mode}): {e}"))),
        }
    }
}

/// How many rows older than the window in a row end the rebuild's scan. Ids grow with arrival,
/// so rows below the first old one are old too, except where the clock was stepped; a run this
/// long means the scan has left the window for good.
const REBUILD_STOP_AFTER_OLD_ROWS: usize = 4096;

/// The dedup index of the rows received within the window, newest first up to the bound.
/// Rows are scanned by descending id, skipping old ones, until
/// [`REBUILD_STOP_AFTER_OLD_ROWS`] old rows in a row (or the bound) end it.
fn rebuild_dedup(conn: &Connection, limits: DedupLimits) -> Result<DedupIndex, StoreError> {
    let mut index = DedupIndex::new(limits.max_keys);
    let window_ms = u64::try_from(limits.window.as_millis()).unwrap_or(u64::MAX);
    let cutoff = crate::app::unix_ms().saturating_sub(window_ms);
    let mut stmt = conn.prepare("SELECT id, channel, delivery_id, received_ms FROM inbox ORDER BY id DESC")?;
    let mut rows = stmt.query([])?;
    let mut keys = Vec::new();
    let mut old_in_a_row = 0usize;
    while let Some(r) = rows.next()? {
        let received_ms = ms(r.get(3)?);
        if received_ms < cutoff {
            old_in_a_row += 1;
            if old_in_a_row >= REBUILD_STOP_AFTER_OLD_ROWS {
                break;
            }
            continue;
        }
        old_in_a_row = 0;
        if keys.len() >= limits.max_keys {
            break;
        }
        let (channel, delivery_id): (String, String) = (r.get(1)?, r.get(2)?);
        keys.push((index.key(&channel, &delivery_id), r.get::<_, i64>(0)?, received_ms));
    }
    for (key, id, received_ms) in keys.into_iter().rev() {
        index.remember(key, id, received_ms);
    }
    Ok(index)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// Unix ms to the column type; values past `i64::MAX` (year 292 million) saturate.
fn col(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A column back to Unix ms; a negative value (never written by us) reads as 0.
fn ms(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn limit_col(limit: usize) -> i64 {
    i64::try_from(limit.min(MAX_QUERY_LIMIT)).unwrap_or(0)
}

fn headers_json(headers: &[(String, String)]) -> String {
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        match map.get_mut(name) {
            Some(serde_json::Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(value);
            }
            _ => {
                map.insert(name.clone(), serde_json::Value::String(value.clone()));
            }
        }
    }
    serde_json::Value::Object(map).to_string()
}

fn apply_one(tx: &Connection, dedup: &mut DedupIndex, op: &WriteOp<'_>, now: i64) -> rusqlite::Result<Outcome> {
    Ok(match *op {
        WriteOp::Append { delivery, dedup_window_ms } => {
            Outcome::Appended(append(tx, dedup, delivery, dedup_window_ms, now)?)
        }
        WriteOp::SetState { ids, state, error } => {
            let mut stmt =
                tx.prepare_cached("UPDATE inbox SET state = ?1, error = ?2, updated_ms = ?3 WHERE id = ?4")?;
            let mut changed = 0u64;
            for id in ids {
                changed += stmt.execute(params![state.as_str(), error, now, id])? as u64;
            }
            Outcome::Changed(changed)
        }
        WriteOp::Replay { id } => {
            let n = tx
                .prepare_cached(
                    "UPDATE inbox SET state = 'received', attempts = attempts + 1, error = NULL, updated_ms = ?1 \
                     WHERE id = ?2",
                )?
                .execute(params![now, id])?;
            Outcome::Replayed(if n == 0 { None } else { get_inbox(tx, id)? })
        }
        WriteOp::ResumeUnfinished { since_ms } => Outcome::Changed(
            tx.prepare_cached(
                "UPDATE inbox SET state = 'received', updated_ms = ?1 WHERE state = 'dispatched' AND updated_ms >= ?2",
            )?
            .execute(params![now, i64::try_from(since_ms).unwrap_or(i64::MAX)])? as u64,
        ),
        WriteOp::KvPut { key, value } => {
            tx.prepare_cached(
                "INSERT INTO kv (key, value, updated_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
            )?
            .execute(params![key, value, now])?;
            Outcome::Put
        }
        WriteOp::OutboxEnqueue { message } => Outcome::Enqueued(enqueue(tx, message)?),
        WriteOp::OutboxSetState { id, state, next_attempt_ms, error } => Outcome::Changed(
            tx.prepare_cached(
                "UPDATE outbox SET state = ?1, attempts = attempts + 1, next_attempt_ms = ?2, error = ?3 WHERE id = ?4",
            )?
            .execute(params![state.as_str(), col(next_attempt_ms), error, id])? as u64,
        ),
        WriteOp::PruneDedup { before_ms, limit } => Outcome::Changed(dedup.prune(before_ms, limit)),
        WriteOp::Agent(write) => Outcome::Agent(super::sqlite_agent::apply(tx, write, now)?),
    })
}

fn append(
    tx: &Connection,
    dedup: &mut DedupIndex,
    d: &NewDelivery,
    window_ms: u64,
    now: i64,
) -> rusqlite::Result<Appended> {
    let key = dedup.key(d.channel, &d.delivery_id);
    if let Some(id) = dedup.candidate(key) {
        // Confirm against the row: the index holds hashes, and only the row's own key makes
        // this delivery a repeat.
        let first_ms: Option<i64> = tx
            .prepare_cached("SELECT received_ms FROM inbox WHERE id = ?1 AND channel = ?2 AND delivery_id = ?3")?
            .query_row(params![id, d.channel, d.delivery_id], |r| r.get(0))
            .optional()?;
        // A delivery stamped before the stored one (clock step) counts as inside the window.
        if first_ms.is_some_and(|first| d.received_ms.saturating_sub(ms(first)) < window_ms) {
            tx.prepare_cached("UPDATE inbox SET duplicates = duplicates + 1 WHERE id = ?1")?.execute(params![id])?;
            return Ok(Appended::Duplicate { id });
        }
    }
    tx.prepare_cached(
        "INSERT INTO inbox (channel, delivery_id, received_ms, updated_ms, state, headers, body_len) \
         VALUES (?1, ?2, ?3, ?4, 'received', ?5, ?6)",
    )?
    .execute(params![
        d.channel,
        d.delivery_id,
        col(d.received_ms),
        now,
        headers_json(&d.headers),
        col(d.body.len() as u64)
    ])?;
    let id = tx.last_insert_rowid();
    tx.prepare_cached("INSERT INTO inbox_body (id, body) VALUES (?1, ?2)")?.execute(params![id, d.body])?;
    // Remembered before the commit: if the commit fails, the store fail-stops and no later
    // write consults the index again.
    dedup.remember(key, id, d.received_ms);
    Ok(Appended::Stored { id })
}

pub(super) fn enqueue(tx: &Connection, m: &NewOutbound) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO outbox (channel, target, body, state, created_ms, next_attempt_ms) \
         VALUES (?1, ?2, ?3, 'pending', ?4, ?4)",
    )?
    .execute(params![m.channel, m.target, m.body, col(m.created_ms)])?;
    Ok(tx.last_insert_rowid())
}

/// An inbox row with its body (`i` is the inbox, `b` its body).
const INBOX_COLS: &str = "i.id, i.channel, i.delivery_id, i.received_ms, i.updated_ms, i.state, i.attempts, \
                          i.duplicates, i.error, i.headers, b.body, i.body_len";
/// The same columns with an empty body in place of the stored one (no join, no body read).
const INBOX_COLS_NO_BODY: &str = "i.id, i.channel, i.delivery_id, i.received_ms, i.updated_ms, i.state, i.attempts, \
                                  i.duplicates, i.error, i.headers, X'', i.body_len";
/// Rows with their bodies.
const WITH_BODY: &str = "FROM inbox i JOIN inbox_body b ON b.id = i.id";

fn bad_value(idx: usize, why: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(StoreError::Sqlite(why)))
}

fn count(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(if v < 0 { 0 } else { u32::MAX })
}

fn inbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InboxEntry> {
    let state: String = r.get(5)?;
    let headers: String = r.get(9)?;
    Ok(InboxEntry {
        id: r.get(0)?,
        channel: r.get(1)?,
        delivery_id: r.get(2)?,
        received_ms: ms(r.get(3)?),
        updated_ms: ms(r.get(4)?),
        state: InboxState::parse(&state).ok_or_else(|| bad_value(5, format!("unknown inbox state {state:?}")))?,
        attempts: count(r.get(6)?),
        duplicates: count(r.get(7)?),
        error: r.get(8)?,
        headers: serde_json::from_str(&headers).map_err(|e| bad_value(9, format!("stored headers: {e}")))?,
        body: r.get(10)?,
        body_len: r.get::<_, i64>(11).map(|n| u64::try_from(n).unwrap_or(0))?,
    })
}

/// The statement of one listing shape: `?1` is the id to start after, `?2` the limit, `?3` the
/// channel and `?4` the state when filtered. One statement per shape, so each uses its index
/// ((state, id) or (channel, id)).
fn list_sql(q: &InboxQuery) -> String {
    let (cols, from) = if q.bodies { (INBOX_COLS, WITH_BODY) } else { (INBOX_COLS_NO_BODY, "FROM inbox i") };
    let channel = if q.channel.is_some() { "i.channel = ?3 AND " } else { "" };
    let state = if q.state.is_some() { "i.state = ?4 AND " } else { "" };
    format!("SELECT {cols} {from} WHERE {channel}{state}i.id > ?1 ORDER BY i.id LIMIT ?2")
}

fn get_inbox(conn: &Connection, id: i64) -> rusqlite::Result<Option<InboxEntry>> {
    conn.prepare_cached(&format!("SELECT {INBOX_COLS} {WITH_BODY} WHERE i.id = ?1"))?
        .query_row(params![id], inbox_row)
        .optional()
}

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    let state: String = r.get(4)?;
    Ok(OutboxEntry {
        id: r.get(0)?,
        channel: r.get(1)?,
        target: r.get(2)?,
        body: r.get(3)?,
        state: OutboxState::parse(&state).ok_or_else(|| bad_value(4, format!("unknown outbox state {state:?}")))?,
        attempts: count(r.get(5)?),
        created_ms: ms(r.get(6)?),
        next_attempt_ms: ms(r.get(7)?),
        error: r.get(8)?,
    })
}

impl Backend for SqliteBackend {
    fn apply(&self, writes: &[WriteOp<'_>], now_ms: u64) -> Result<Applied, StoreError> {
        let now = col(now_ms);
        let mut conn = self.writer.lock();
        let mut dedup = self.dedup.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut outcomes = Vec::with_capacity(writes.len());
        for op in writes {
            outcomes.push(apply_one(&tx, &mut dedup, op, now)?);
        }
        self.dedup_keys.store(dedup.len() as u64, Ordering::Relaxed);
        self.dedup_evicted_early.store(dedup.evicted_early(), Ordering::Relaxed);
        drop(dedup);
        let started = Instant::now();
        tx.commit()?;
        let sync_micros = match self.durability {
            Durability::Full => micros(started),
            Durability::NormalThenSync => {
                let started = Instant::now();
                self.sync_wal()?;
                micros(started)
            }
            Durability::Deferred => 0,
        };
        Ok(Applied { outcomes, sync_micros })
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.sync_wal()
    }

    fn agent_reads(&self) -> Option<&dyn super::agent::AgentReads> {
        Some(self)
    }

    fn dedup_stats(&self) -> DedupStats {
        DedupStats {
            keys: self.dedup_keys.load(Ordering::Relaxed),
            evicted_early: self.dedup_evicted_early.load(Ordering::Relaxed),
        }
    }

    fn maintain(&self) -> Result<bool, StoreError> {
        let mut frames = self.checkpoint("PASSIVE")?;
        if frames.saturating_mul(self.page_size) > WAL_RESTART_BYTES {
            frames = self.checkpoint("RESTART")?;
        }
        let wal_bytes = std::fs::metadata(&self.wal_path).map_or(0, |m| m.len());
        if wal_bytes > self.wal_truncate_bytes {
            self.checkpoint("TRUNCATE")?;
        }
        // A checkpoint leaves the frame count as it is (only the next commit starts the WAL
        // over), so "written since last time" is a change in the count, not a count above 0.
        let last = self.last_wal_frames.swap(frames, Ordering::Relaxed);
        Ok(frames != last)
    }

    fn list(&self, q: &InboxQuery) -> Result<Vec<InboxEntry>, StoreError> {
        let conn = self.reader.lock();
        let after = q.after.unwrap_or(i64::MIN);
        let limit = limit_col(q.limit);
        // Rows are taken while the bodies loaded stay under the budget (at least one row).
        let mut loaded = 0u64;
        let within_budget = |row: &rusqlite::Result<InboxEntry>| {
            let fits = loaded < MAX_BODY_BYTES_PER_QUERY;
            if let Ok(e) = row {
                loaded += e.body.len() as u64;
            }
            fits
        };
        let mut stmt = conn.prepare_cached(&list_sql(q))?;
        stmt.raw_bind_parameter(1, after)?;
        stmt.raw_bind_parameter(2, limit)?;
        if let Some(ch) = &q.channel {
            stmt.raw_bind_parameter(3, ch)?;
        }
        if let Some(st) = q.state {
            stmt.raw_bind_parameter(4, st.as_str())?;
        }
        let rows: rusqlite::Result<Vec<InboxEntry>> =
            stmt.raw_query().mapped(inbox_row).take_while(within_budget).collect();
        Ok(rows?)
    }

    fn get(&self, id: i64) -> Result<Option<InboxEntry>, StoreError> {
        Ok(get_inbox(&self.reader.lock(), id)?)
    }

    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.reader.lock();
        let mut stmt = conn.prepare_cached("SELECT value FROM kv WHERE key = ?1")?;
        Ok(stmt.query_row(params![key], |r| r.get(0)).optional()?)
    }

    fn counts_by_channel(&self) -> Result<Vec<(String, InboxState, u64)>, StoreError> {
        let conn = self.reader.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT channel, state, COUNT(*) FROM inbox GROUP BY channel, state ORDER BY channel, state",
        )?;
        let rows = stmt.query_map([], |r| {
            let state: String = r.get(1)?;
            Ok((
                r.get::<_, String>(0)?,
                InboxState::parse(&state).ok_or_else(|| bad_value(1, format!("unknown inbox state {state:?}")))?,
                ms(r.get(2)?),
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn outbox_due(&self, now_ms: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let conn = self.reader.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, channel, target, body, state, attempts, created_ms, next_attempt_ms, error FROM outbox \
             WHERE state = 'pending' AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![col(now_ms), limit_col(limit)], outbox_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}
