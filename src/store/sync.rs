//! The two background threads beside the writer: buffered mode's periodic sync, and the
//! checkpointer.
//!
//! Guarantees:
//! - The sync thread syncs every `sync_interval` if anything was committed since the last
//!   sync, and once more when told to stop; the writer also syncs once after its last commit,
//!   so a clean shutdown leaves nothing unsynced. A sync covers exactly the writes counted as committed
//!   before it started. A failed sync fail-stops the store: acknowledged writes may be lost,
//!   and that is logged with their number.
//! - The checkpointer calls [`Backend::maintain`] every [`CHECKPOINT_INTERVAL`], or every
//!   [`CHECKPOINT_BUSY_INTERVAL`] while the last call found frames to copy; an error
//!   (not mere contention, which the backend absorbs) fail-stops the store.
//! - Neither thread does anything once the store has failed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::backend::Backend;
use super::writer::Shared;

/// Time between checkpoints while the last one found nothing to copy.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Time between checkpoints while the database is being written: short, so each PASSIVE
/// round has little to copy and a RESTART after it holds commits off only briefly.
pub const CHECKPOINT_BUSY_INTERVAL: Duration = Duration::from_millis(100);

/// Wait `interval`; `false` once the stop channel is closed.
fn tick(stop: &Receiver<()>, interval: Duration) -> bool {
    matches!(stop.recv_timeout(interval), Err(RecvTimeoutError::Timeout))
}

/// Buffered mode's sync loop; returns when `stop` is closed, after a last sync.
pub(crate) fn run_sync(backend: &Arc<dyn Backend>, shared: &Shared, interval: Duration, stop: &Receiver<()>) {
    loop {
        let go_on = tick(stop, interval);
        sync_once(backend.as_ref(), shared);
        if !go_on {
            return;
        }
    }
}

/// One periodic sync, if anything is unsynced.
pub(crate) fn sync_once(backend: &dyn Backend, shared: &Shared) {
    if shared.is_failed() {
        return;
    }
    // Acquire pairs with the writer's Release: everything counted here was written to the
    // WAL before this load, so the sync below covers it.
    let committed = shared.committed.load(Ordering::Acquire);
    let synced = shared.synced.load(Ordering::Acquire);
    if committed <= synced {
        return;
    }
    let started = Instant::now();
    match backend.sync() {
        Ok(()) => {
            shared.synced.store(committed, Ordering::Release);
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            shared.record_sync(committed - synced, micros);
        }
        Err(e) => {
            shared.sync_failures.fetch_add(1, Ordering::Relaxed);
            shared.fail(format!(
                "periodic sync failed: {e}; up to {} acknowledged writes may not be on disk",
                committed - synced
            ));
        }
    }
}

/// The checkpointer loop; returns when `stop` is closed.
pub(crate) fn run_checkpoints(backend: &Arc<dyn Backend>, shared: &Shared, stop: &Receiver<()>) {
    let mut interval = CHECKPOINT_INTERVAL;
    while tick(stop, interval) {
        if shared.is_failed() {
            interval = CHECKPOINT_INTERVAL;
            continue;
        }
        interval = match backend.maintain() {
            Ok(true) => CHECKPOINT_BUSY_INTERVAL,
            Ok(false) => CHECKPOINT_INTERVAL,
            Err(e) => {
                shared.fail(format!("checkpoint failed: {e}"));
                CHECKPOINT_INTERVAL
            }
        };
    }
}
