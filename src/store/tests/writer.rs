//! The writer's promises: group commit, acks only after commit, the bounded queue, fail-stop,
//! buffered mode's sync accounting, and the shutdown drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{Acks, Gated, TempDir, barrier, capture_log, delivery, eventually, options, submit_wait};
use crate::store::types::{AckMode, Appended, InboxState, RECORDS_PER_SYNC_BUCKETS, StoreError};
use crate::store::writer::Reply;
use crate::store::{Backend, Store};

fn bucket_of(n: u64) -> usize {
    RECORDS_PER_SYNC_BUCKETS.iter().position(|&b| n <= b).unwrap_or(RECORDS_PER_SYNC_BUCKETS.len())
}

#[test]
fn group_commit_takes_everything_waiting_in_one_transaction_and_acks_after_it() {
    let dir = TempDir::new("group");
    let (backend, gate) = Gated::open(&dir.db(), AckMode::Durable, true, None, false);
    let backend = Arc::new(backend);
    let store = Store::with_backend(backend.clone(), options(dir.db())).expect("open");
    let acks = Acks::default();

    acks.submit(&store, delivery("telegram", "first", 1)).expect("queued");
    assert_eq!(gate.wait_entered(0), 1);
    // The writer is inside the first transaction: everything submitted now waits in the queue.
    for i in 0..10 {
        acks.submit(&store, delivery("telegram", &format!("b{i}"), 1)).expect("queued");
    }
    assert_eq!(store.stats().queue_depth, 10);
    assert_eq!(acks.len(), 0, "nothing is acked before its transaction commits");

    gate.release();
    // One transaction for all ten: they were all waiting when the writer came back.
    assert_eq!(gate.wait_entered(1), 10);
    assert_eq!(acks.all().len(), 1, "the first batch is acked, the second is not yet");
    assert!(matches!(acks.of("first"), Some(Ok(Appended::Stored { .. }))));
    gate.release();
    store.shutdown();

    assert_eq!(backend.committed.load(Ordering::SeqCst), 2);
    let all = acks.all();
    assert_eq!(all.len(), 11);
    assert!(all.iter().all(|(_, r)| matches!(r, Ok(Appended::Stored { .. }))));
    // Acks run in queue order, and ids follow it.
    let ids: Vec<i64> = all.iter().filter_map(|(_, r)| r.as_ref().ok().map(|a| a.id())).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let s = store.stats();
    assert_eq!((s.batches, s.records, s.duplicates), (2, 11, 0));
    assert_eq!((s.last_batch_records, s.max_batch_records), (10, 10));
    assert_eq!(s.syncs, 2, "durable: one sync per batch");
    assert_eq!(s.unsynced_records, 0);
    assert_eq!(s.records_per_sync_hist[bucket_of(1)], 1);
    assert_eq!(s.records_per_sync_hist[bucket_of(10)], 1);
    assert_eq!(s.records_per_sync_hist.iter().sum::<u64>(), 2);
}

#[test]
fn max_batch_bounds_a_transaction() {
    let dir = TempDir::new("maxbatch");
    let (backend, gate) = Gated::open(&dir.db(), AckMode::Durable, true, None, false);
    let mut opts = options(dir.db());
    opts.max_batch = 4;
    let store = Store::with_backend(Arc::new(backend), opts).expect("open");
    let acks = Acks::default();
    acks.submit(&store, delivery("slack", "x", 1)).expect("queued");
    gate.wait_entered(0);
    for i in 0..10 {
        acks.submit(&store, delivery("slack", &format!("y{i}"), 1)).expect("queued");
    }
    gate.release();
    for (call, expect) in [(1, 4), (2, 4), (3, 2)] {
        assert_eq!(gate.wait_entered(call), expect);
        gate.release();
    }
    store.shutdown();
    assert_eq!(acks.len(), 11);
    assert_eq!(store.stats().max_batch_records, 4);
}

#[test]
fn a_full_queue_refuses_at_once_and_hands_the_delivery_back() {
    let dir = TempDir::new("full");
    let (backend, gate) = Gated::open(&dir.db(), AckMode::Durable, true, None, false);
    let mut opts = options(dir.db());
    opts.queue_capacity = 2;
    let store = Store::with_backend(Arc::new(backend), opts).expect("open");
    let acks = Acks::default();
    acks.submit(&store, delivery("line", "a", 1)).expect("queued");
    gate.wait_entered(0);
    acks.submit(&store, delivery("line", "b", 1)).expect("queued");
    acks.submit(&store, delivery("line", "c", 1)).expect("queued");

    let called = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&called);
    let refused = store.submit(
        delivery("line", "d", 1),
        Box::new(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        }),
    );
    let Err((back, ack, err)) = refused else { panic!("a full queue must refuse") };
    assert_eq!(err, StoreError::Full);
    assert_eq!(back.delivery_id, "d");
    let s = store.stats();
    assert_eq!((s.queue_depth, s.queue_capacity), (2, 2));
    // The callback came back unrun; it is the caller's to run (or drop).
    assert_eq!(called.load(Ordering::SeqCst), 0);
    drop(ack);
    assert_eq!(called.load(Ordering::SeqCst), 0);

    gate.release();
    gate.wait_entered(1);
    gate.release();
    store.shutdown();
    assert_eq!(acks.len(), 3);
    assert!(acks.all().iter().all(|(_, r)| r.is_ok()));
}

#[test]
fn a_failed_commit_fail_stops_and_nothing_after_it_is_acked_as_success() {
    let dir = TempDir::new("failstop");
    // Call 0 commits, every later call fails.
    let (backend, gate) = Gated::open(&dir.db(), AckMode::Durable, true, Some(1), false);
    let backend = Arc::new(backend);
    let (log, lines) = capture_log();
    let mut opts = options(dir.db());
    opts.log = log;
    let store = Store::with_backend(backend.clone(), opts).expect("open");
    let acks = Acks::default();

    acks.submit(&store, delivery("discord", "ok", 1)).expect("queued");
    gate.wait_entered(0);
    acks.submit(&store, delivery("discord", "lost1", 1)).expect("queued");
    acks.submit(&store, delivery("discord", "lost2", 1)).expect("queued");
    gate.release();
    assert_eq!(gate.wait_entered(1), 2);
    // Queued behind the failing batch: answered Failed without reaching the database.
    acks.submit(&store, delivery("discord", "behind", 1)).expect("queued");
    let (ktx, krx) = crossbeam_channel::bounded(1);
    store.kv_put(
        "k",
        b"v".to_vec(),
        Box::new(move |r| {
            let _ = ktx.send(r);
        }),
    );
    assert!(store.healthy());
    gate.release();

    assert!(matches!(krx.recv(), Ok(Err(StoreError::Failed(_)))));
    assert!(!store.healthy());
    let why = store.failure().expect("a reason");
    assert!(why.contains("injected"), "{why}");
    assert!(lines.lock().iter().any(|l| l.contains("FAILED") && l.contains("injected")), "logged clearly");

    // From now on a submit is refused at once, with the reason.
    match store.submit(delivery("discord", "later", 1), Box::new(|_| panic!("must not run"))) {
        Err((_, _, StoreError::Failed(w))) => assert_eq!(w, why),
        other => panic!("expected Failed, got {:?}", other.map_err(|e| e.2)),
    }
    // A state change is not silently lost: it is logged as dropped.
    store.set_state(vec![1], InboxState::Done, None);
    assert!(lines.lock().iter().any(|l| l.contains("not written")));
    let (rtx, rrx) = crossbeam_channel::bounded(1);
    store.replay(
        1,
        Box::new(move |r| {
            let _ = rtx.send(r);
        }),
    );
    assert!(matches!(rrx.recv(), Ok(Err(StoreError::Failed(_)))));
    store.shutdown();

    assert_eq!(backend.calls(), 2, "never retried, never called again after the failure");
    let all = acks.all();
    assert_eq!(all.len(), 4);
    assert!(matches!(all[0], (ref k, Ok(_)) if k == "ok"));
    let first_err = all.iter().position(|(_, r)| r.is_err()).expect("an error");
    assert!(all[first_err..].iter().all(|(_, r)| matches!(r, Err(StoreError::Failed(_)))), "{all:?}");
    let s = store.stats();
    assert_eq!((s.batches, s.sync_failures), (1, 1));
    // The committed record is still readable.
    assert_eq!(store.get(1).expect("row").delivery_id, "ok");
}

#[test]
fn buffered_mode_acks_after_commit_and_counts_the_unsynced_window() {
    let dir = TempDir::new("buffered");
    let mut opts = options(dir.db());
    // Long enough that the periodic sync never runs during the test; shutdown's sync does.
    opts.ack = AckMode::Buffered { sync_interval: Duration::from_secs(3600) };
    let store = Store::open(opts).expect("open");
    for i in 0..5 {
        assert!(submit_wait(&store, delivery("hooks", &format!("k{i}"), 1)).is_ok());
    }
    let s = store.stats();
    assert_eq!(s.unsynced_records, 5);
    assert_eq!(s.syncs, 0);
    assert_eq!(s.records, 5);
    store.shutdown();
    let s = store.stats();
    assert_eq!(s.unsynced_records, 0, "shutdown syncs what was acked");
    assert_eq!(s.syncs, 1);
    assert_eq!(s.records_per_sync_hist[bucket_of(5)], 1);
}

#[test]
fn buffered_mode_syncs_periodically() {
    let dir = TempDir::new("bufsync");
    let mut opts = options(dir.db());
    opts.ack = AckMode::Buffered { sync_interval: Duration::from_millis(1) };
    let store = Store::open(opts).expect("open");
    for i in 0..3 {
        assert!(submit_wait(&store, delivery("hooks", &format!("k{i}"), 1)).is_ok());
    }
    eventually("a periodic sync covers every acked write", || {
        let s = store.stats();
        s.unsynced_records == 0 && s.syncs >= 1
    });
    assert!(store.healthy());
}

#[test]
fn a_failed_periodic_sync_fail_stops() {
    let dir = TempDir::new("syncfail");
    let ack = AckMode::Buffered { sync_interval: Duration::from_secs(3600) };
    let (backend, _gate) = Gated::open(&dir.db(), ack, false, None, true);
    let mut opts = options(dir.db());
    opts.ack = ack;
    let store = Store::with_backend(Arc::new(backend), opts).expect("open");
    assert!(submit_wait(&store, delivery("lark", "a", 1)).is_ok());
    store.shutdown();
    assert!(!store.healthy());
    let why = store.failure().expect("reason");
    assert!(why.contains("sync") && why.contains('1'), "{why}");
    assert_eq!(store.stats().sync_failures, 1);
}

#[test]
fn shutdown_commits_and_acks_everything_accepted() {
    let dir = TempDir::new("drain");
    let (backend, gate) = Gated::open(&dir.db(), AckMode::Durable, true, None, false);
    let store = Arc::new(Store::with_backend(Arc::new(backend), options(dir.db())).expect("open"));
    let acks = Acks::default();
    acks.submit(&store, delivery("whatsapp", "a", 1)).expect("queued");
    gate.wait_entered(0);
    for i in 0..20 {
        acks.submit(&store, delivery("whatsapp", &format!("q{i}"), 1)).expect("queued");
    }
    let s2 = Arc::clone(&store);
    let stopper = std::thread::spawn(move || s2.shutdown());
    // The shutdown is waiting for the writer; new submissions are already refused or, if
    // they got in first, will be answered. Either way nothing is left hanging.
    gate.release();
    gate.wait_entered(1);
    gate.release();
    stopper.join().expect("shutdown");
    assert_eq!(acks.len(), 21);
    assert!(acks.all().iter().all(|(_, r)| r.is_ok()));
    assert!(matches!(store.submit(delivery("whatsapp", "late", 1), Box::new(|_| {})), Err((_, _, StoreError::Closed))));
    store.shutdown(); // idempotent
    assert_eq!(store.list(&crate::store::InboxQuery::default()).expect("list").len(), 21);
}

#[test]
fn many_producers_all_get_exactly_one_ack() {
    let dir = TempDir::new("producers");
    let store = Arc::new(Store::open(options(dir.db())).expect("open"));
    let acks = Acks::default();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (store, acks) = (Arc::clone(&store), acks.clone());
            std::thread::spawn(move || {
                for i in 0..50 {
                    acks.submit(&store, delivery("telegram", &format!("t{t}-{i}"), 1)).expect("queued");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("producer");
    }
    store.shutdown();
    let all = acks.all();
    assert_eq!(all.len(), 200);
    let mut ids: Vec<i64> = all.iter().map(|(_, r)| r.as_ref().expect("ok").id()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 200, "every delivery stored once");
    let s = store.stats();
    assert_eq!(s.records, 200);
    assert_eq!(s.records_per_sync_hist.iter().sum::<u64>(), s.batches);
}

#[test]
fn a_panicking_callback_does_not_stop_the_writer() {
    let dir = TempDir::new("panic");
    let store = Store::open(options(dir.db())).expect("open");
    assert!(store.submit(delivery("slack", "boom", 1), Box::new(|_| panic!("callback bug"))).is_ok());
    assert!(matches!(submit_wait(&store, delivery("slack", "next", 1)), Ok(Appended::Stored { .. })));
    assert!(store.healthy());
}

#[test]
fn an_unanswered_reply_answers_closed_when_dropped() {
    let got = Arc::new(parking_lot::Mutex::new(None));
    let g = Arc::clone(&got);
    let reply: Reply<u64> = Reply::new(Box::new(move |r| *g.lock() = Some(r)));
    drop(reply);
    assert_eq!(*got.lock(), Some(Err(StoreError::Closed)));
}

#[test]
fn state_changes_replays_and_resume_go_through_the_writer() {
    let dir = TempDir::new("states");
    let store = Store::open(options(dir.db())).expect("open");
    let a = submit_wait(&store, delivery("telegram", "a", 1)).expect("a").id();
    let b = submit_wait(&store, delivery("telegram", "b", 1)).expect("b").id();
    store.set_state(vec![a, b], InboxState::Dispatched, None);
    store.set_state(vec![b], InboxState::Failed, Some("agent timed out".into()));
    barrier(&store).expect("barrier");
    assert_eq!(store.get(a).expect("a").state, InboxState::Dispatched);
    let eb = store.get(b).expect("b");
    assert_eq!((eb.state, eb.error.as_deref()), (InboxState::Failed, Some("agent timed out")));

    let (tx, rx) = crossbeam_channel::bounded(2);
    let tx2 = tx.clone();
    store.replay(
        b,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    store.replay(
        9999,
        Box::new(move |r| {
            let _ = tx2.send(r);
        }),
    );
    let replayed = rx.recv().expect("answer").expect("replayed");
    assert_eq!((replayed.id, replayed.state, replayed.attempts, replayed.error), (b, InboxState::Received, 1, None));
    assert_eq!(rx.recv().expect("answer"), Err(StoreError::NotFound));

    assert_eq!(store.resume_unfinished(), Ok(1), "a was dispatched");
    assert_eq!(store.get(a).expect("a").state, InboxState::Received);
    assert_eq!(store.resume_unfinished(), Ok(0));
    let feed = store.received_after(0, 10).expect("feed");
    assert_eq!(feed.iter().map(|e| e.id).collect::<Vec<_>>(), vec![a, b]);
    assert_eq!(store.received_after(a, 10).expect("feed").len(), 1);
}

#[test]
fn duplicates_within_one_batch_are_detected() {
    let dir = TempDir::new("batchdup");
    let (backend, gate) = Gated::open(&dir.db(), AckMode::Durable, true, None, false);
    let store = Store::with_backend(Arc::new(backend), options(dir.db())).expect("open");
    let acks = Acks::default();
    acks.submit(&store, delivery("slack", "x", 1)).expect("queued");
    gate.wait_entered(0);
    acks.submit(&store, delivery("slack", "Ev1", 10)).expect("queued");
    acks.submit(&store, delivery("slack", "Ev1", 11)).expect("queued");
    gate.release();
    assert_eq!(gate.wait_entered(1), 2);
    gate.release();
    store.shutdown();
    let all = acks.all();
    let Ok(Appended::Stored { id }) = all[1].1 else { panic!("{all:?}") };
    assert_eq!(all[2].1, Ok(Appended::Duplicate { id }));
    assert_eq!(store.get(id).expect("row").duplicates, 1);
    assert_eq!(store.stats().duplicates, 1);
}

#[test]
fn reads_do_not_wait_for_the_writer_connection() {
    let dir = TempDir::new("reads");
    let backend = crate::store::SqliteBackend::open(&dir.db(), AckMode::Durable, true).expect("open");
    let d = delivery("line", "r", 5);
    backend.apply(&[crate::store::WriteOp::Append { delivery: &d, dedup_window_ms: 1000 }], 5).expect("apply");
    let _writer = backend.lock_writer();
    // With the writer's connection held, every read still answers.
    assert_eq!(backend.list(&crate::store::InboxQuery::default()).expect("list").len(), 1);
    assert!(backend.get(1).expect("get").is_some());
    assert_eq!(backend.kv_get("nothing").expect("kv"), None);
    assert_eq!(backend.counts_by_channel().expect("counts").len(), 1);
}

#[test]
fn a_callback_that_drops_the_last_handle_does_not_deadlock_the_writer() {
    let dir = TempDir::new("lastdrop");
    let (backend, gate) = Gated::open(&dir.db(), AckMode::Durable, true, None, false);
    let store = Arc::new(Store::with_backend(Arc::new(backend), options(dir.db())).expect("open"));
    let slot = Arc::new(parking_lot::Mutex::new(Some(Arc::clone(&store))));
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let done2 = done_tx.clone();
    let s = Arc::clone(&slot);
    store
        .submit(
            delivery("slack", "first", 1),
            Box::new(move |r| {
                // The last handle goes away on the writer thread: Store::drop -> shutdown.
                drop(s.lock().take());
                let _ = done_tx.send(("first", r));
            }),
        )
        .map_err(|e| e.2)
        .expect("queued");
    gate.wait_entered(0);
    store
        .submit(
            delivery("slack", "second", 1),
            Box::new(move |r| {
                let _ = done2.send(("second", r));
            }),
        )
        .map_err(|e| e.2)
        .expect("queued");
    drop(store);
    gate.release();
    let first = done_rx.recv_timeout(Duration::from_secs(30)).expect("first answered");
    assert!(matches!(first, ("first", Ok(Appended::Stored { .. }))));
    // The writer finishes the drain on its own after the handle is gone.
    gate.wait_entered(1);
    gate.release();
    let second = done_rx.recv_timeout(Duration::from_secs(30)).expect("second answered");
    assert!(matches!(second, ("second", Ok(Appended::Stored { .. }))));
}

#[test]
fn a_callback_that_writes_never_waits_on_the_queue_it_should_empty() {
    let dir = TempDir::new("reentrant");
    let (backend, gate) = Gated::open(&dir.db(), AckMode::Durable, true, None, false);
    let (log, lines) = capture_log();
    let mut opts = options(dir.db());
    opts.queue_capacity = 1;
    opts.log = log;
    let store = Arc::new(Store::with_backend(Arc::new(backend), opts).expect("open"));
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let s = Arc::clone(&store);
    store
        .submit(
            delivery("slack", "a", 1),
            Box::new(move |r| {
                // The queue is full (one write waits behind this batch): this must not block.
                s.set_state(vec![1], InboxState::Done, None);
                let _ = done_tx.send(r);
            }),
        )
        .map_err(|e| e.2)
        .expect("queued");
    gate.wait_entered(0);
    Acks::default().submit(&store, delivery("slack", "b", 1)).expect("queued");
    gate.release();
    assert!(done_rx.recv_timeout(Duration::from_secs(30)).expect("answered").is_ok());
    gate.wait_entered(1);
    gate.release();
    assert!(lines.lock().iter().any(|l| l.contains("not written") && l.contains("full")), "{:?}", lines.lock());
    drop(store);
}
