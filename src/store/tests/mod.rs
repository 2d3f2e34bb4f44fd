//! Store tests: helpers shared by the writer tests (`writer.rs`, through a gated backend that
//! lets a test hold the writer inside a transaction) and the SQLite tests (`sqlite.rs`).
//!
//! Guarantees: no test depends on timing. Where a test needs several writes in one batch it
//! holds the writer inside `apply` until they are queued; where it needs a background thread
//! to have acted, it waits for the effect with a generous deadline and asserts nothing about
//! how long it took. Every test works in its own directory under the system temp dir, removed
//! on drop.

mod agent;
mod channel_turns;
mod sqlite;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use parking_lot::Mutex;

use super::backend::{Applied, Backend, WriteOp};
use super::types::{
    AckMode, Appended, InboxEntry, InboxQuery, InboxState, NewDelivery, OutboxEntry, StoreError, StoreOptions,
};
use super::{SqliteBackend, Store};

/// A directory of its own, removed on drop.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("talon-store-{tag}-{}-{n}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }

    /// The database path (inside a subdirectory, so that `open` has to create it).
    pub(super) fn db(&self) -> PathBuf {
        self.0.join("data").join("talon.db")
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn delivery(channel: &'static str, id: &str, received_ms: u64) -> NewDelivery {
    NewDelivery {
        channel,
        delivery_id: id.to_owned(),
        received_ms,
        headers: vec![("content-type".into(), "application/json".into())],
        body: format!("{{\"update_id\":\"{id}\"}}").into_bytes(),
    }
}

/// Log lines, captured.
pub(super) fn capture_log() -> (super::LogFn, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    (Box::new(move |line: &str| sink.lock().push(line.to_owned())), lines)
}

pub(super) fn options(path: PathBuf) -> StoreOptions {
    let mut o = StoreOptions::new(path);
    o.log = capture_log().0;
    o
}

/// Delivery id and ack result, in the order the callbacks ran.
type AckLog = Vec<(String, Result<Appended, StoreError>)>;

/// Every ack result, in the order the callbacks ran.
#[derive(Clone, Default)]
pub(super) struct Acks(Arc<Mutex<AckLog>>);

impl Acks {
    /// Submit `d`; `Err` if refused at once.
    pub(super) fn submit(&self, store: &Store, d: NewDelivery) -> Result<(), StoreError> {
        let acks = self.0.clone();
        let key = d.delivery_id.clone();
        store.submit(d, Box::new(move |r| acks.lock().push((key, r)))).map_err(|(_, _, e)| e)
    }

    pub(super) fn all(&self) -> AckLog {
        self.0.lock().clone()
    }

    pub(super) fn len(&self) -> usize {
        self.0.lock().len()
    }

    /// The result for delivery `key`.
    pub(super) fn of(&self, key: &str) -> Option<Result<Appended, StoreError>> {
        self.0.lock().iter().find(|(k, _)| k == key).map(|(_, r)| r.clone())
    }
}

/// Submit and wait for the ack.
pub(super) fn submit_wait(store: &Store, d: NewDelivery) -> Result<Appended, StoreError> {
    let (tx, rx) = bounded(1);
    store
        .submit(
            d,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )
        .map_err(|(_, _, e)| e)?;
    rx.recv().unwrap_or(Err(StoreError::Closed))
}

/// Wait for everything queued before it to be committed (the writer is FIFO).
pub(super) fn barrier(store: &Store) -> Result<(), StoreError> {
    let (tx, rx) = bounded(1);
    store.kv_put(
        "test.barrier",
        Vec::new(),
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    rx.recv().unwrap_or(Err(StoreError::Closed))
}

/// Poll `cond` until it holds; panics after a deadline far beyond any sane run.
pub(super) fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A SQLite backend that can hold the writer inside `apply` and fail on demand.
pub(super) struct Gated {
    pub(super) inner: SqliteBackend,
    /// Each `apply` call sends its index (from 0) and the number of writes on entry (not
    /// counting the writer's own dedup prune).
    entered: Sender<(usize, usize)>,
    /// When gating, each `apply` waits for one message here before doing anything.
    release: Receiver<()>,
    gate: bool,
    calls: AtomicUsize,
    /// Calls from this index on fail (without touching the database).
    fail_from: Option<usize>,
    /// `sync` fails.
    fail_sync: bool,
    /// Applies that committed.
    pub(super) committed: AtomicUsize,
}

/// The test's side of a [`Gated`] backend.
pub(super) struct Gate {
    pub(super) entered: Receiver<(usize, usize)>,
    release: Sender<()>,
}

impl Gate {
    /// Wait for call `index` to enter `apply`; returns its number of writes.
    pub(super) fn wait_entered(&self, index: usize) -> usize {
        let (i, n) = self.entered.recv_timeout(Duration::from_secs(30)).expect("apply entered");
        assert_eq!(i, index, "apply calls arrive in order");
        n
    }

    pub(super) fn release(&self) {
        self.release.send(()).expect("gate open");
    }
}

impl Gated {
    pub(super) fn open(
        path: &Path,
        ack: AckMode,
        gate: bool,
        fail_from: Option<usize>,
        fail_sync: bool,
    ) -> (Self, Gate) {
        let inner = SqliteBackend::open(path, ack, true).expect("open");
        let (etx, erx) = unbounded();
        let (rtx, rrx) = unbounded();
        let backend = Self {
            inner,
            entered: etx,
            release: rrx,
            gate,
            calls: AtomicUsize::new(0),
            fail_from,
            fail_sync,
            committed: AtomicUsize::new(0),
        };
        (backend, Gate { entered: erx, release: rtx })
    }

    pub(super) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Backend for Gated {
    fn apply(&self, writes: &[WriteOp<'_>], now_ms: u64) -> Result<Applied, StoreError> {
        let index = self.calls.fetch_add(1, Ordering::SeqCst);
        // The writer's own periodic prune rides along; tests count only their writes.
        let theirs = writes.iter().filter(|w| !matches!(w, WriteOp::PruneDedup { .. })).count();
        let _ = self.entered.send((index, theirs));
        // Bounded, so that a failed assertion (which drops the store, which joins the writer)
        // ends the test instead of hanging it.
        if self.gate && self.release.recv_timeout(Duration::from_secs(30)).is_err() {
            return Err(StoreError::Sqlite("test gate never opened".into()));
        }
        if self.fail_from.is_some_and(|from| index >= from) {
            return Err(StoreError::Sqlite("injected: disk I/O error during fsync".into()));
        }
        let applied = self.inner.apply(writes, now_ms)?;
        self.committed.fetch_add(1, Ordering::SeqCst);
        Ok(applied)
    }
    fn sync(&self) -> Result<(), StoreError> {
        if self.fail_sync { Err(StoreError::Sqlite("injected: fdatasync EIO".into())) } else { self.inner.sync() }
    }
    fn maintain(&self) -> Result<bool, StoreError> {
        self.inner.maintain()
    }
    fn list(&self, q: &InboxQuery) -> Result<Vec<InboxEntry>, StoreError> {
        self.inner.list(q)
    }
    fn get(&self, id: i64) -> Result<Option<InboxEntry>, StoreError> {
        self.inner.get(id)
    }
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.kv_get(key)
    }
    fn counts_by_channel(&self) -> Result<Vec<(String, InboxState, u64)>, StoreError> {
        self.inner.counts_by_channel()
    }
    fn outbox_due(&self, now_ms: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox_due(now_ms, limit)
    }
}
