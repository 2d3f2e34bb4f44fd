//! The embedded store: the webhook inbox, its dedup keys, a small key-value table, the
//! outbox and the agent's sessions, transcripts and turns ([`agent`]), in SQLite (WAL mode) behind a narrow [`Backend`] trait, written by one
//! group-commit writer thread.
//!
//! Guarantees:
//! - **An ack means durable.** In [`AckMode::Durable`] the callback of [`Store::submit`] runs
//!   only after the transaction holding the record has committed *and* reached the disk. In
//!   [`AckMode::Buffered`] it runs after the commit; a sync every `sync_interval` covers it
//!   later, and [`StoreStats::unsynced_records`] is the window that a power loss could take.
//! - **One writer.** Every write (deliveries, state changes, replays, kv, outbox) goes through
//!   the writer thread's bounded queue, which applies everything waiting as ONE transaction
//!   ([`writer`]). Reads use their own connection and never wait on it.
//! - **Fail-stop.** The first failed commit or sync stops the store for good: that batch and
//!   everything queued behind it are answered [`StoreError::Failed`], never success, and every
//!   later submit is refused at once. No commit is ever retried.
//! - **Exactly one answer.** Every accepted submission's callback runs exactly once, including
//!   across [`Store::shutdown`], which drains and answers everything already accepted.
//! - **Bounded.** The submit queue, the transaction size, the WAL file
//!   ([`sqlite::WAL_TRUNCATE_BYTES`]) and every query's row count are bounded.

pub mod agent;
pub mod backend;
pub mod dedup;
mod handle;
pub mod lock;
pub mod schema;
pub mod sqlite;
mod sqlite_agent;
mod sync;
mod types;
pub mod writer;

#[cfg(test)]
mod tests;

pub use agent::{
    AgentOutcome, AgentReads, AgentWrite, IMPORT_RUN_PREFIX, ImportedMessage, ImportedSession, InboxOutcome,
    InboxReply, MessageRow, ModelUsage, NewMessage, SessionOrigin, SessionRow, TurnRow, TurnState,
};
pub use backend::{Applied, Backend, DedupStats, Outcome, WriteOp};
pub use dedup::DedupLimits;
pub use handle::{DoneFn, Store};
pub use sqlite::SqliteBackend;
pub use types::{
    AckFn, AckMode, Appended, InboxEntry, InboxQuery, InboxState, LogFn, MAX_BODY_BYTES_PER_QUERY, MAX_QUERY_LIMIT,
    NewDelivery, NewOutbound, OutboxEntry, OutboxState, RECORDS_PER_SYNC_BUCKETS, StoreError, StoreOptions, StoreStats,
};
