//! The group-commit writer thread, the queued writes it takes, and the state it shares with
//! the `Store` handle (fail-stop flag, counters).
//!
//! Guarantees:
//! - **Group commit.** The thread blocks for the first queued write, then takes every write
//!   already waiting (up to `max_batch`); in durable mode it may wait up to `gather` for the
//!   senders the previous commit answered (see [`gather`]), then applies them as ONE
//!   transaction ([`Backend::apply`]) and only then answers their callbacks, in queue order.
//!   While it commits and syncs, new writes fill the bounded queue: that queue is the second
//!   buffer of the double buffer.
//! - **Fail-stop.** An error from `apply` (or a panic in it, or a malformed answer) is never
//!   retried: every callback of that batch gets [`StoreError::Failed`], the shared flag is set
//!   (the first reason is kept), and every write that reaches the thread afterwards is
//!   answered `Failed` without touching the database.
//! - **Exactly once.** A [`Reply`] runs its callback once: when answered, or with
//!   [`StoreError::Closed`] if it is dropped unanswered. A panicking callback is caught and
//!   logged; it cannot take the writer down with it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use parking_lot::Mutex;

use super::agent::{AgentOutcome, AgentWrite};
use super::backend::{Applied, Backend, Outcome, WriteOp};
use super::types::{
    Appended, HIST_SLOTS, InboxEntry, InboxState, LogFn, NewDelivery, NewOutbound, OutboxState,
    RECORDS_PER_SYNC_BUCKETS, StoreError,
};

/// How often the writer adds a prune of expired dedup keys to a batch.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Dedup keys deleted per prune; small enough that the batch carrying it is not held up
/// noticeably. A prune that hits the limit is followed by another on the next batch.
pub const PRUNE_LIMIT: usize = 2000;

/// A callback for a result of type `T`.
pub(crate) type Callback<T> = Box<dyn FnOnce(Result<T, StoreError>) + Send>;

/// A callback that runs exactly once: when [`Reply::send`] is called, or with
/// [`StoreError::Closed`] when dropped without it (the thread that should have answered is
/// gone).
pub(crate) struct Reply<T>(Option<Callback<T>>);

impl<T> Reply<T> {
    pub(crate) fn new(f: Callback<T>) -> Self {
        Self(Some(f))
    }

    /// Run the callback; a panic in it is caught and reported as `true`.
    pub(crate) fn send(mut self, result: Result<T, StoreError>) -> bool {
        self.0.take().is_some_and(|f| catch_unwind(AssertUnwindSafe(move || f(result))).is_err())
    }

    /// The callback, unrun (for a submission refused before it was queued).
    pub(crate) fn into_callback(mut self) -> Callback<T> {
        self.0.take().unwrap_or_else(|| Box::new(|_| {}))
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            // Catching matters here: a panic while already unwinding would abort.
            let _ = catch_unwind(AssertUnwindSafe(move || f(Err(StoreError::Closed))));
        }
    }
}

/// A write waiting in the queue, with whoever waits for its result.
pub(crate) enum Op {
    Append { delivery: NewDelivery, ack: Reply<Appended> },
    SetState { ids: Vec<i64>, state: InboxState, error: Option<String> },
    Replay { id: i64, done: Reply<InboxEntry> },
    Resume { since_ms: u64, done: Reply<u64> },
    KvPut { key: String, value: Vec<u8>, done: Reply<()> },
    OutboxEnqueue { message: NewOutbound, done: Reply<i64> },
    OutboxSetState { id: i64, state: OutboxState, next_attempt_ms: u64, error: Option<String>, done: Reply<()> },
    // Boxed: the largest write by far, and `Op`s sit in the batch vector.
    Agent { write: Box<AgentWrite>, done: Reply<AgentOutcome> },
}

impl Op {
    fn as_write(&self, dedup_window_ms: u64) -> WriteOp<'_> {
        match self {
            Self::Append { delivery, .. } => WriteOp::Append { delivery, dedup_window_ms },
            Self::SetState { ids, state, error } => WriteOp::SetState { ids, state: *state, error: error.as_deref() },
            Self::Replay { id, .. } => WriteOp::Replay { id: *id },
            Self::Resume { since_ms, .. } => WriteOp::ResumeUnfinished { since_ms: *since_ms },
            Self::KvPut { key, value, .. } => WriteOp::KvPut { key, value },
            Self::OutboxEnqueue { message, .. } => WriteOp::OutboxEnqueue { message },
            Self::OutboxSetState { id, state, next_attempt_ms, error, .. } => WriteOp::OutboxSetState {
                id: *id,
                state: *state,
                next_attempt_ms: *next_attempt_ms,
                error: error.as_deref(),
            },
            Self::Agent { write, .. } => WriteOp::Agent(write),
        }
    }

    /// Answer with an error (the write did not happen, or its result cannot be trusted).
    pub(crate) fn fail(self, err: StoreError, shared: &Shared) {
        let panicked = match self {
            Self::Append { ack, .. } => ack.send(Err(err)),
            Self::SetState { ids, state, .. } => {
                shared.log(&format!(
                    "store: state change to {} of {} rows not written: {err}",
                    state.as_str(),
                    ids.len()
                ));
                false
            }
            Self::Replay { done, .. } => done.send(Err(err)),
            Self::Resume { done, .. } => done.send(Err(err)),
            Self::KvPut { done, .. } | Self::OutboxSetState { done, .. } => done.send(Err(err)),
            Self::OutboxEnqueue { done, .. } => done.send(Err(err)),
            Self::Agent { done, .. } => done.send(Err(err)),
        };
        shared.note_panic(panicked);
    }

    /// Answer with the committed outcome.
    fn finish(self, outcome: Outcome, shared: &Shared) {
        let panicked = match (self, outcome) {
            (Self::Append { ack, .. }, Outcome::Appended(a)) => ack.send(Ok(a)),
            (Self::SetState { .. }, Outcome::Changed(_)) => false,
            (Self::Replay { done, .. }, Outcome::Replayed(entry)) => done.send(entry.ok_or(StoreError::NotFound)),
            (Self::Resume { done, .. }, Outcome::Changed(n)) => done.send(Ok(n)),
            (Self::KvPut { done, .. }, Outcome::Put) => done.send(Ok(())),
            (Self::OutboxEnqueue { done, .. }, Outcome::Enqueued(id)) => done.send(Ok(id)),
            (Self::Agent { done, .. }, Outcome::Agent(n)) => done.send(Ok(n)),
            (Self::OutboxSetState { done, .. }, Outcome::Changed(n)) => {
                done.send(if n == 0 { Err(StoreError::NotFound) } else { Ok(()) })
            }
            (op, other) => {
                // A backend bug: the write committed but its result is not what it should be.
                op.fail(StoreError::Sqlite(format!("backend answered {other:?} to a different write")), shared);
                false
            }
        };
        shared.note_panic(panicked);
    }
}

/// State shared by the handle, the writer, the sync and the checkpoint threads.
pub(crate) struct Shared {
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    log: LogFn,
    pub(crate) batches: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) syncs: AtomicU64,
    pub(crate) sync_failures: AtomicU64,
    pub(crate) last_batch: AtomicU64,
    pub(crate) max_batch: AtomicU64,
    pub(crate) sync_micros: AtomicU64,
    /// Writes committed so far (buffered mode compares it with `synced`).
    pub(crate) committed: AtomicU64,
    /// Writes covered by the last successful sync.
    pub(crate) synced: AtomicU64,
    pub(crate) hist: [AtomicU64; HIST_SLOTS],
}

impl Shared {
    pub(crate) fn new(log: LogFn) -> Self {
        Self {
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            log,
            batches: AtomicU64::new(0),
            records: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            sync_failures: AtomicU64::new(0),
            last_batch: AtomicU64::new(0),
            max_batch: AtomicU64::new(0),
            sync_micros: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            hist: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    pub(crate) fn log(&self, line: &str) {
        (self.log)(line);
    }

    fn note_panic(&self, panicked: bool) {
        if panicked {
            self.log("store: a completion callback panicked (caught; the writer goes on)");
        }
    }

    /// Fail-stop. The first reason is the one kept and reported.
    pub(crate) fn fail(&self, why: String) {
        let mut slot = self.failure.lock();
        if slot.is_none() {
            self.log(&format!("store: FAILED, refusing all writes from now on: {why}"));
            *slot = Some(why);
            self.failed.store(true, Ordering::Release);
        }
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    pub(crate) fn failure(&self) -> Option<String> {
        if self.is_failed() { self.failure.lock().clone() } else { None }
    }

    /// Count one sync that made `records` writes durable.
    pub(crate) fn record_sync(&self, records: u64, micros: u64) {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.sync_micros.fetch_add(micros, Ordering::Relaxed);
        let slot =
            RECORDS_PER_SYNC_BUCKETS.iter().position(|&b| records <= b).unwrap_or(RECORDS_PER_SYNC_BUCKETS.len());
        if let Some(h) = self.hist.get(slot) {
            h.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The writer's settings.
pub(crate) struct WriterConfig {
    pub(crate) max_batch: usize,
    pub(crate) dedup_window_ms: u64,
    /// Durable: each commit is a sync (counted here). Buffered: the sync thread counts.
    pub(crate) durable: bool,
    /// Durable mode: how long a batch may wait for the senders the last commit just answered
    /// (see [`gather`]); zero commits at once.
    pub(crate) gather: Duration,
}

/// The writer thread's body: runs until every sender is gone and the queue is empty.
pub(crate) fn run(rx: &Receiver<Box<Op>>, backend: &dyn Backend, shared: &Shared, cfg: &WriterConfig) {
    let mut batch: Vec<Op> = Vec::with_capacity(cfg.max_batch.min(4096));
    let mut next_prune = Instant::now();
    // `recv` hands out what is queued before it reports that the senders are gone, so the
    // loop drains everything accepted before a shutdown.
    let mut last_answered = 0usize;
    while let Ok(first) = rx.recv() {
        batch.push(*first);
        while batch.len() < cfg.max_batch {
            match rx.try_recv() {
                Ok(op) => batch.push(*op),
                Err(_) => break,
            }
        }
        if cfg.durable && !cfg.gather.is_zero() {
            gather(rx, &mut batch, last_answered, cfg);
        }
        last_answered = batch.len();
        let prune = (cfg.dedup_window_ms > 0 && Instant::now() >= next_prune).then(|| WriteOp::PruneDedup {
            before_ms: crate::app::unix_ms().saturating_sub(cfg.dedup_window_ms),
            limit: PRUNE_LIMIT,
        });
        let pruned = commit(&mut batch, prune, backend, shared, cfg);
        if prune.is_some() {
            next_prune = if pruned >= PRUNE_LIMIT as u64 { Instant::now() } else { Instant::now() + PRUNE_INTERVAL };
        }
    }
    // Buffered mode: the last commits are synced here, by the thread that made them, so a
    // clean stop leaves nothing unsynced whatever order the other threads stop in.
    if !cfg.durable {
        super::sync::sync_once(backend, shared);
    }
}

/// Wait up to `cfg.gather` for the senders the previous commit answered to come back.
///
/// Why: with closed-loop senders (each waits for its ack before sending again) and no wait,
/// the senders split into two groups that take turns, each sync carrying half of them, since
/// those acked by one sync come back while the next one is already running. Expecting as many
/// writes as the last batch plus what was queued behind it, and waiting a fraction of a sync
/// for them, lets one sync carry all of them (PostgreSQL's `commit_delay`). It never waits
/// when the batch already holds that many, and never longer than `cfg.gather`.
fn gather(rx: &Receiver<Box<Op>>, batch: &mut Vec<Op>, last_answered: usize, cfg: &WriterConfig) {
    let expected = last_answered.saturating_add(rx.len()).min(cfg.max_batch);
    let deadline = Instant::now() + cfg.gather;
    while batch.len() < expected {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(op) => batch.push(*op),
            Err(_) => break,
        }
    }
}

/// Apply one batch and answer it; returns how many dedup keys were pruned.
fn commit(
    batch: &mut Vec<Op>,
    prune: Option<WriteOp<'static>>,
    backend: &dyn Backend,
    shared: &Shared,
    cfg: &WriterConfig,
) -> u64 {
    let n = batch.len();
    if let Some(why) = shared.failure() {
        for op in batch.drain(..) {
            op.fail(StoreError::Failed(why.clone()), shared);
        }
        return 0;
    }
    let result = {
        let writes: Vec<WriteOp<'_>> = batch.iter().map(|op| op.as_write(cfg.dedup_window_ms)).chain(prune).collect();
        let now = crate::app::unix_ms();
        match catch_unwind(AssertUnwindSafe(|| backend.apply(&writes, now))) {
            Ok(Ok(applied)) if applied.outcomes.len() == writes.len() => Ok(applied),
            Ok(Ok(applied)) => {
                Err(format!("backend answered {} results to {} writes", applied.outcomes.len(), writes.len()))
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("backend panicked".to_owned()),
        }
    };
    let Applied { mut outcomes, sync_micros } = match result {
        Ok(applied) => applied,
        Err(e) => {
            shared.sync_failures.fetch_add(1, Ordering::Relaxed);
            let why = format!("committing a batch of {n} writes failed: {e}");
            shared.fail(why.clone());
            for op in batch.drain(..) {
                op.fail(StoreError::Failed(why.clone()), shared);
            }
            return 0;
        }
    };
    let pruned = match prune.and_then(|_| outcomes.pop()) {
        Some(Outcome::Changed(k)) => k,
        _ => 0,
    };

    // Counters first, so that whoever is acked sees them already covering its write.
    let (mut stored, mut dups) = (0u64, 0u64);
    for o in &outcomes {
        match o {
            Outcome::Appended(Appended::Stored { .. }) => stored += 1,
            Outcome::Appended(Appended::Duplicate { .. }) => dups += 1,
            _ => {}
        }
    }
    let n = n as u64;
    shared.batches.fetch_add(1, Ordering::Relaxed);
    shared.records.fetch_add(stored, Ordering::Relaxed);
    shared.duplicates.fetch_add(dups, Ordering::Relaxed);
    shared.last_batch.store(n, Ordering::Relaxed);
    shared.max_batch.fetch_max(n, Ordering::Relaxed);
    // Release: the sync thread that reads this must see a count no larger than what the WAL
    // file already holds.
    shared.committed.fetch_add(n, Ordering::Release);
    if cfg.durable {
        shared.synced.fetch_add(n, Ordering::Release);
        shared.record_sync(n, sync_micros);
    }

    for (op, outcome) in batch.drain(..).zip(outcomes) {
        op.finish(outcome, shared);
    }
    pruned
}
