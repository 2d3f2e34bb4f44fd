//! [`Store`]: the handle the gateway holds. It owns the writer queue and the background
//! threads, and answers reads on the backend's read side.
//!
//! Guarantees:
//! - [`Store::submit`] never blocks: a full queue, a failed store or a closed one hands the
//!   delivery and its callback straight back.
//! - Writes are only ever queued while the queue's sender is held under the read side of
//!   one lock; [`Store::shutdown`] takes the sender away under the write side. So nothing can
//!   be queued after the writer has been told to finish, and everything queued before is
//!   committed and answered before `shutdown` returns.
//! - Reads go to the backend's read side directly and never queue behind writes.

use std::sync::Arc;
use std::sync::OnceLock;
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError, bounded};
use parking_lot::{Mutex, RwLock};

use super::agent::{AgentOutcome, AgentReads, AgentWrite};
use super::backend::Backend;
use super::dedup::DedupLimits;
use super::sqlite::SqliteBackend;
use super::sync;
use super::types::{
    AckFn, AckMode, HIST_SLOTS, InboxEntry, InboxQuery, InboxState, MAX_QUERY_LIMIT, NewDelivery, NewOutbound,
    OutboxEntry, OutboxState, StoreError, StoreOptions, StoreStats,
};
use super::writer::{self, Op, Reply, Shared, WriterConfig};

/// How long one blocking enqueue waits before it checks again whether the store failed or
/// closed (so a blocked caller cannot hang on a store that will never drain).
const BLOCKING_SEND_STEP: Duration = Duration::from_millis(100);

/// A callback for writes other than submissions.
pub type DoneFn<T> = Box<dyn FnOnce(Result<T, StoreError>) + Send>;

/// The store.
pub struct Store {
    /// Boxed ops: the channel's ring of slots is allocated and touched whole at start, so
    /// a slot must be small (16 bytes, not a whole `Op`: 8192 slots are 128 KiB, not ~1 MiB).
    tx: RwLock<Option<Sender<Box<Op>>>>,
    backend: Arc<dyn Backend>,
    shared: Arc<Shared>,
    threads: Mutex<Threads>,
    /// The writer thread's id: a callback runs there, and must never wait for queue space.
    writer_id: OnceLock<ThreadId>,
    capacity: usize,
}

#[derive(Default)]
struct Threads {
    writer: Option<JoinHandle<()>>,
    /// Buffered mode's sync thread and the sender whose drop stops it.
    sync: Option<(Sender<()>, JoinHandle<()>)>,
    checkpoint: Option<(Sender<()>, JoinHandle<()>)>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("capacity", &self.capacity)
            .field("healthy", &self.healthy())
            .finish_non_exhaustive()
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(|e| StoreError::Sqlite(format!("cannot start thread {name}: {e}")))
}

impl Store {
    /// Open the SQLite store at `opts.path` (creating it and its directory, migrating it) and
    /// start the writer, checkpoint and (buffered mode) sync threads.
    ///
    /// # Errors
    /// The file cannot be opened or migrated, or a thread cannot start.
    pub fn open(opts: StoreOptions) -> Result<Self, StoreError> {
        let dedup = DedupLimits { window: opts.dedup_window, max_keys: opts.dedup_max_keys };
        let backend = SqliteBackend::open_with(&opts.path, opts.ack, opts.sync_full, dedup)?;
        Self::with_backend(Arc::new(backend), opts)
    }

    /// Run the store on any backend (opened in the mode `opts.ack` asks for). `opts.path` and
    /// `opts.sync_full` are the backend's business and are not used here.
    ///
    /// # Errors
    /// A thread cannot start.
    pub fn with_backend(backend: Arc<dyn Backend>, opts: StoreOptions) -> Result<Self, StoreError> {
        let capacity = opts.queue_capacity.max(1);
        let (tx, rx) = bounded::<Box<Op>>(capacity);
        let shared = Arc::new(Shared::new(opts.log));
        let cfg = WriterConfig {
            max_batch: opts.max_batch.max(1),
            dedup_window_ms: u64::try_from(opts.dedup_window.as_millis()).unwrap_or(u64::MAX),
            durable: opts.ack == AckMode::Durable,
            gather: opts.group_commit_wait,
        };
        let store = Self {
            tx: RwLock::new(Some(tx)),
            backend: Arc::clone(&backend),
            shared: Arc::clone(&shared),
            threads: Mutex::new(Threads::default()),
            writer_id: OnceLock::new(),
            capacity,
        };
        // From here on, a failed spawn drops `store`, whose Drop stops what did start.
        let (b, s) = (Arc::clone(&backend), Arc::clone(&shared));
        let writer = spawn("talon-store", move || writer::run(&rx, b.as_ref(), &s, &cfg))?;
        let _ = store.writer_id.set(writer.thread().id());
        store.threads.lock().writer = Some(writer);
        let (b, s) = (Arc::clone(&backend), Arc::clone(&shared));
        let (stop, stopped) = bounded::<()>(0);
        let h = spawn("talon-checkpoint", move || sync::run_checkpoints(&b, &s, &stopped))?;
        store.threads.lock().checkpoint = Some((stop, h));
        if let AckMode::Buffered { sync_interval } = opts.ack {
            let (b, s) = (backend, shared);
            let (stop, stopped) = bounded::<()>(0);
            let h = spawn("talon-store-sync", move || sync::run_sync(&b, &s, sync_interval, &stopped))?;
            store.threads.lock().sync = Some((stop, h));
        }
        Ok(store)
    }

    /// Queue one delivery. On `Ok`, `ack` runs exactly once, on the writer thread, after the
    /// transaction holding the record committed and (durable mode) reached the disk.
    ///
    /// # Errors
    /// Never blocks: a full queue ([`StoreError::Full`]), a failed store
    /// ([`StoreError::Failed`]) or a closed one ([`StoreError::Closed`]) hands the delivery
    /// and `ack` back, unrun.
    #[allow(clippy::result_large_err)]
    pub fn submit(&self, delivery: NewDelivery, ack: AckFn) -> Result<(), (NewDelivery, AckFn, StoreError)> {
        if let Some(why) = self.shared.failure() {
            return Err((delivery, ack, StoreError::Failed(why)));
        }
        let sent = match self.tx.read().as_ref() {
            None => return Err((delivery, ack, StoreError::Closed)),
            Some(tx) => tx.try_send(Box::new(Op::Append { delivery, ack: Reply::new(ack) })),
        };
        let (op, err) = match sent {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(op)) => (op, StoreError::Full),
            Err(TrySendError::Disconnected(op)) => (op, StoreError::Closed),
        };
        match *op {
            Op::Append { delivery, ack } => Err((delivery, ack.into_callback(), err)),
            // Only an Append was sent; answer anything else rather than lose it.
            other => {
                other.fail(err, &self.shared);
                Ok(())
            }
        }
    }

    /// Queue without blocking; a refusal answers the op's callback at once, on this thread.
    fn enqueue(&self, op: Op) {
        if let Some(why) = self.shared.failure() {
            return op.fail(StoreError::Failed(why), &self.shared);
        }
        // The guard is gone before any callback runs: a callback may call back into the store.
        let refused = match self.tx.read().as_ref() {
            None => Some((op, StoreError::Closed)),
            Some(tx) => match tx.try_send(Box::new(op)) {
                Ok(()) => None,
                Err(TrySendError::Full(op)) => Some((*op, StoreError::Full)),
                Err(TrySendError::Disconnected(op)) => Some((*op, StoreError::Closed)),
            },
        };
        if let Some((op, err)) = refused {
            op.fail(err, &self.shared);
        }
    }

    /// Queue, waiting while the queue is full; gives up only if the store fails or closes.
    /// On the writer thread (from a callback) it cannot wait, since that thread is the one
    /// that empties the queue: there it does not block, and a full queue fails the op.
    fn enqueue_blocking(&self, mut op: Op) {
        if self.writer_id.get() == Some(&std::thread::current().id()) {
            return self.enqueue(op);
        }
        loop {
            if let Some(why) = self.shared.failure() {
                return op.fail(StoreError::Failed(why), &self.shared);
            }
            // Re-taken each step, so that a shutdown waiting for the write side gets in.
            let sent = match self.tx.read().as_ref() {
                None => Err((op, StoreError::Closed)),
                Some(tx) => match tx.send_timeout(Box::new(op), BLOCKING_SEND_STEP) {
                    Ok(()) => Ok(None),
                    Err(SendTimeoutError::Timeout(back)) => Ok(Some(*back)),
                    Err(SendTimeoutError::Disconnected(back)) => Err((*back, StoreError::Closed)),
                },
            };
            match sent {
                Ok(None) => return,
                Ok(Some(back)) => op = back,
                Err((back, err)) => return back.fail(err, &self.shared),
            }
        }
    }

    /// Set the state (and error text) of inbox rows, through the writer. Fire and forget, but
    /// never silently lost: it waits while the queue is full (call it from the dispatcher,
    /// never from a reactor), and if the store has failed or closed it logs what was dropped.
    /// Called from a store callback (on the writer thread) it cannot wait: a full queue there
    /// drops the change, logged.
    pub fn set_state(&self, ids: Vec<i64>, state: InboxState, error: Option<String>) {
        if !ids.is_empty() {
            self.enqueue_blocking(Op::SetState { ids, state, error });
        }
    }

    /// Put a row back to `received` with one more attempt, durably, then call `done` with the
    /// updated row ([`StoreError::NotFound`] if there is no such id). A full queue answers
    /// [`StoreError::Full`] at once, on this thread.
    pub fn replay(&self, id: i64, done: DoneFn<InboxEntry>) {
        self.enqueue(Op::Replay { id, done: Reply::new(done) });
    }

    /// Put a kv value, durably, then call `done`. A full queue answers [`StoreError::Full`] at
    /// once, on this thread.
    pub fn kv_put(&self, key: &str, value: Vec<u8>, done: DoneFn<()>) {
        self.enqueue(Op::KvPut { key: key.to_owned(), value, done: Reply::new(done) });
    }

    /// Queue an outbound message, durably; `done` gets its id. A full queue answers
    /// [`StoreError::Full`] at once, on this thread.
    pub fn outbox_enqueue(&self, message: NewOutbound, done: DoneFn<i64>) {
        self.enqueue(Op::OutboxEnqueue { message, done: Reply::new(done) });
    }

    /// Record one delivery attempt of an outbound message (attempts + 1, state, when to try
    /// next, error), durably. [`StoreError::NotFound`] if there is no such id.
    pub fn outbox_set_state(
        &self,
        id: i64,
        state: OutboxState,
        next_attempt_ms: u64,
        error: Option<String>,
        done: DoneFn<()>,
    ) {
        self.enqueue(Op::OutboxSetState { id, state, next_attempt_ms, error, done: Reply::new(done) });
    }

    /// Apply an agent write (sessions, transcripts, turns) durably, then call `done` with the
    /// rows changed. Waits while the queue is full (call it from an agent or worker thread,
    /// never from a reactor); a failed or closed store answers `done` at once.
    pub fn agent_write(&self, write: AgentWrite, done: DoneFn<AgentOutcome>) {
        self.enqueue_blocking(Op::Agent { write: Box::new(write), done: Reply::new(done) });
    }

    /// [`Store::agent_write`], waiting for the commit. Never call it from a store callback.
    ///
    /// # Errors
    /// The store failed or closed, or the write failed (and with it the store).
    pub fn agent_write_wait(&self, write: AgentWrite) -> Result<AgentOutcome, StoreError> {
        let (tx, rx) = bounded(1);
        self.agent_write(
            write,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Every turn still `running` in the store (a crash left it so) becomes `interrupted`, its
    /// idempotency key released; returns how many. Call once after [`Store::open`], before the
    /// agent runtime starts (every running row is then a previous process's). Waits for the
    /// commit.
    ///
    /// # Errors
    /// The store failed or closed.
    pub fn interrupt_running_turns(&self) -> Result<u64, StoreError> {
        self.agent_write_wait(AgentWrite::InterruptRunning { ended_ms: crate::app::unix_ms() })
    }

    /// The agent runtime's reads (on the read side; they never wait for the writer).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] if this backend keeps no sessions.
    pub fn agent(&self) -> Result<&dyn AgentReads, StoreError> {
        self.backend.agent_reads().ok_or_else(|| StoreError::Sqlite("this store backend keeps no sessions".into()))
    }

    /// Every `dispatched` row back to `received`; returns how many. Call once after
    /// [`Store::open`], before the dispatcher starts. Waits for the commit, so never call it
    /// from a store callback (the writer thread would wait for itself).
    ///
    /// # Errors
    /// The store failed or closed.
    pub fn resume_unfinished(&self) -> Result<u64, StoreError> {
        self.resume_dispatched_since(0)
    }

    /// Like [`Store::resume_unfinished`], but only rows dispatched at or after `since_ms`
    /// (Unix ms): a consumer that never acknowledges must not get the whole history again at
    /// every start.
    ///
    /// # Errors
    /// The store failed or closed.
    pub fn resume_dispatched_since(&self, since_ms: u64) -> Result<u64, StoreError> {
        let (tx, rx) = bounded(1);
        self.enqueue_blocking(Op::Resume {
            since_ms,
            done: Reply::new(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        });
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    /// False once the store has fail-stopped (`/ready` reports it).
    #[must_use]
    pub fn healthy(&self) -> bool {
        !self.shared.is_failed()
    }

    /// Why the store fail-stopped.
    #[must_use]
    pub fn failure(&self) -> Option<String> {
        self.shared.failure()
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> StoreStats {
        use std::sync::atomic::Ordering::Relaxed;
        let s = &self.shared;
        let committed = s.committed.load(Relaxed);
        let synced = s.synced.load(Relaxed);
        let dedup = self.backend.dedup_stats();
        let mut hist = [0u64; HIST_SLOTS];
        for (out, h) in hist.iter_mut().zip(&s.hist) {
            *out = h.load(Relaxed);
        }
        StoreStats {
            batches: s.batches.load(Relaxed),
            records: s.records.load(Relaxed),
            duplicates: s.duplicates.load(Relaxed),
            syncs: s.syncs.load(Relaxed),
            sync_failures: s.sync_failures.load(Relaxed),
            last_batch_records: s.last_batch.load(Relaxed),
            max_batch_records: s.max_batch.load(Relaxed),
            queue_depth: self.tx.read().as_ref().map_or(0, Sender::len),
            queue_capacity: self.capacity,
            sync_micros_total: s.sync_micros.load(Relaxed),
            unsynced_records: committed.saturating_sub(synced),
            dedup_keys: dedup.keys,
            dedup_evicted_early: dedup.evicted_early,
            records_per_sync_hist: hist,
        }
    }

    /// Inbox rows matching `q` (ascending id, at most [`MAX_QUERY_LIMIT`]).
    ///
    /// # Errors
    /// The query failed.
    pub fn list(&self, q: &InboxQuery) -> Result<Vec<InboxEntry>, StoreError> {
        let mut q = q.clone();
        q.limit = q.limit.min(MAX_QUERY_LIMIT);
        self.backend.list(&q)
    }

    /// One inbox row.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or the query failed.
    pub fn get(&self, id: i64) -> Result<InboxEntry, StoreError> {
        self.backend.get(id)?.ok_or(StoreError::NotFound)
    }

    /// `received` rows with `id > after`, ascending: the dispatcher's feed.
    ///
    /// # Errors
    /// The query failed.
    pub fn received_after(&self, after: i64, limit: usize) -> Result<Vec<InboxEntry>, StoreError> {
        self.list(&InboxQuery {
            channel: None,
            state: Some(InboxState::Received),
            after: Some(after),
            limit,
            bodies: true,
        })
    }

    /// A kv value.
    ///
    /// # Errors
    /// The query failed.
    pub fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.kv_get(key)
    }

    /// Row counts per channel and state. This scans the inbox: cache it, do not run it per
    /// request.
    ///
    /// # Errors
    /// The query failed.
    pub fn counts_by_channel(&self) -> Result<Vec<(String, InboxState, u64)>, StoreError> {
        self.backend.counts_by_channel()
    }

    /// `pending` outbox rows due at `now_ms`, oldest due first.
    ///
    /// # Errors
    /// The query failed.
    pub fn outbox_due(&self, now_ms: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.backend.outbox_due(now_ms, limit.min(MAX_QUERY_LIMIT))
    }

    /// Stop taking writes, commit (and sync) and answer everything already accepted, then stop
    /// the threads. Idempotent; also runs on drop.
    pub fn shutdown(&self) {
        // Dropping the only sender lets the writer drain the queue and then see the end.
        drop(self.tx.write().take());
        let mut threads = self.threads.lock();
        if let Some(h) = threads.writer.take() {
            // A callback on the writer thread may drop the last handle (and so call this):
            // joining itself would deadlock. The writer then finishes the drain on its own.
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        // After the writer, which synced its last commits itself in buffered mode.
        for (stop, h) in [threads.sync.take(), threads.checkpoint.take()].into_iter().flatten() {
            drop(stop);
            let _ = h.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}
