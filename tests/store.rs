//! The store through its public API only, as the gateway uses it: open at a data directory,
//! submit, wait for the ack, read back, restart, resume.
//!
//! Guarantees checked: an acked delivery is readable at once and after a reopen; a duplicate
//! names the original; `resume_unfinished` puts dispatched rows back; after `shutdown` a
//! submit is refused with `Closed` and hands the delivery back. Nothing here is timed.

use std::path::PathBuf;

use talon::store::{Appended, InboxQuery, InboxState, NewDelivery, Store, StoreError, StoreOptions};

fn temp_db(tag: &str) -> (PathBuf, PathBuf) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("talon-it-store-{tag}-{}-{nanos}", std::process::id()));
    (dir.clone(), dir.join("talon.db"))
}

fn options(db: PathBuf) -> StoreOptions {
    let mut o = StoreOptions::new(db);
    o.log = Box::new(|_| {});
    o
}

fn submit(store: &Store, id: &str) -> Result<Appended, StoreError> {
    submit_body(store, id, br#"{"update_id":1}"#.to_vec())
}

fn submit_body(store: &Store, id: &str, body: Vec<u8>) -> Result<Appended, StoreError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let d = NewDelivery {
        channel: "telegram",
        delivery_id: id.to_owned(),
        received_ms: talon::app::unix_ms(),
        headers: vec![("content-type".into(), "application/json".into())],
        body,
    };
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

#[test]
fn ack_read_restart_resume() {
    let (dir, db) = temp_db("api");
    let first = {
        let store = Store::open(options(db.clone())).expect("open");
        assert_eq!(store.resume_unfinished(), Ok(0));
        let Ok(Appended::Stored { id }) = submit(&store, "1") else { panic!("not stored") };
        assert_eq!(submit(&store, "1"), Ok(Appended::Duplicate { id }));
        assert_eq!(store.get(id).expect("row").body, br#"{"update_id":1}"#);
        store.set_state(vec![id], InboxState::Dispatched, None);
        store.shutdown();
        match store.submit(
            NewDelivery { channel: "telegram", delivery_id: "2".into(), received_ms: 0, headers: vec![], body: vec![] },
            Box::new(|_| {}),
        ) {
            Err((back, _, StoreError::Closed)) => assert_eq!(back.delivery_id, "2"),
            other => panic!("expected Closed, got {:?}", other.map_err(|e| e.2)),
        }
        assert!(store.healthy());
        id
    };
    let store = Store::open(options(db)).expect("reopen");
    assert_eq!(store.resume_unfinished(), Ok(1));
    let rows = store.list(&InboxQuery::default()).expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].id, rows[0].state, rows[0].duplicates), (first, InboxState::Received, 1));
    assert_eq!(store.counts_by_channel().expect("counts"), vec![("telegram".to_owned(), InboxState::Received, 1)]);
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_store_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Store>();
}

#[test]
fn a_gathering_writer_still_answers_a_lone_sender() {
    let dir = std::env::temp_dir().join(format!("talon-store-gather-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut opts = options(dir.join("talon.db"));
    opts.group_commit_wait = std::time::Duration::from_millis(20);
    let store = Store::open(opts).expect("open");
    // Each ack makes the writer expect one more write next time; with none coming it must
    // give up waiting and commit what it has.
    for i in 0..3 {
        assert!(matches!(submit(&store, &format!("g{i}")), Ok(Appended::Stored { .. })));
    }
    store.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listings_carry_no_bodies_and_body_pages_are_bounded_by_bytes() {
    let (dir, db) = temp_db("bodies");
    let store = Store::open(options(db)).expect("open");
    let five_mib = 5 * 1024 * 1024;
    for i in 0..3 {
        assert!(matches!(submit_body(&store, &format!("big{i}"), vec![b'x'; five_mib]), Ok(Appended::Stored { .. })));
    }
    let listed = store.list(&InboxQuery { limit: 10, ..InboxQuery::default() }).expect("list");
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|e| e.body.is_empty() && e.body_len == five_mib as u64));
    // With bodies, the page stops once it has loaded more than MAX_BODY_BYTES_PER_QUERY.
    let page = store.received_after(0, 10).expect("page");
    assert_eq!(page.len(), 2, "8 MiB budget: two 5 MiB bodies, then stop");
    assert!(page.iter().all(|e| e.body.len() == five_mib));
    store.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
