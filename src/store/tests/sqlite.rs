//! The SQLite backend and what survives a restart: dedup and its window, pruning, queries,
//! kv, outbox, migrations, WAL checkpoints.

use std::sync::Arc;
use std::time::Duration;

use super::{TempDir, barrier, delivery, options, submit_wait};
use crate::store::backend::{Backend, Outcome, WriteOp};
use crate::store::schema;
use crate::store::types::{
    AckMode, Appended, InboxQuery, InboxState, MAX_QUERY_LIMIT, NewDelivery, NewOutbound, OutboxState, StoreError,
};
use crate::store::{DedupLimits, SqliteBackend, Store};

fn append_all(b: &SqliteBackend, ds: &[NewDelivery], window_ms: u64) -> Vec<Appended> {
    let writes: Vec<_> = ds.iter().map(|d| WriteOp::Append { delivery: d, dedup_window_ms: window_ms }).collect();
    b.apply(&writes, 1)
        .expect("apply")
        .outcomes
        .into_iter()
        .map(|o| match o {
            Outcome::Appended(a) => a,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn open_creates_the_directory_and_a_wal_database_at_the_latest_version() {
    let dir = TempDir::new("open");
    let store = Store::open(options(dir.db())).expect("open");
    assert!(dir.db().exists());
    drop(store);
    let conn = rusqlite::Connection::open(dir.db()).expect("open");
    assert_eq!(schema::version(&conn).expect("version"), schema::LATEST);
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("mode");
    assert_eq!(mode, "wal");
    for (table, expected) in [("inbox", 1), ("inbox_body", 1), ("kv", 1), ("outbox", 1), ("dedup", 0)] {
        let n: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |r| r.get(0))
            .expect("master");
        assert_eq!(n, expected, "{table}");
    }
}

#[test]
fn migrations_are_idempotent_and_a_newer_database_is_refused() {
    let dir = TempDir::new("migrate");
    for _ in 0..3 {
        drop(Store::open(options(dir.db())).expect("open again"));
    }
    let mut conn = rusqlite::Connection::open(dir.db()).expect("open");
    assert_eq!(schema::migrate(&mut conn).expect("migrate"), schema::LATEST, "nothing left to do");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    match Store::open(options(dir.db())) {
        Err(StoreError::Sqlite(why)) => assert!(why.contains("newer"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn everything_committed_survives_a_restart() {
    let dir = TempDir::new("restart");
    let d = NewDelivery {
        channel: "telegram",
        delivery_id: "u-1".into(),
        received_ms: crate::app::unix_ms(),
        headers: vec![
            ("x-telegram-bot-api-secret-token".into(), "s".into()),
            ("accept".into(), "a".into()),
            ("accept".into(), "b".into()),
        ],
        body: vec![0, 159, 146, 150, b'{', 0xff],
    };
    let (a, b) = {
        let store = Store::open(options(dir.db())).expect("open");
        let a = submit_wait(&store, d.clone()).expect("stored").id();
        let b = submit_wait(&store, delivery("slack", "e-2", 5)).expect("stored").id();
        store.set_state(vec![a], InboxState::Dispatched, None);
        store.set_state(vec![b], InboxState::Done, None);
        barrier(&store).expect("barrier");
        (a, b)
    };
    // Reopened: the rows, their bytes, their states and the dedup keys are all there.
    let store = Store::open(options(dir.db())).expect("reopen");
    let e = store.get(a).expect("row");
    assert_eq!((e.channel.as_str(), e.delivery_id.as_str(), e.received_ms), ("telegram", "u-1", d.received_ms));
    assert_eq!(e.body, d.body, "body bytes exactly as received");
    assert_eq!(e.headers, serde_json::json!({"x-telegram-bot-api-secret-token": "s", "accept": "a, b"}));
    assert_eq!(e.state, InboxState::Dispatched);
    assert_eq!(store.get(b).expect("row").state, InboxState::Done);
    assert_eq!(store.resume_unfinished(), Ok(1));
    assert_eq!(store.get(a).expect("row").state, InboxState::Received);
    assert_eq!(store.get(b).expect("row").state, InboxState::Done, "done stays done");
    assert_eq!(submit_wait(&store, d), Ok(Appended::Duplicate { id: a }), "dedup keys persist");
    assert_eq!(store.get(12345), Err(StoreError::NotFound));
}

#[test]
fn the_dedup_window_is_measured_on_received_ms() {
    let dir = TempDir::new("window");
    let mut opts = options(dir.db());
    opts.dedup_window = Duration::from_millis(1000);
    let store = Store::open(opts).expect("open");
    // Real clock values: the writer prunes keys older than the window by the wall clock.
    let t = crate::app::unix_ms();
    let first = submit_wait(&store, delivery("telegram", "42", t)).expect("first");
    let Appended::Stored { id } = first else { panic!("{first:?}") };
    assert_eq!(submit_wait(&store, delivery("telegram", "42", t + 999)), Ok(Appended::Duplicate { id }));
    // Another channel with the same id is another delivery.
    assert!(matches!(submit_wait(&store, delivery("slack", "42", t + 999)), Ok(Appended::Stored { .. })));
    // At the window's end the key has expired: stored anew, and the key now points at it.
    let again = submit_wait(&store, delivery("telegram", "42", t + 1000)).expect("again");
    let Appended::Stored { id: id2 } = again else { panic!("{again:?}") };
    assert!(id2 > id);
    assert_eq!(submit_wait(&store, delivery("telegram", "42", t + 1500)), Ok(Appended::Duplicate { id: id2 }));
    assert_eq!(store.get(id).expect("row").duplicates, 1);
    assert_eq!(store.get(id2).expect("row").duplicates, 1);
    let s = store.stats();
    assert_eq!((s.records, s.duplicates), (3, 2));
}

#[test]
fn pruning_forgets_old_keys_only() {
    let dir = TempDir::new("prune");
    let b = SqliteBackend::open(&dir.db(), AckMode::Durable, true).expect("open");
    let window = 1_000_000;
    append_all(&b, &[delivery("line", "old", 1_000), delivery("line", "new", 5_000)], window);
    let out = b.apply(&[WriteOp::PruneDedup { before_ms: 2_000, limit: 10 }], 1).expect("prune");
    assert_eq!(out.outcomes, vec![Outcome::Changed(1)]);
    assert_eq!(b.dedup_stats().keys, 1);
    // "old" was forgotten (stored anew although inside the window), "new" was not.
    let again = append_all(&b, &[delivery("line", "old", 5_100), delivery("line", "new", 5_500)], window);
    assert_eq!(again, vec![Appended::Stored { id: 3 }, Appended::Duplicate { id: 2 }]);
    // The limit bounds one prune.
    let many: Vec<_> = (0..5).map(|i| delivery("lark", &format!("m{i}"), 6_000)).collect();
    append_all(&b, &many, window);
    let out = b.apply(&[WriteOp::PruneDedup { before_ms: 7_000, limit: 3 }], 1).expect("prune");
    assert_eq!(out.outcomes, vec![Outcome::Changed(3)]);
    assert_eq!(b.dedup_stats(), crate::store::DedupStats { keys: 4, evicted_early: 0 });
}

#[test]
fn the_dedup_index_is_rebuilt_from_rows_inside_the_window_up_to_its_bound() {
    let dir = TempDir::new("rebuild");
    let now = crate::app::unix_ms();
    {
        let b = SqliteBackend::open(&dir.db(), AckMode::Durable, true).expect("open");
        // An old row, then three young ones, then one stamped before the window by a clock step.
        let ds = [
            delivery("telegram", "ancient", now - 10_000_000),
            delivery("telegram", "a", now - 3_000),
            delivery("telegram", "b", now - 2_000),
            delivery("telegram", "c", now - 1_000),
            delivery("telegram", "stepped", now - 10_000_000),
        ];
        append_all(&b, &ds, 0);
    }
    let limits = DedupLimits { window: Duration::from_secs(3600), max_keys: 2 };
    let b = SqliteBackend::open_with(&dir.db(), AckMode::Durable, true, limits).expect("reopen");
    // The newest two young keys: "c" and "b" (old rows skipped, the bound reached before "a").
    assert_eq!(b.dedup_stats().keys, 2);
    let window = 3_600_000;
    let again = append_all(
        &b,
        &[
            delivery("telegram", "c", now),
            delivery("telegram", "b", now),
            delivery("telegram", "a", now),
            delivery("telegram", "ancient", now),
        ],
        window,
    );
    assert_eq!(
        again,
        vec![
            Appended::Duplicate { id: 4 },
            Appended::Duplicate { id: 3 },
            Appended::Stored { id: 6 },
            Appended::Stored { id: 7 },
        ]
    );
    // Two more keys into an index of two: the oldest ones went early, and were counted.
    assert_eq!(b.dedup_stats(), crate::store::DedupStats { keys: 2, evicted_early: 2 });
}

#[test]
fn an_index_hit_is_a_duplicate_only_if_the_row_has_the_same_key() {
    let dir = TempDir::new("confirm");
    let b = SqliteBackend::open(&dir.db(), AckMode::Durable, true).expect("open");
    let now = crate::app::unix_ms();
    assert_eq!(append_all(&b, &[delivery("slack", "e1", now)], 60_000), vec![Appended::Stored { id: 1 }]);
    // The index still points key ("slack", "e1") at row 1, but row 1 now holds another key:
    // what a hash collision would look like. The delivery must be stored, not dropped.
    let other = rusqlite::Connection::open(dir.db()).expect("open");
    other.execute("UPDATE inbox SET delivery_id = 'e2' WHERE id = 1", []).expect("rewrite");
    drop(other);
    assert_eq!(append_all(&b, &[delivery("slack", "e1", now)], 60_000), vec![Appended::Stored { id: 2 }]);
}

/// Regression: with STAT4 a state bound as a parameter made SQLite plan the dispatcher's
/// query again at every run (a third of the dispatcher's time under load).
#[test]
fn listing_by_state_is_planned_once() {
    let dir = TempDir::new("plan");
    let b = SqliteBackend::open(&dir.db(), AckMode::Durable, true).expect("open");
    let q = InboxQuery { state: Some(InboxState::Received), after: Some(0), limit: 10, bodies: true, channel: None };
    for i in 0..3 {
        append_all(&b, &[delivery("telegram", &format!("p{i}"), 1)], 0);
        assert_eq!(b.list(&q).expect("list").len(), i + 1);
    }
    assert_eq!(b.list_repreparations(&q), 0);
}

#[test]
fn list_filters_pages_and_caps() {
    let dir = TempDir::new("list");
    let b = SqliteBackend::open(&dir.db(), AckMode::Durable, true).expect("open");
    let ds: Vec<_> = (0..MAX_QUERY_LIMIT + 5)
        .map(|i| delivery(if i % 2 == 0 { "telegram" } else { "slack" }, &format!("d{i}"), 1))
        .collect();
    append_all(&b, &ds, 0);
    let store = Store::with_backend(Arc::new(b), options(dir.db())).expect("store");
    store.set_state(vec![2, 3, 4], InboxState::Done, None);
    barrier(&store).expect("barrier");

    let all = store.list(&InboxQuery { limit: usize::MAX, ..InboxQuery::default() }).expect("list");
    assert_eq!(all.len(), MAX_QUERY_LIMIT, "capped");
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ascending");
    let page = store.list(&InboxQuery { after: Some(1000), limit: 10, ..InboxQuery::default() }).expect("page");
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), (1001..=1005).collect::<Vec<_>>());

    let slack =
        store.list(&InboxQuery { channel: Some("slack".into()), limit: 3, ..InboxQuery::default() }).expect("slack");
    assert_eq!(slack.iter().map(|e| e.id).collect::<Vec<_>>(), vec![2, 4, 6]);
    let done = store.list(&InboxQuery { state: Some(InboxState::Done), ..InboxQuery::default() }).expect("done");
    assert_eq!(done.iter().map(|e| e.id).collect::<Vec<_>>(), vec![2, 3, 4]);
    let both = store
        .list(&InboxQuery {
            channel: Some("telegram".into()),
            state: Some(InboxState::Done),
            after: Some(0),
            limit: 10,
            bodies: false,
        })
        .expect("both");
    assert_eq!(both.iter().map(|e| e.id).collect::<Vec<_>>(), vec![3]);
    assert!(store.list(&InboxQuery { limit: 0, ..InboxQuery::default() }).expect("empty").is_empty());

    let counts = store.counts_by_channel().expect("counts");
    assert_eq!(
        counts,
        vec![
            ("slack".into(), InboxState::Done, 2),
            ("slack".into(), InboxState::Received, 500),
            ("telegram".into(), InboxState::Done, 1),
            ("telegram".into(), InboxState::Received, 502),
        ]
    );
}

#[test]
fn kv_put_and_get() {
    let dir = TempDir::new("kv");
    let store = Store::open(options(dir.db())).expect("open");
    assert_eq!(store.kv_get("telegram.offset"), Ok(None));
    for value in [b"1".to_vec(), b"2".to_vec()] {
        let (tx, rx) = crossbeam_channel::bounded(1);
        store.kv_put(
            "telegram.offset",
            value,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        assert_eq!(rx.recv(), Ok(Ok(())));
    }
    assert_eq!(store.kv_get("telegram.offset"), Ok(Some(b"2".to_vec())));
}

#[test]
fn outbox_enqueue_due_and_attempts() {
    let dir = TempDir::new("outbox");
    let store = Store::open(options(dir.db())).expect("open");
    let enqueue = |target: &str, at: u64| {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let m = NewOutbound { channel: "telegram".into(), target: target.into(), body: b"hi".to_vec(), created_ms: at };
        store.outbox_enqueue(
            m,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().expect("answer").expect("id")
    };
    let a = enqueue("chat-1", 100);
    let b = enqueue("chat-2", 200);
    assert_eq!(store.outbox_due(150, 10).expect("due").iter().map(|e| e.id).collect::<Vec<_>>(), vec![a]);
    let set = |id: i64, state: OutboxState, next: u64| {
        let (tx, rx) = crossbeam_channel::bounded(1);
        store.outbox_set_state(
            id,
            state,
            next,
            Some("429".into()),
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().expect("answer")
    };
    assert_eq!(set(a, OutboxState::Pending, 1_000), Ok(()));
    assert_eq!(set(b, OutboxState::Sent, 0), Ok(()));
    assert_eq!(set(777, OutboxState::Sent, 0), Err(StoreError::NotFound));
    assert!(store.outbox_due(999, 10).expect("due").is_empty());
    let due = store.outbox_due(1_000, 10).expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id, due[0].attempts, due[0].error.as_deref()), (a, 1, Some("429")));
}

/// Regression: under steady writing the WAL never restarted (a PASSIVE checkpoint is never
/// complete when the writer commits again), grew to the TRUNCATE bound, and each TRUNCATE
/// stalled commits for ~200 ms. Here a reader's open snapshot keeps PASSIVE from finishing,
/// as the next commit did under load.
#[test]
fn past_the_restart_bound_maintenance_makes_the_wal_start_over() {
    let dir = TempDir::new("restart-wal");
    let b = SqliteBackend::open(&dir.db(), AckMode::Durable, true).expect("open");
    let body = vec![b'x'; 8192];
    let write = |from: usize, n: usize| {
        let ds: Vec<_> = (from..from + n)
            .map(|i| NewDelivery { body: body.clone(), ..delivery("telegram", &format!("r{i}"), 1) })
            .collect();
        for chunk in ds.chunks(100) {
            append_all(&b, chunk, 0);
        }
    };
    write(0, 600);
    // A reader holds a snapshot taken here while more is committed behind it, and lets go
    // 200 ms later (a RESTART waits for it; a PASSIVE stops at its snapshot).
    let reader = rusqlite::Connection::open(dir.db()).expect("reader");
    reader.execute_batch("BEGIN; SELECT count(*) FROM inbox;").expect("snapshot");
    write(600, 600);
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        reader.execute_batch("COMMIT").expect("end snapshot");
    });
    assert!(b.maintain().expect("maintain"), "there were frames to copy");
    release.join().expect("reader thread");
    append_all(&b, &[delivery("telegram", "after", 1)], 0);
    assert!(b.wal_frames() < 64, "the next commit wrote the WAL from its start");
    // Nothing written since: maintenance says so, and the checkpointer goes back to its slow pace.
    b.maintain().expect("maintain");
    assert!(!b.maintain().expect("maintain"), "an idle WAL asks for no early round");
}

#[test]
fn a_large_wal_is_truncated_by_maintenance() {
    let dir = TempDir::new("wal");
    let mut b = SqliteBackend::open(&dir.db(), AckMode::Durable, true).expect("open");
    b.set_wal_truncate_bytes(0);
    let ds: Vec<_> = (0..200).map(|i| delivery("telegram", &format!("w{i}"), 1)).collect();
    append_all(&b, &ds, 0);
    let wal_len = || std::fs::metadata(b.wal_path()).map_or(0, |m| m.len());
    assert!(wal_len() > 0);
    b.maintain().expect("checkpoint");
    assert_eq!(wal_len(), 0, "TRUNCATE empties the WAL once it is past the bound");
    // Everything is still there, and writing goes on.
    append_all(&b, &[delivery("telegram", "after", 1)], 0);
    assert_eq!(b.list(&InboxQuery { limit: 1000, ..InboxQuery::default() }).expect("list").len(), 201);
    assert!(dir.path().exists());
}

#[test]
fn durable_with_normal_sync_acks_after_its_own_wal_sync() {
    let dir = TempDir::new("normal");
    let mut opts = options(dir.db());
    opts.sync_full = false;
    let store = Store::open(opts).expect("open");
    for i in 0..3 {
        assert!(matches!(submit_wait(&store, delivery("hooks", &format!("n{i}"), 1)), Ok(Appended::Stored { .. })));
    }
    let s = store.stats();
    assert_eq!(s.syncs, s.batches);
    assert_eq!(s.unsynced_records, 0);
}

#[test]
fn state_names_round_trip() {
    for s in InboxState::ALL {
        assert_eq!(InboxState::parse(s.as_str()), Some(s));
    }
    for s in OutboxState::ALL {
        assert_eq!(OutboxState::parse(s.as_str()), Some(s));
    }
    assert_eq!(InboxState::parse("Received"), None);
    assert_eq!(InboxState::parse(""), None);
}
