//! The agent tables (schema version 4): a turn's start and end, session totals, history
//! order and bounds, the idempotency index, patch and delete, usage, and the migration from
//! version 3 keeping the inbox.

use super::{TempDir, delivery, options, submit_wait};
use crate::store::schema;
use crate::store::{AgentWrite, NewMessage, SessionOrigin, Store, TurnState};

fn start(key: &str, run: &str, idem: Option<&str>, text: &str) -> AgentWrite {
    AgentWrite::StartTurn {
        session_key: key.to_owned(),
        session_id: format!("sid-{key}"),
        agent_id: "main".to_owned(),
        origin: SessionOrigin { channel: Some("telegram".into()), chat_id: Some("42".into()) },
        run_id: run.to_owned(),
        model: "builtin/echo".to_owned(),
        started_ms: 1_000,
        idempotency_key: idem.map(str::to_owned),
        user: NewMessage::text("user", text),
    }
}

fn end(key: &str, run: &str, state: TurnState, reply: Option<&str>, tokens: (u64, u64), cost: f64) -> AgentWrite {
    AgentWrite::EndTurn {
        session_key: key.to_owned(),
        run_id: run.to_owned(),
        state,
        ended_ms: 2_000,
        input_tokens: tokens.0,
        output_tokens: tokens.1,
        cost_usd: cost,
        error: (state == TurnState::Error).then(|| "upstream 500".to_owned()),
        model: "builtin/echo".to_owned(),
        assistant: reply.map(|r| NewMessage::text("assistant", r)),
    }
}

#[test]
fn a_turn_stores_both_messages_and_adds_to_the_session_totals() {
    let dir = TempDir::new("agent-turn");
    let store = Store::open(options(dir.db())).expect("open");
    store.agent_write_wait(start("s1", "r1", None, "hello")).expect("start");
    let reads = store.agent().expect("reads");
    let running = reads.turn("r1").expect("read").expect("turn row");
    assert_eq!(running.state, TurnState::Running);
    assert_eq!(store.agent_write_wait(end("s1", "r1", TurnState::Done, Some("hi"), (3, 5), 0.25)).expect("end"), 1);
    store.agent_write_wait(start("s1", "r2", None, "again")).expect("start 2");
    store.agent_write_wait(end("s1", "r2", TurnState::Aborted, Some("par"), (1, 1), 0.0)).expect("end 2");

    let s = reads.session("s1").expect("read").expect("session");
    assert_eq!((s.session_id.as_str(), s.turns, s.input_tokens, s.output_tokens), ("sid-s1", 2, 4, 6));
    assert!((s.cost_usd - 0.25).abs() < 1e-9);
    assert_eq!((s.channel.as_deref(), s.chat_id.as_deref()), (Some("telegram"), Some("42")));
    let texts: Vec<String> = reads.messages("s1", 100).expect("messages").into_iter().map(|m| m.content).collect();
    assert_eq!(texts, ["hello", "hi", "again", "par"]);
    let newest_two: Vec<String> = reads.messages("s1", 2).expect("messages").into_iter().map(|m| m.content).collect();
    assert_eq!(newest_two, ["again", "par"], "the newest messages, oldest first");
    assert_eq!(reads.messages_of_channel("telegram", 10).expect("by channel").len(), 4);
    assert!(reads.messages_of_channel("slack", 10).expect("by channel").is_empty());
    let done = reads.turn("r1").expect("read").expect("turn");
    assert_eq!(
        (done.state, done.input_tokens, done.output_tokens, done.ended_at),
        (TurnState::Done, 3, 5, Some(2_000))
    );
    let usage = reads.usage_by_model().expect("usage");
    assert_eq!(usage.len(), 1);
    assert_eq!((usage[0].turns, usage[0].input_tokens, usage[0].output_tokens), (2, 4, 6));
}

#[test]
fn a_round_of_tool_messages_is_stored_in_order_only_while_the_turn_runs() {
    let dir = TempDir::new("agent-round");
    let store = Store::open(options(dir.db())).expect("open");
    store.agent_write_wait(start("s1", "r1", None, "what time is it")).expect("start");
    let call = NewMessage {
        tool_calls: Some(r#"[{"id":"call_1","name":"current_time","arguments":"{}"}]"#.into()),
        ..NewMessage::text("assistant", "")
    };
    let result = NewMessage { tool_call_id: Some("call_1".into()), ..NewMessage::text("tool", "12:00") };
    let round = |run: &str| AgentWrite::AppendMessages {
        session_key: "s1".into(),
        run_id: run.into(),
        messages: vec![call.clone(), result.clone()],
    };
    assert_eq!(store.agent_write_wait(round("r1")).expect("round"), 2);
    assert_eq!(store.agent_write_wait(round("nope")).expect("unknown run"), 0, "no running turn: nothing stored");
    store.agent_write_wait(end("s1", "r1", TurnState::Done, Some("it is 12:00"), (1, 1), 0.0)).expect("end");
    assert_eq!(store.agent_write_wait(round("r1")).expect("ended"), 0, "an ended turn takes no more messages");
    let rows = store.agent().expect("reads").messages("s1", 100).expect("messages");
    let seen: Vec<(&str, &str, Option<&str>)> =
        rows.iter().map(|m| (m.role.as_str(), m.content.as_str(), m.tool_call_id.as_deref())).collect();
    assert_eq!(
        seen,
        [
            ("user", "what time is it", None),
            ("assistant", "", None),
            ("tool", "12:00", Some("call_1")),
            ("assistant", "it is 12:00", None)
        ]
    );
    assert!(rows.get(1).and_then(|m| m.tool_calls.as_deref()).is_some_and(|c| c.contains("current_time")));
}

#[test]
fn ending_a_turn_twice_changes_nothing_the_second_time() {
    let dir = TempDir::new("agent-twice");
    let store = Store::open(options(dir.db())).expect("open");
    store.agent_write_wait(start("s", "r", None, "x")).expect("start");
    assert_eq!(store.agent_write_wait(end("s", "r", TurnState::Done, None, (1, 1), 0.0)).expect("end"), 1);
    assert_eq!(store.agent_write_wait(end("s", "r", TurnState::Error, None, (1, 1), 0.0)).expect("again"), 0);
    let turn = store.agent().expect("reads").turn("r").expect("read").expect("turn");
    assert_eq!(turn.state, TurnState::Done, "an ended turn is never reopened or re-ended");
    let session = store.agent().expect("reads").session("s").expect("read").expect("row");
    assert_eq!((session.turns, session.input_tokens), (1, 1), "the second end adds nothing to the totals");
}

#[test]
fn an_idempotency_key_is_unique_per_session_and_found_again() {
    let dir = TempDir::new("agent-idem");
    let store = Store::open(options(dir.db())).expect("open");
    store.agent_write_wait(start("s", "r1", Some("k"), "x")).expect("first");
    store.agent_write_wait(start("other", "r2", Some("k"), "x")).expect("same key, other session");
    let found = store.agent().expect("reads").turn_by_idempotency("s", "k").expect("read").expect("row");
    assert_eq!(found.run_id, "r1");
    // A second turn with the same key in the same session stores nothing, and the store
    // stays healthy (a unique-index failure would have fail-stopped it).
    assert_eq!(store.agent_write_wait(start("s", "r3", Some("k"), "x")).expect("repeat"), 0);
    assert!(store.agent().expect("reads").turn("r3").expect("read").is_none());
    assert_eq!(store.agent().expect("reads").messages("s", 10).expect("messages").len(), 1);
    assert!(store.healthy());
}

#[test]
fn patch_and_delete_a_session() {
    let dir = TempDir::new("agent-patch");
    let store = Store::open(options(dir.db())).expect("open");
    store.agent_write_wait(start("s", "r", None, "x")).expect("start");
    let patch = AgentWrite::PatchSession {
        session_key: "s".into(),
        label: Some(Some("Work".into())),
        model: Some(Some("openai/gpt-4o-mini".into())),
    };
    assert_eq!(store.agent_write_wait(patch).expect("patch"), 1);
    let reads = store.agent().expect("reads");
    let s = reads.session("s").expect("read").expect("row");
    assert_eq!((s.label.as_deref(), s.model.as_deref()), (Some("Work"), Some("openai/gpt-4o-mini")));
    let missing = AgentWrite::PatchSession { session_key: "nope".into(), label: Some(None), model: None };
    assert_eq!(store.agent_write_wait(missing).expect("patch"), 0);
    assert_eq!(reads.sessions(10).expect("list").len(), 1);
    assert_eq!(store.agent_write_wait(AgentWrite::DeleteSession { session_key: "s".into() }).expect("delete"), 1);
    assert!(reads.session("s").expect("read").is_none());
    assert!(reads.messages("s", 10).expect("messages").is_empty());
    assert!(reads.turn("r").expect("turn").is_none());
}

#[test]
fn version_3_files_gain_the_agent_tables_and_keep_their_inbox() {
    let dir = TempDir::new("agent-migrate");
    {
        let store = Store::open(options(dir.db())).expect("open");
        submit_wait(&store, delivery("telegram", "1", 5)).expect("stored");
    }
    // Roll the file back to version 3 by dropping what version 4 added.
    let conn = rusqlite::Connection::open(dir.db()).expect("open");
    conn.execute_batch("DROP TABLE sessions; DROP TABLE transcript; DROP TABLE turns; PRAGMA user_version = 3;")
        .expect("roll back");
    drop(conn);
    let store = Store::open(options(dir.db())).expect("migrate");
    assert_eq!(store.list(&crate::store::InboxQuery::default()).expect("inbox").len(), 1);
    store.agent_write_wait(start("s", "r", None, "x")).expect("new tables work");
    drop(store);
    let conn = rusqlite::Connection::open(dir.db()).expect("open");
    assert_eq!(schema::version(&conn).expect("version"), schema::LATEST);
    assert_eq!(schema::LATEST, 4);
}
