//! The narrow interface between the store's writer and a database: one call is one
//! transaction of writes, plus the reads the gateway needs.
//!
//! Guarantees a backend must keep (the writer and the acks rely on them):
//! - [`Backend::apply`] applies every write in order in ONE transaction and returns one
//!   [`Outcome`] per write, in the same order, only after the commit succeeded and (if the
//!   backend was opened durable) reached the disk. On `Err` nothing may be assumed about what
//!   reached the disk; the writer fail-stops and never calls `apply` again.
//! - [`Backend::sync`] makes every commit that returned before the call durable.
//! - Reads never wait for the writer's transaction (SQLite: a separate connection in WAL mode;
//!   PostgreSQL: another pooled connection).
//!
//! A PostgreSQL backend would implement this trait; the writer, the `Store` handle and its
//! callers would not change.

use super::types::{
    Appended, InboxEntry, InboxQuery, InboxState, NewDelivery, NewOutbound, OutboxEntry, OutboxState, StoreError,
};

/// One write inside a transaction.
#[derive(Debug, Clone, Copy)]
pub enum WriteOp<'a> {
    /// Store a delivery unless its `(channel, delivery_id)` was stored within the window
    /// (measured on `received_ms`); a duplicate bumps the original's `duplicates`.
    Append {
        /// The delivery.
        delivery: &'a NewDelivery,
        /// The dedup window, ms.
        dedup_window_ms: u64,
    },
    /// Set the state (and error text) of these inbox rows; missing ids are skipped.
    SetState {
        /// Rows.
        ids: &'a [i64],
        /// New state.
        state: InboxState,
        /// Error text (`None` clears it).
        error: Option<&'a str>,
    },
    /// Put a row back to `received`, count one more attempt, clear its error.
    Replay {
        /// Row.
        id: i64,
    },
    /// Every `dispatched` row last changed at or after `since_ms` back to `received` (at start,
    /// after a crash or a stop). Older ones stay `dispatched` (still listed and replayable).
    ResumeUnfinished {
        /// Oldest `updated_ms` resumed.
        since_ms: u64,
    },
    /// Insert or replace a key.
    KvPut {
        /// Key.
        key: &'a str,
        /// Value.
        value: &'a [u8],
    },
    /// Queue an outbound message (state `pending`, due at its `created_ms`).
    OutboxEnqueue {
        /// The message.
        message: &'a NewOutbound,
    },
    /// Record one delivery attempt of an outbound message: `attempts + 1`, the new state,
    /// when to try next, and the error.
    OutboxSetState {
        /// Row.
        id: i64,
        /// New state.
        state: OutboxState,
        /// Not before this, Unix ms.
        next_attempt_ms: u64,
        /// The attempt's error.
        error: Option<&'a str>,
    },
    /// A write of the agent runtime (sessions, transcripts, turns).
    Agent(&'a super::agent::AgentWrite),
    /// Forget at most `limit` dedup keys received before `before_ms` (the rows stay).
    PruneDedup {
        /// Cut-off, Unix ms.
        before_ms: u64,
        /// Most keys to delete in this transaction (keeps the writer's pause short).
        limit: usize,
    },
}

/// The result of one [`WriteOp`], in the same position.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// For `Append`.
    Appended(Appended),
    /// For `SetState`, `ResumeUnfinished`, `OutboxSetState` and `PruneDedup`: rows changed.
    Changed(u64),
    /// For `Replay`: the row after the change, or `None` if there is no such row.
    Replayed(Option<InboxEntry>),
    /// For `KvPut`.
    Put,
    /// For `OutboxEnqueue`: the new row's id.
    Enqueued(i64),
    /// For `Agent`: rows changed.
    Agent(super::agent::AgentOutcome),
}

/// What a committed transaction returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// One per write, in order.
    pub outcomes: Vec<Outcome>,
    /// Time spent making it durable, µs (0 if the backend does not sync on commit).
    pub sync_micros: u64,
}

/// The dedup index's size, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DedupStats {
    /// Keys held now.
    pub keys: u64,
    /// Keys forgotten before their window ended because the index was full.
    pub evicted_early: u64,
}

/// A database the store can run on.
pub trait Backend: Send + Sync {
    /// Apply `writes` in order as one transaction and commit it. `now_ms` stamps `updated_ms`.
    ///
    /// # Errors
    /// Any failure; the caller treats it as fatal.
    fn apply(&self, writes: &[WriteOp<'_>], now_ms: u64) -> Result<Applied, StoreError>;

    /// Make every commit so far durable (buffered mode's periodic sync).
    ///
    /// # Errors
    /// The sync failed; the caller treats it as fatal.
    fn sync(&self) -> Result<(), StoreError>;

    /// The dedup index's size (a backend that keeps no index in memory reports zeros).
    fn dedup_stats(&self) -> DedupStats {
        DedupStats::default()
    }

    /// Periodic maintenance off the writer's path (SQLite: WAL checkpoints). `true` asks to be
    /// called again soon (there was work to do).
    ///
    /// # Errors
    /// A failure that makes committed data unsafe; the caller treats it as fatal. Transient
    /// contention is not an error.
    fn maintain(&self) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// The agent runtime's reads, if this backend stores sessions (SQLite does).
    fn agent_reads(&self) -> Option<&dyn super::agent::AgentReads> {
        None
    }

    /// Inbox rows matching `query` (limit already capped by the caller).
    ///
    /// # Errors
    /// The query failed.
    fn list(&self, query: &InboxQuery) -> Result<Vec<InboxEntry>, StoreError>;

    /// One inbox row.
    ///
    /// # Errors
    /// The query failed.
    fn get(&self, id: i64) -> Result<Option<InboxEntry>, StoreError>;

    /// A kv value.
    ///
    /// # Errors
    /// The query failed.
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Row counts per channel and state (only pairs that have rows).
    ///
    /// # Errors
    /// The query failed.
    fn counts_by_channel(&self) -> Result<Vec<(String, InboxState, u64)>, StoreError>;

    /// `pending` outbox rows due at `now_ms`, oldest due first.
    ///
    /// # Errors
    /// The query failed.
    fn outbox_due(&self, now_ms: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;
}
