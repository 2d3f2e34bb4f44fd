//! The store side of the channel loop: a turn left `running` by a crash is interrupted at the
//! next open and its idempotency key released; a channel turn's end queues its reply and
//! settles its inbox row in the same transaction, only once, only on the attempt it belongs to.

use super::{TempDir, barrier, delivery, options, submit_wait};
use crate::store::{
    AgentWrite, InboxOutcome, InboxReply, InboxState, NewMessage, NewOutbound, SessionOrigin, Store, TurnState,
};

fn start(key: &str, run: &str, idem: &str) -> AgentWrite {
    AgentWrite::StartTurn {
        session_key: key.to_owned(),
        session_id: format!("sid-{key}"),
        agent_id: "main".to_owned(),
        origin: SessionOrigin { channel: Some("telegram".into()), chat_id: Some(key.to_owned()) },
        run_id: run.to_owned(),
        model: "builtin/echo".to_owned(),
        started_ms: 1_000,
        idempotency_key: Some(idem.to_owned()),
        user: NewMessage::text("user", "question"),
    }
}

fn end(key: &str, run: &str, state: TurnState, inbox: Option<InboxReply>) -> AgentWrite {
    let end = AgentWrite::EndTurn {
        session_key: key.to_owned(),
        run_id: run.to_owned(),
        state,
        ended_ms: 2_000,
        input_tokens: 1,
        output_tokens: 1,
        cost_usd: 0.0,
        error: None,
        model: "builtin/echo".to_owned(),
        assistant: (state == TurnState::Done).then(|| NewMessage::text("assistant", "answer")),
    };
    match inbox {
        Some(inbox) => AgentWrite::EndChannelTurn { end: Box::new(end), inbox: Box::new(inbox) },
        None => end,
    }
}

fn reply(inbox_id: i64, attempt: u32, turns: &[(&str, &str)], outcome: InboxOutcome) -> InboxReply {
    InboxReply {
        inbox_id,
        attempt,
        turns: turns.iter().map(|(s, k)| ((*s).to_owned(), (*k).to_owned())).collect::<Vec<_>>().into(),
        outbox: vec![NewOutbound {
            channel: "telegram".into(),
            target: r#"{"kind":"telegram","chat_id":"5"}"#.into(),
            body: format!("reply for {inbox_id}").into_bytes(),
            created_ms: 3_000,
        }],
        outcome,
    }
}

/// A stored, dispatched delivery's inbox id.
fn dispatched_row(store: &Store, id: &str) -> i64 {
    let row = submit_wait(store, delivery("telegram", id, 5)).expect("stored").id();
    store.set_state(vec![row], InboxState::Dispatched, None);
    barrier(store).expect("committed");
    row
}

#[test]
fn a_turn_left_running_is_interrupted_at_open_and_its_key_runs_again() {
    let dir = TempDir::new("chan-interrupt");
    {
        let store = Store::open(options(dir.db())).expect("open");
        store.agent_write_wait(start("telegram:5", "r1", "inbox:1:0:0")).expect("start");
        // The process dies here: the turn never ends.
    }
    let store = Store::open(options(dir.db())).expect("reopen");
    assert_eq!(store.interrupt_running_turns().expect("interrupt"), 1);
    assert_eq!(store.interrupt_running_turns().expect("again"), 0, "nothing is running any more");
    let reads = store.agent().expect("reads");
    let turn = reads.turn("r1").expect("read").expect("row stays as the record");
    assert_eq!((turn.state, turn.idempotency_key.as_deref()), (TurnState::Interrupted, None));
    assert!(turn.error.as_deref().is_some_and(|e| e.contains("inbox:1:0:0 released")), "{:?}", turn.error);
    assert!(reads.messages("telegram:5", 10).expect("messages").is_empty(), "the re-run stores the question again");
    assert_eq!(reads.session("telegram:5").expect("read").expect("session").turns, 1, "counted as ended");
    assert!(reads.turn_by_idempotency("telegram:5", "inbox:1:0:0").expect("read").is_none());
    assert_eq!(store.agent_write_wait(start("telegram:5", "r2", "inbox:1:0:0")).expect("re-run"), 1);
    let again = reads.turn_by_idempotency("telegram:5", "inbox:1:0:0").expect("read").expect("row");
    assert_eq!(again.run_id, "r2");
}

#[test]
fn a_turn_interrupted_by_a_shutdown_releases_its_key_too() {
    let dir = TempDir::new("chan-shutdown");
    let store = Store::open(options(dir.db())).expect("open");
    store.agent_write_wait(start("s", "r1", "k")).expect("start");
    assert_eq!(store.agent_write_wait(end("s", "r1", TurnState::Interrupted, None)).expect("end"), 1);
    let reads = store.agent().expect("reads");
    assert!(reads.turn_by_idempotency("s", "k").expect("read").is_none());
    assert!(reads.messages("s", 10).expect("messages").is_empty());
    assert_eq!(store.agent_write_wait(start("s", "r2", "k")).expect("re-run"), 1);
}

#[test]
fn the_reply_is_queued_with_the_end_and_the_row_is_done_when_every_turn_is() {
    let dir = TempDir::new("chan-settle");
    let store = Store::open(options(dir.db())).expect("open");
    let row = dispatched_row(&store, "1");
    let turns = [("telegram:5", "inbox:1:0:0"), ("telegram:6", "inbox:1:0:1")];
    store.agent_write_wait(start("telegram:5", "r0", turns[0].1)).expect("start 0");
    store.agent_write_wait(start("telegram:6", "r1", turns[1].1)).expect("start 1");

    let first = end("telegram:5", "r0", TurnState::Done, Some(reply(row, 0, &turns, InboxOutcome::Answered)));
    assert_eq!(store.agent_write_wait(first.clone()).expect("end 0"), 1);
    assert_eq!(store.outbox_due(u64::MAX, 10).expect("outbox").len(), 1, "queued with the turn's end");
    assert_eq!(store.get(row).expect("row").state, InboxState::Dispatched, "a sibling still runs");

    // The same end again (a retried write) changes nothing and queues nothing.
    assert_eq!(store.agent_write_wait(first).expect("repeat"), 0);
    assert_eq!(store.outbox_due(u64::MAX, 10).expect("outbox").len(), 1);

    let second = end("telegram:6", "r1", TurnState::Done, Some(reply(row, 0, &turns, InboxOutcome::Answered)));
    assert_eq!(store.agent_write_wait(second).expect("end 1"), 1);
    assert_eq!(store.outbox_due(u64::MAX, 10).expect("outbox").len(), 2);
    let settled = store.get(row).expect("row");
    assert_eq!((settled.state, settled.error), (InboxState::Done, None));
}

#[test]
fn a_failed_turn_fails_its_row_but_never_a_replayed_or_settled_one() {
    let dir = TempDir::new("chan-fail");
    let store = Store::open(options(dir.db())).expect("open");
    let row = dispatched_row(&store, "1");
    let turns = [("telegram:5", "k0")];
    store.agent_write_wait(start("telegram:5", "r0", "k0")).expect("start");
    let failed = InboxOutcome::Failed("the agent turn failed: upstream_unavailable".into());
    store
        .agent_write_wait(end("telegram:5", "r0", TurnState::Error, Some(reply(row, 0, &turns, failed))))
        .expect("end");
    let r = store.get(row).expect("row");
    assert_eq!(
        (r.state, r.error.as_deref()),
        (InboxState::Failed, Some("the agent turn failed: upstream_unavailable"))
    );
    assert_eq!(store.outbox_due(u64::MAX, 10).expect("outbox").len(), 1, "the error notice");

    // A turn of attempt 0 ending after the row was replayed (attempt 1) leaves the row alone.
    let replayed = dispatched_row(&store, "2");
    let (tx, rx) = crossbeam_channel::bounded(1);
    store.replay(replayed, Box::new(move |r| drop(tx.send(r))));
    rx.recv().expect("answered").expect("replayed");
    store.agent_write_wait(start("telegram:7", "r1", "k1")).expect("start");
    let late = reply(replayed, 0, &[("telegram:7", "k1")], InboxOutcome::Answered);
    store.agent_write_wait(end("telegram:7", "r1", TurnState::Done, Some(late))).expect("end");
    assert_eq!(store.get(replayed).expect("row").state, InboxState::Received, "the replay wins");

    // An interrupted turn queues nothing and leaves its row for the next start.
    let row3 = dispatched_row(&store, "3");
    store.agent_write_wait(start("telegram:8", "r2", "k2")).expect("start");
    let mut interrupted = reply(row3, 0, &[("telegram:8", "k2")], InboxOutcome::Interrupted);
    interrupted.outbox.clear();
    store.agent_write_wait(end("telegram:8", "r2", TurnState::Interrupted, Some(interrupted))).expect("end");
    assert_eq!(store.get(row3).expect("row").state, InboxState::Dispatched);
    assert_eq!(store.outbox_due(u64::MAX, 10).expect("outbox").len(), 2, "still only the earlier two");
}
