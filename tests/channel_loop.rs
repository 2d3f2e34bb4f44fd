//! The channel loop end to end, in process: a signed webhook delivery to a real gateway on an
//! ephemeral port runs an agent turn (`builtin/echo`, or a fake OpenAI-compatible upstream
//! whose streams the test holds), and the reply reaches a fake platform API
//! (`support/fake_platform.rs`) through the outbox.
//!
//! Covered: Telegram, exactly one `sendMessage` to the right chat with the agent's reply; a
//! repeated delivery (same `update_id`) answered by nothing more; a second message in the
//! chat lands in the same session; the inbox row `done`; `message:received` still published;
//! bots, edits and channels without send credentials get no turn; LINE, every message event
//! of a delivery answered with its own reply token; a full agent queue delays turns (counted
//! as deferred) but every message is answered exactly once; `/metrics` and `channels.status`.

#[path = "support/fake_platform.rs"]
mod fake_platform;
#[path = "support/fake_upstream.rs"]
mod fake_upstream;
mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use fake_platform::{FakePlatform, Seen, json};
use fake_upstream::FakeUpstream;
use hmac::{Hmac, Mac};
use serde_json::{Value, json as j};
use sha2::Sha256;
use support::{Response, TestServer, post_with};
use talon::store::InboxState;
use talon::webhook::Channel;

/// How long anything the gateway does in the background may take before a test fails.
const DEADLINE: Duration = Duration::from_secs(20);

const TG_SECRET: &str = "s3cr3t_Token-1";
const LINE_SECRET: &str = "test-channel-secret";

/// The usual success answer of the platform `seen` went to.
fn success(seen: &Seen) -> fake_platform::Reply {
    if seen.path.starts_with("/tg/") { json(200, r#"{"ok":true,"result":{"message_id":1}}"#) } else { json(200, "{}") }
}

/// Telegram (answered) and LINE (answered) against `fake`, fast outbox polling, plus `extra`
/// merged over the top level.
fn config(fake: &FakePlatform, extra: Value) -> Value {
    let mut doc = j!({
        "channels": {
            "telegram": { "enabled": true, "secret_token": TG_SECRET, "bot_token": "123:SECRET", "api_base": fake.base("/tg") },
            "line": { "enabled": true, "channel_secret": LINE_SECRET, "channel_access_token": "line-token", "api_base": fake.base("/line") },
            "outbound": { "backoff_base_ms": 50, "backoff_max_ms": 500, "poll_interval_ms": 100 }
        }
    });
    if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            doc.insert(k.clone(), v.clone());
        }
    }
    doc
}

fn update(update_id: u64, chat: i64, text: &str, from: Value) -> String {
    j!({"update_id": update_id, "message": {"message_id": update_id, "from": from, "chat": {"id": chat, "type": "private"}, "date": 1, "text": text}})
        .to_string()
}

fn user() -> Value {
    j!({"id": 9, "is_bot": false, "first_name": "Ada"})
}

fn post_telegram(srv: &TestServer, body: &str) -> Response {
    let token = format!("X-Telegram-Bot-Api-Secret-Token: {TG_SECRET}");
    srv.request(&post_with("/webhook/telegram", &[token], body.as_bytes()))
}

fn post_line(srv: &TestServer, body: &str) -> Response {
    let mut mac = Hmac::<Sha256>::new_from_slice(LINE_SECRET.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    srv.request(&post_with("/webhook/line", &[format!("x-line-signature: {sig}")], body.as_bytes()))
}

fn stored_id(r: &Response) -> i64 {
    assert_eq!(r.status, 200, "{} {}", r.head, r.text());
    r.json()["id"].as_i64().unwrap_or_else(|| panic!("no id: {}", r.text()))
}

/// Wait until `cond` holds, or fail naming `what`.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn state(srv: &TestServer, id: i64) -> InboxState {
    srv.app().store.get(id).expect("inbox row").state
}

/// No more requests arrive for a while: nothing is sent twice.
fn settle(fake: &FakePlatform, expected: usize) {
    std::thread::sleep(Duration::from_millis(600));
    let paths: Vec<String> = fake.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(paths.len(), expected, "requests to the platform: {paths:#?}");
}

fn transcript(srv: &TestServer, session: &str) -> Vec<(String, String)> {
    let reads = srv.app().store.agent().expect("reads");
    reads.messages(session, 100).expect("messages").into_iter().map(|m| (m.role, m.content)).collect()
}

fn published(srv: &TestServer, name: &str) -> usize {
    let events = srv.app().bus.recent(1000);
    events
        .iter()
        .filter_map(|e| serde_json::from_slice::<Value>(e.activity()).ok())
        .filter(|v| v["event"] == name)
        .count()
}

#[test]
fn a_telegram_message_gets_exactly_one_reply_in_its_chat_session() {
    let fake = FakePlatform::start(|seen, _| success(seen));
    let srv = TestServer::from_doc(config(&fake, j!({})));
    let id = stored_id(&post_telegram(&srv, &update(1, 4242, "hello agent", user())));

    let seen = fake.wait_for(1, DEADLINE);
    assert_eq!(seen.len(), 1, "one sendMessage");
    assert_eq!(seen[0].path, "/tg/bot123:SECRET/sendMessage");
    assert_eq!(seen[0].json()["chat_id"], 4242);
    assert_eq!(seen[0].json()["text"], "hello agent", "builtin/echo answers with the message");
    wait_until("the row to be done", || state(&srv, id) == InboxState::Done);

    // The platform retries the same update: acknowledged as a duplicate, answered by nothing.
    let again = post_telegram(&srv, &update(1, 4242, "hello agent", user()));
    assert_eq!(again.header("x-talon-delivery"), Some("duplicate"), "{}", again.head);
    settle(&fake, 1);

    // A second message in the chat: same session, its history grows.
    let second = stored_id(&post_telegram(&srv, &update(2, 4242, "and again", user())));
    let seen = fake.wait_for(2, DEADLINE);
    assert_eq!(seen.get(1).map(|s| s.json()["text"].clone()), Some(j!("and again")));
    wait_until("the second row to be done", || state(&srv, second) == InboxState::Done);
    settle(&fake, 2);
    let history = transcript(&srv, "telegram:4242");
    let texts: Vec<&str> = history.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(texts, ["hello agent", "hello agent", "and again", "and again"]);
    let session = srv.app().store.agent().expect("reads").session("telegram:4242").expect("read").expect("row");
    assert_eq!(
        (session.channel.as_deref(), session.chat_id.as_deref(), session.turns),
        (Some("telegram"), Some("4242"), 2)
    );

    assert_eq!(published(&srv, "message:received"), 2, "other subscribers still see every delivery");
    let turns = srv.app().channel_turns.stats().snapshot(Channel::Telegram);
    assert_eq!((turns.started, turns.replied, turns.failed), (2, 2, 0));
    let metrics = srv.get("/metrics").text();
    assert!(metrics.contains("talon_channel_turns_replied_total{channel=\"telegram\"} 2\n"), "{metrics}");
    assert!(metrics.contains("talon_channel_turns_in_flight 0\n"), "{metrics}");
}

#[test]
fn bots_edits_and_channels_without_send_credentials_get_no_turn() {
    let fake = FakePlatform::start(|seen, _| success(seen));
    // LINE can verify but has no access token: its deliveries are only dispatched.
    let mut doc = config(&fake, j!({}));
    doc["channels"]["line"] = j!({ "enabled": true, "channel_secret": LINE_SECRET, "api_base": fake.base("/line") });
    let srv = TestServer::from_doc(doc);
    assert!(srv.app().channel_turns.answers(Channel::Telegram));
    assert!(!srv.app().channel_turns.answers(Channel::Line));

    let bot = stored_id(&post_telegram(&srv, &update(1, 5, "beep", j!({"id": 1, "is_bot": true}))));
    let edit =
        j!({"update_id": 2, "edited_message": {"message_id": 1, "from": user(), "chat": {"id": 5}, "text": "fixed"}});
    let edit = stored_id(&post_telegram(&srv, &edit.to_string()));
    let line = r#"{"destination":"U0","events":[{"type":"message","replyToken":"rt","webhookEventId":"E1","source":{"type":"user","userId":"U1"},"message":{"type":"text","id":"1","text":"hi"}}]}"#;
    let line = stored_id(&post_line(&srv, line));
    for id in [bot, edit, line] {
        wait_until("the row to be dispatched", || state(&srv, id) == InboxState::Dispatched);
    }
    settle(&fake, 0);
    assert!(transcript(&srv, "telegram:5").is_empty());
    assert_eq!(srv.app().channel_turns.stats().snapshot(Channel::Telegram).started, 0);
}

#[test]
fn every_line_message_event_is_answered_with_its_own_reply_token() {
    let fake = FakePlatform::start(|seen, _| success(seen));
    let srv = TestServer::from_doc(config(&fake, j!({})));
    let body = r#"{"destination":"U0","events":[
        {"type":"message","replyToken":"rt-1","webhookEventId":"E1","source":{"type":"user","userId":"U1"},"message":{"type":"text","id":"1","text":"first"}},
        {"type":"follow","replyToken":"rt-2","webhookEventId":"E2","source":{"type":"user","userId":"U2"}},
        {"type":"message","replyToken":"rt-3","webhookEventId":"E3","source":{"type":"group","groupId":"G1","userId":"U3"},"message":{"type":"text","id":"2","text":"second"}}
    ]}"#;
    let id = stored_id(&post_line(&srv, body));
    let seen = fake.wait_for(2, DEADLINE);
    settle(&fake, 2);
    let mut replies: Vec<(String, String)> = seen
        .iter()
        .map(|s| {
            assert_eq!(s.path, "/line/v2/bot/message/reply");
            assert_eq!(s.header("authorization"), Some("Bearer line-token"));
            let v = s.json();
            (
                v["replyToken"].as_str().unwrap_or("").to_owned(),
                v["messages"][0]["text"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    replies.sort();
    assert_eq!(replies, [("rt-1".to_owned(), "first".to_owned()), ("rt-3".to_owned(), "second".to_owned())]);
    wait_until("the row to be done once both turns are", || state(&srv, id) == InboxState::Done);
    assert_eq!(transcript(&srv, "line:U1").len(), 2);
    assert_eq!(transcript(&srv, "line:G1").len(), 2);
    let status = srv.app().channel_turns.stats().snapshot(Channel::Line);
    assert_eq!((status.started, status.replied), (2, 2));
}

#[test]
fn a_full_agent_queue_delays_turns_but_answers_every_message_once() {
    let fake = FakePlatform::start(|seen, _| success(seen));
    let upstream = FakeUpstream::held(&["slow ", "answer"], Duration::ZERO);
    let srv = TestServer::from_doc(config(
        &fake,
        j!({
            "agent": { "default_model": "fake/slow", "max_concurrent_turns": 1, "max_queued_turns": 1 },
            "providers": { "fake": { "base_url": upstream.base, "models": ["slow"], "max_retries": 0 } },
            "channels": {
                "telegram": { "enabled": true, "secret_token": TG_SECRET, "bot_token": "123:SECRET", "api_base": fake.base("/tg") },
                "outbound": { "poll_interval_ms": 100 },
                "replies": { "retry_base_ms": 20, "retry_max_ms": 100 }
            }
        }),
    ));
    // Five chats: one turn runs (held upstream), one waits in the agent queue, the rest are
    // refused for now and wait in the dispatcher's line.
    let ids: Vec<i64> = (0..5)
        .map(|n| stored_id(&post_telegram(&srv, &update(n + 1, 100 + i64::try_from(n).unwrap_or(0), "q", user()))))
        .collect();
    assert!(upstream.wait_for_requests(1, DEADLINE), "the first turn reached the upstream");
    wait_until("a refusal", || srv.app().channel_turns.stats().snapshot(Channel::Telegram).deferred > 0);
    assert!(fake.seen().is_empty(), "nothing answered while the upstream holds");
    let states: Vec<InboxState> = ids.iter().map(|&id| state(&srv, id)).collect();
    assert!(
        states.iter().all(|s| matches!(s, InboxState::Received | InboxState::Dispatched)),
        "nothing dropped or failed: {states:?}"
    );

    upstream.release();
    let seen = fake.wait_for(5, DEADLINE);
    settle(&fake, 5);
    let mut chats: Vec<i64> = seen.iter().filter_map(|s| s.json()["chat_id"].as_i64()).collect();
    chats.sort_unstable();
    assert_eq!(chats, [100, 101, 102, 103, 104], "each chat answered once");
    assert!(seen.iter().all(|s| s.json()["text"] == "slow answer"));
    for id in ids {
        wait_until("every row to be done", || state(&srv, id) == InboxState::Done);
    }
    let turns = srv.app().channel_turns.stats().snapshot(Channel::Telegram);
    assert_eq!((turns.started, turns.replied), (5, 5));
    let status = srv.request(&support::get("/health"));
    assert_eq!(status.status, 200);
}

#[test]
fn a_failed_turn_fails_its_row_and_tells_the_user() {
    let fake = FakePlatform::start(|seen, _| success(seen));
    // An upstream that refuses every connection: the turn ends in an error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}/v1", closed.local_addr().expect("addr"));
    drop(closed);
    let srv = TestServer::from_doc(config(
        &fake,
        j!({
            "agent": { "default_model": "dead/m" },
            "providers": { "dead": { "base_url": dead, "models": ["m"], "max_retries": 0, "connect_timeout_ms": 500 } }
        }),
    ));
    let id = stored_id(&post_telegram(&srv, &update(1, 77, "anyone there?", user())));
    let seen = fake.wait_for(1, DEADLINE);
    settle(&fake, 1);
    assert_eq!(seen[0].json()["chat_id"], 77);
    let notice = seen[0].json()["text"].as_str().unwrap_or_default().to_owned();
    assert!(notice.starts_with("Sorry"), "the configured error text: {notice}");
    wait_until("the row to fail", || state(&srv, id) == InboxState::Failed);
    let row = srv.app().store.get(id).expect("row");
    assert!(row.error.as_deref().is_some_and(|e| e.starts_with("the agent turn failed")), "{:?}", row.error);
    let status = srv.app().channel_turns.stats().snapshot(Channel::Telegram);
    assert_eq!((status.started, status.failed), (1, 1));
}
