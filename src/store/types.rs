//! The store's public value types: what goes in, what comes out, the options and the counters.
//!
//! Guarantees: these are plain data with no I/O; every state has one stable lower-case name
//! (what the database column holds), and parsing a name that is not one gives `None`, never a
//! guess.

use std::path::PathBuf;
use std::time::Duration;

/// Most rows one query returns; larger limits are cut to this.
pub const MAX_QUERY_LIMIT: usize = 1000;

/// Upper bounds (inclusive) of the records-per-sync histogram buckets. The histogram has one
/// more bucket than this, for everything larger.
pub const RECORDS_PER_SYNC_BUCKETS: [u64; 12] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

/// Number of buckets in [`StoreStats::records_per_sync_hist`].
pub const HIST_SLOTS: usize = RECORDS_PER_SYNC_BUCKETS.len() + 1;

/// Where an inbox row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InboxState {
    /// Stored, waiting for the dispatcher.
    Received,
    /// Handed to the dispatcher; back to `Received` at restart if it never finished.
    Dispatched,
    /// Handled.
    Done,
    /// Handling failed (the row's `error` says why); a replay puts it back to `Received`.
    Failed,
}

impl InboxState {
    /// Every state, in life order.
    pub const ALL: [Self; 4] = [Self::Received, Self::Dispatched, Self::Done, Self::Failed];

    /// The stable name, as stored.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Dispatched => "dispatched",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// The state with this stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Where an outbound message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Waiting for its `next_attempt_ms`.
    Pending,
    /// Delivered.
    Sent,
    /// Given up on.
    Failed,
}

impl OutboxState {
    /// Every state.
    pub const ALL: [Self; 3] = [Self::Pending, Self::Sent, Self::Failed];

    /// The stable name, as stored.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    /// The state with this stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// What ingestion hands the store: one verified webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The channel's stable name (`crate::webhook::Channel::name`), e.g. `"telegram"`.
    pub channel: &'static str,
    /// The channel's own delivery id; with `channel`, the dedup key.
    pub delivery_id: String,
    /// When it arrived, Unix milliseconds. The dedup window is measured on this clock.
    pub received_ms: u64,
    /// The headers that matter, stored as one JSON object (a repeated name joins its values
    /// with `", "`, as HTTP does).
    pub headers: Vec<(String, String)>,
    /// The body exactly as received.
    pub body: Vec<u8>,
}

/// What happened to a submitted delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored as a new inbox row.
    Stored {
        /// The new row's id.
        id: i64,
    },
    /// The same `(channel, delivery_id)` arrived within the dedup window; not stored again.
    Duplicate {
        /// The original row's id.
        id: i64,
    },
}

impl Appended {
    /// The inbox row id (the original's for a duplicate).
    #[must_use]
    pub const fn id(self) -> i64 {
        match self {
            Self::Stored { id } | Self::Duplicate { id } => id,
        }
    }
}

/// One inbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEntry {
    /// Row id, ascending in arrival order.
    pub id: i64,
    /// Channel name.
    pub channel: String,
    /// The channel's delivery id.
    pub delivery_id: String,
    /// Arrival, Unix ms.
    pub received_ms: u64,
    /// Last change, Unix ms.
    pub updated_ms: u64,
    /// State.
    pub state: InboxState,
    /// Replays so far.
    pub attempts: u32,
    /// Duplicate deliveries seen for it.
    pub duplicates: u32,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// The stored headers (a JSON object).
    pub headers: serde_json::Value,
    /// The body as received (empty in listings made without bodies).
    pub body: Vec<u8>,
    /// Length of the stored body.
    pub body_len: u64,
}

/// A filter over the inbox: rows with `id > after`, ascending by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxQuery {
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this state.
    pub state: Option<InboxState>,
    /// Only ids above this one (a cursor: the last id of the previous page).
    pub after: Option<i64>,
    /// Most rows to return; capped at [`MAX_QUERY_LIMIT`].
    pub limit: usize,
    /// Load the bodies. Without, `body` is empty (`body_len` still says how long it is), so a
    /// listing costs no body memory. With, a page stops early once its bodies pass
    /// [`MAX_BODY_BYTES_PER_QUERY`] (it always holds at least one row).
    pub bodies: bool,
}

/// Body bytes one query with bodies loads at most (plus the row that crosses it).
pub const MAX_BODY_BYTES_PER_QUERY: u64 = 8 * 1024 * 1024;

impl Default for InboxQuery {
    fn default() -> Self {
        Self { channel: None, state: None, after: None, limit: 100, bodies: false }
    }
}

/// An outbound channel message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutbound {
    /// Channel name.
    pub channel: String,
    /// Where it goes on that channel (chat id, webhook URL, ...).
    pub target: String,
    /// The payload.
    pub body: Vec<u8>,
    /// Unix ms; also its first `next_attempt_ms`.
    pub created_ms: u64,
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Row id.
    pub id: i64,
    /// Channel name.
    pub channel: String,
    /// Destination on that channel.
    pub target: String,
    /// Payload.
    pub body: Vec<u8>,
    /// State.
    pub state: OutboxState,
    /// Attempts recorded so far.
    pub attempts: u32,
    /// Queued at, Unix ms.
    pub created_ms: u64,
    /// Not to be tried before, Unix ms.
    pub next_attempt_ms: u64,
    /// The last attempt's error.
    pub error: Option<String>,
}

/// Why a store operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The submit queue is full; try later (ingestion answers 503).
    Full,
    /// The store is fail-stopped after a commit or sync error; the text says which.
    Failed(String),
    /// No such row.
    NotFound,
    /// Any other database error (a query, opening, a migration).
    Sqlite(String),
    /// The store is shut down.
    Closed,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full => f.write_str("store queue full"),
            Self::Failed(why) => write!(f, "store failed (stopped): {why}"),
            Self::NotFound => f.write_str("not found"),
            Self::Sqlite(why) => write!(f, "store error: {why}"),
            Self::Closed => f.write_str("store closed"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e.to_string())
    }
}

/// When a submission is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// After commit and sync to disk.
    Durable,
    /// After commit (in the OS page cache); the WAL is synced every `sync_interval`.
    Buffered {
        /// Time between syncs: the most that a power loss can take.
        sync_interval: Duration,
    },
}

/// A log sink for the store's errors (the server passes one that writes to its logger). A
/// callback rather than `crate::log`, so the store does not depend on the server's logger.
pub type LogFn = Box<dyn Fn(&str) + Send + Sync>;

/// The callback of one submission.
pub type AckFn = Box<dyn FnOnce(Result<Appended, StoreError>) + Send>;

/// How to open a store.
pub struct StoreOptions {
    /// The database file (`<data_dir>/talon.db`); its parent directory is created.
    pub path: PathBuf,
    /// When submissions are acknowledged.
    pub ack: AckMode,
    /// Bound of the writer queue (submissions and other writes together).
    pub queue_capacity: usize,
    /// Most writes in one transaction.
    pub max_batch: usize,
    /// A delivery whose key was stored less than this long before it is a duplicate.
    pub dedup_window: Duration,
    /// Most dedup keys held in memory ([`super::dedup::DedupIndex`]).
    pub dedup_max_keys: usize,
    /// `store.sync`: `"full"` (true) has SQLite sync the WAL inside each commit; `"normal"`
    /// (false) commits without it and the writer syncs the WAL itself before acking. Both are
    /// durable in [`AckMode::Durable`]; buffered mode always commits without syncing.
    pub sync_full: bool,
    /// Where errors are reported (they are also visible through [`crate::store::Store::failure`]).
    pub log: LogFn,
    /// Durable mode: how long a batch may wait for the senders the previous commit answered,
    /// so closed-loop senders share one sync instead of alternating (`store.group_commit_wait_us`).
    pub group_commit_wait: Duration,
}

impl StoreOptions {
    /// Durable defaults at `path`: queue of 8192, batches of up to 4096, a 24 h dedup window,
    /// full sync, errors to stderr.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            ack: AckMode::Durable,
            queue_capacity: 8192,
            max_batch: 4096,
            dedup_window: Duration::from_secs(86_400),
            dedup_max_keys: super::dedup::DEFAULT_MAX_KEYS,
            sync_full: true,
            log: Box::new(|line| eprintln!("{line}")),
            group_commit_wait: Duration::ZERO,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("path", &self.path)
            .field("ack", &self.ack)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch", &self.max_batch)
            .field("dedup_window", &self.dedup_window)
            .field("dedup_max_keys", &self.dedup_max_keys)
            .field("sync_full", &self.sync_full)
            .finish_non_exhaustive()
    }
}

/// Counters for `/metrics`. All are totals since open unless named otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions committed.
    pub batches: u64,
    /// Deliveries stored as new rows.
    pub records: u64,
    /// Deliveries answered as duplicates.
    pub duplicates: u64,
    /// Syncs to disk: one per batch in durable mode, one per periodic sync in buffered mode.
    pub syncs: u64,
    /// Syncs (or commits) that failed; the first one fail-stops the store.
    pub sync_failures: u64,
    /// Writes in the last committed transaction.
    pub last_batch_records: u64,
    /// Most writes in one committed transaction.
    pub max_batch_records: u64,
    /// Writes waiting in the queue now.
    pub queue_depth: usize,
    /// The queue's bound.
    pub queue_capacity: usize,
    /// Time spent syncing, µs (in durable mode with full sync, the whole commit).
    pub sync_micros_total: u64,
    /// Buffered mode: writes acknowledged but not yet covered by a sync. Always 0 when durable.
    pub unsynced_records: u64,
    /// Dedup keys held in memory now.
    pub dedup_keys: u64,
    /// Dedup keys forgotten before their window ended because the index was full.
    pub dedup_evicted_early: u64,
    /// How many writes each sync made durable: bucket `i` counts syncs with at most
    /// `RECORDS_PER_SYNC_BUCKETS[i]` writes (and more than the bucket before); the last bucket
    /// counts the rest. Not cumulative.
    pub records_per_sync_hist: [u64; HIST_SLOTS],
}
