//! Outbound delivery end to end: a real gateway on an ephemeral port queues replies with
//! `Outbound::enqueue`, its `talon-outbound` thread sends them to a fake platform API
//! (`support/fake_platform.rs`, raw HTTP/1.1 on 127.0.0.1:0), and the tests check what the
//! platform received and what the gateway counted.
//!
//! Covered: every channel delivered once with the right path, headers and body; 429 with
//! Retry-After then success (retried after the delay, exactly one accepted send); 500 twice
//! then success; a permanent 400 failing with the platform's error; a pending row surviving a
//! gateway restart; the Lark tenant token fetched once and reused; `/metrics` series.

#[path = "support/fake_platform.rs"]
mod fake_platform;
mod support;

use std::time::Duration;

use fake_platform::{FakePlatform, Seen, json};
use serde_json::{Value, json as j};
use support::TestServer;
use talon::webhook::Channel;

/// How long a delivery may take before a test fails (sends are immediate; retries here wait
/// at most about a second).
const DELIVERY_DEADLINE: Duration = Duration::from_secs(10);

/// The outbox commit.
const ENQUEUE_WAIT: Duration = Duration::from_secs(5);

fn channels(fake: &FakePlatform) -> Value {
    j!({
        "telegram": { "bot_token": "123:SECRET", "api_base": fake.base("/tg") },
        "slack": { "bot_token": "xoxb-secret", "api_base": fake.base("/slack/api") },
        "discord": { "bot_token": "discord-secret", "application_id": "4242", "api_base": fake.base("/discord/api/v10") },
        "whatsapp": { "access_token": "wa-secret", "phone_number_id": "1065", "api_base": fake.base("/wa/v21.0") },
        "line": { "channel_access_token": "line-secret", "api_base": fake.base("/line") },
        "lark": { "app_id": "cli_app", "app_secret": "lark-secret", "api_base": fake.base("/lark/open-apis") },
        "outbound": { "backoff_base_ms": 50, "backoff_max_ms": 1000, "poll_interval_ms": 100, "max_attempts": 4 }
    })
}

fn server(fake: &FakePlatform) -> TestServer {
    TestServer::from_doc(j!({ "channels": channels(fake) }))
}

/// The usual success answer of whichever platform `seen` went to.
fn success(seen: &Seen) -> fake_platform::Reply {
    let p = seen.path.as_str();
    if p.ends_with("/tenant_access_token/internal") {
        json(200, r#"{"code":0,"msg":"ok","tenant_access_token":"t-fresh","expire":7200}"#)
    } else if p.starts_with("/tg/") {
        json(200, r#"{"ok":true,"result":{"message_id":1}}"#)
    } else if p.starts_with("/slack/") {
        json(200, r#"{"ok":true,"ts":"1.1"}"#)
    } else if p.starts_with("/lark/") {
        json(200, r#"{"code":0,"msg":"success","data":{}}"#)
    } else {
        json(200, "{}")
    }
}

fn enqueue(srv: &TestServer, channel: Channel, target: &str, text: &str, reply: Option<&str>) -> Vec<i64> {
    let app = srv.app();
    app.outbound.enqueue_wait(&app.store, channel, target, text, reply, ENQUEUE_WAIT).expect("queued")
}

/// Wait until the gateway counted `sent` accepted and `failed` given-up rows on `channel`.
fn wait_counts(srv: &TestServer, channel: Channel, sent: u64, failed: u64) -> talon::outbound::stats::OutboundSnapshot {
    let deadline = std::time::Instant::now() + DELIVERY_DEADLINE;
    loop {
        let s = srv.app().outbound.stats().snapshot(channel);
        if (s.sent >= sent && s.failed >= failed) || std::time::Instant::now() >= deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// No more requests arrive for a while (nothing is sent twice).
fn settle(fake: &FakePlatform, expected: usize) {
    std::thread::sleep(Duration::from_millis(400));
    let seen = fake.seen();
    assert_eq!(
        seen.len(),
        expected,
        "unexpected extra requests: {:#?}",
        seen.iter().map(|s| &s.path).collect::<Vec<_>>()
    );
}

fn one<'a>(seen: &'a [Seen], path: &str) -> &'a Seen {
    let hits: Vec<&Seen> = seen.iter().filter(|s| s.path == path).collect();
    assert_eq!(hits.len(), 1, "requests to {path}: {:#?}", seen.iter().map(|s| &s.path).collect::<Vec<_>>());
    hits[0]
}

#[test]
fn every_channel_is_delivered_once_with_the_right_request() {
    let fake = FakePlatform::start(|seen, _| success(seen));
    let srv = server(&fake);
    enqueue(&srv, Channel::Telegram, "-1001", "hello telegram", Some("77"));
    enqueue(&srv, Channel::Slack, "C024", "hello slack", Some("1503435956.000247"));
    enqueue(&srv, Channel::Discord, "", "hello discord", Some("itoken"));
    enqueue(&srv, Channel::Discord, "555", "hello channel", None);
    enqueue(&srv, Channel::WhatsApp, "15551234567", "hello whatsapp", None);
    enqueue(&srv, Channel::Line, "U1", "hello line reply", Some("rtoken"));
    let push_ids = enqueue(&srv, Channel::Line, "U2", "hello line push", None);
    enqueue(&srv, Channel::Lark, "oc_chat", "hello lark", None);
    // 8 messages + 1 Lark token.
    let seen = fake.wait_for(9, DELIVERY_DEADLINE);
    settle(&fake, 9);
    assert!(
        seen.iter().all(|s| s.method == "POST" && s.header("content-type") == Some("application/json; charset=utf-8"))
    );

    let tg = one(&seen, "/tg/bot123:SECRET/sendMessage");
    assert_eq!(
        tg.json(),
        j!({"chat_id": -1001, "text": "hello telegram", "reply_to_message_id": 77, "allow_sending_without_reply": true})
    );

    let slack = one(&seen, "/slack/api/chat.postMessage");
    assert_eq!(slack.header("authorization"), Some("Bearer xoxb-secret"));
    assert_eq!(slack.json(), j!({"channel": "C024", "text": "hello slack", "thread_ts": "1503435956.000247"}));

    let followup = one(&seen, "/discord/api/v10/webhooks/4242/itoken");
    assert_eq!(followup.header("authorization"), None);
    assert_eq!(followup.json()["content"], "hello discord");
    let channel_msg = one(&seen, "/discord/api/v10/channels/555/messages");
    assert_eq!(channel_msg.header("authorization"), Some("Bot discord-secret"));
    assert_eq!(channel_msg.json()["allowed_mentions"], j!({"parse": []}));

    let wa = one(&seen, "/wa/v21.0/1065/messages");
    assert_eq!(wa.header("authorization"), Some("Bearer wa-secret"));
    assert_eq!(wa.json()["messaging_product"], "whatsapp");
    assert_eq!(wa.json()["to"], "15551234567");
    assert_eq!(wa.json()["text"]["body"], "hello whatsapp");

    let reply = one(&seen, "/line/v2/bot/message/reply");
    assert_eq!(reply.header("authorization"), Some("Bearer line-secret"));
    assert_eq!(reply.json(), j!({"replyToken": "rtoken", "messages": [{"type": "text", "text": "hello line reply"}]}));
    let push = one(&seen, "/line/v2/bot/message/push");
    assert_eq!(push.json()["to"], "U2");
    let key = push.header("x-line-retry-key").expect("retry key");
    assert_eq!(key.len(), 36, "{key}");
    assert_eq!(push_ids.len(), 1);

    let token = one(&seen, "/lark/open-apis/auth/v3/tenant_access_token/internal");
    assert_eq!(token.json(), j!({"app_id": "cli_app", "app_secret": "lark-secret"}));
    let lark = one(&seen, "/lark/open-apis/im/v1/messages?receive_id_type=chat_id");
    assert_eq!(lark.header("authorization"), Some("Bearer t-fresh"));
    assert_eq!(lark.json()["content"], r#"{"text":"hello lark"}"#);
    assert_eq!(lark.json()["receive_id"], "oc_chat");
    assert!(token.at <= lark.at);

    for (channel, n) in [
        (Channel::Telegram, 1),
        (Channel::Slack, 1),
        (Channel::Discord, 2),
        (Channel::WhatsApp, 1),
        (Channel::Line, 2),
        (Channel::Lark, 1),
    ] {
        let s = wait_counts(&srv, channel, n, 0);
        assert_eq!((s.queued, s.sent, s.retried, s.failed), (n, n, 0, 0), "{channel:?}");
    }
    // channels.status carries the same counters per channel.
    let status = channels_status(&srv);
    let entry = |name: &str| {
        status["channels"].as_array().and_then(|l| l.iter().find(|c| c["channel"] == name)).cloned().expect(name)
    };
    assert_eq!(entry("discord")["outbound"]["sent"], 2, "{status}");
    assert_eq!(entry("telegram")["outbound"]["sent"], 1, "{status}");
    assert_eq!(entry("lark")["outbound"]["failed"], 0, "{status}");
    let metrics = srv.get("/metrics");
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(text.contains("talon_outbound_sent_total{channel=\"discord\"} 2\n"), "{text}");
    assert!(text.contains("talon_outbound_failed_total{channel=\"telegram\"} 0\n"), "{text}");
    // No secret reaches the metrics.
    assert!(!text.contains("SECRET") && !text.contains("secret"), "{text}");
}

#[test]
fn rate_limit_429_with_retry_after_is_honoured_then_sent_once() {
    let fake = FakePlatform::start(|seen, before| {
        if before == 0 {
            let body = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}"#;
            (429, vec![("Retry-After".into(), "1".into())], body.into())
        } else {
            success(seen)
        }
    });
    let srv = server(&fake);
    enqueue(&srv, Channel::Telegram, "42", "slow down", None);
    let seen = fake.wait_for(2, DELIVERY_DEADLINE);
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at.duration_since(seen[0].at);
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}, before the platform's 1 s");
    assert!(gap < Duration::from_secs(3), "retried only after {gap:?}");
    assert_eq!(seen[0].body, seen[1].body);
    let s = wait_counts(&srv, Channel::Telegram, 1, 0);
    assert_eq!((s.sent, s.retried, s.failed), (1, 1, 0));
    assert!(s.last_error.expect("error kept").1.contains("Too Many Requests"));
    settle(&fake, 2);
}

#[test]
fn server_errors_twice_then_success() {
    let fake = FakePlatform::start(|seen, before| if before < 2 { json(500, "oops") } else { success(seen) });
    let srv = server(&fake);
    enqueue(&srv, Channel::Slack, "C1", "third time lucky", None);
    let seen = fake.wait_for(3, DELIVERY_DEADLINE);
    assert_eq!(seen.len(), 3);
    // Backoff 50 ms then 100 ms.
    assert!(seen[1].at.duration_since(seen[0].at) >= Duration::from_millis(45));
    assert!(seen[2].at.duration_since(seen[1].at) >= Duration::from_millis(95));
    let s = wait_counts(&srv, Channel::Slack, 1, 0);
    assert_eq!((s.sent, s.retried, s.failed), (1, 2, 0));
    settle(&fake, 3);
}

#[test]
fn permanent_400_fails_with_the_platform_error_and_is_not_retried() {
    let fake = FakePlatform::start(|_, _| {
        json(
            400,
            r#"{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030}}"#,
        )
    });
    let srv = server(&fake);
    enqueue(&srv, Channel::WhatsApp, "15550000000", "nobody home", None);
    let s = wait_counts(&srv, Channel::WhatsApp, 0, 1);
    assert_eq!((s.sent, s.retried, s.failed), (0, 0, 1));
    let (_, error) = s.last_error.expect("error kept");
    assert!(error.contains("Recipient phone number not in allowed list"), "{error}");
    assert!(!error.contains("wa-secret"));
    settle(&fake, 1);
    // Nothing left pending in the outbox.
    assert!(srv.app().store.outbox_due(u64::MAX, 10).expect("due").is_empty());
}

#[test]
fn retries_are_capped_and_the_row_fails() {
    let fake = FakePlatform::start(|_, _| json(503, r#"{"message":"down"}"#));
    let srv = server(&fake);
    enqueue(&srv, Channel::Discord, "9", "never", None);
    let s = wait_counts(&srv, Channel::Discord, 0, 1);
    // max_attempts 4: three retried failures, then given up.
    assert_eq!((s.sent, s.retried, s.failed), (0, 3, 1));
    assert!(s.last_error.expect("error").1.starts_with("gave up after 4 attempts"));
    settle(&fake, 4);
}

#[test]
fn long_replies_are_split_and_sent_in_order() {
    let fake = FakePlatform::start(|seen, _| success(seen));
    let srv = server(&fake);
    let text = format!("{}\n{}", "a".repeat(1500), "b".repeat(1500));
    let ids = enqueue(&srv, Channel::Discord, "7", &text, None);
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1]);
    let seen = fake.wait_for(2, DELIVERY_DEADLINE);
    settle(&fake, 2);
    assert_eq!(seen[0].json()["content"], "a".repeat(1500));
    assert_eq!(seen[1].json()["content"], "b".repeat(1500));
}

#[test]
fn lark_token_is_fetched_once_and_reused() {
    let fake = FakePlatform::start(|seen, _| success(seen));
    let srv = server(&fake);
    enqueue(&srv, Channel::Lark, "oc_1", "one", None);
    let _ = fake.wait_for(2, DELIVERY_DEADLINE);
    enqueue(&srv, Channel::Lark, "oc_2", "two", Some("om_9"));
    let seen = fake.wait_for(3, DELIVERY_DEADLINE);
    settle(&fake, 3);
    let tokens = seen.iter().filter(|s| s.path.ends_with("/tenant_access_token/internal")).count();
    assert_eq!(tokens, 1);
    let reply = one(&seen, "/lark/open-apis/im/v1/messages/om_9/reply");
    assert_eq!(reply.header("authorization"), Some("Bearer t-fresh"));
    // Different rows, different idempotency uuids.
    let create = one(&seen, "/lark/open-apis/im/v1/messages?receive_id_type=chat_id");
    assert_ne!(create.json()["uuid"], reply.json()["uuid"]);
}

#[test]
fn pending_row_survives_a_restart_and_is_delivered_after_start() {
    let fake = FakePlatform::start(|seen, _| success(seen));
    let db_dir = support::temp_dir("outbound-restart");
    let db = db_dir.join("talon.db").display().to_string();
    // First run: the sender is off, so the row stays pending when the gateway stops.
    let mut first_channels = channels(&fake);
    first_channels["outbound"]["enabled"] = j!(false);
    let first = TestServer::from_doc(j!({ "channels": first_channels, "store": { "path": db } }));
    enqueue(&first, Channel::Telegram, "5", "after the restart", None);
    assert_eq!(first.app().store.outbox_due(u64::MAX, 10).expect("due").len(), 1);
    first.stop();
    assert!(fake.seen().is_empty());
    // Second run on the same store: delivered once.
    let second = TestServer::from_doc(j!({ "channels": channels(&fake), "store": { "path": db } }));
    let seen = fake.wait_for(1, DELIVERY_DEADLINE);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].json()["text"], "after the restart");
    let s = wait_counts(&second, Channel::Telegram, 1, 0);
    assert_eq!(s.sent, 1);
    settle(&fake, 1);
    second.stop();
    let _ = std::fs::remove_dir_all(&db_dir);
}

#[test]
fn bad_input_is_refused_before_anything_is_queued() {
    let fake = FakePlatform::start(|seen, _| success(seen));
    let srv = server(&fake);
    let app = srv.app();
    let err = |channel, target: &str, text: &str, reply: Option<&str>| {
        app.outbound.enqueue(&app.store, channel, target, text, reply).expect_err("refused").to_string()
    };
    assert!(err(Channel::Telegram, "1", "  ", None).contains("empty"));
    assert!(err(Channel::Telegram, "1", "x", Some("not-a-number")).contains("not a message id"));
    assert!(err(Channel::Generic, "1", "x", None).contains("no send API"));
    let huge = "x".repeat(talon::outbound::MAX_TEXT_BYTES + 1);
    assert!(err(Channel::Slack, "C1", &huge, None).contains("more than"));
    // A LINE reply token covers one request (five messages); more needs a push target.
    let long = "y".repeat(30_000);
    assert!(err(Channel::Line, "", &long, Some("rt")).contains("reply token covers one"));
    settle(&fake, 0);
}

#[test]
fn connection_errors_are_retried_and_never_leak_the_token() {
    // A port nothing listens on: bind, learn the port, close.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let fake = FakePlatform::start(|seen, _| success(seen));
    let mut doc = channels(&fake);
    doc["telegram"]["api_base"] = j!(format!("http://{dead}/tg"));
    let srv = TestServer::from_doc(j!({ "channels": doc }));
    enqueue(&srv, Channel::Telegram, "1", "into the void", None);
    let deadline = std::time::Instant::now() + DELIVERY_DEADLINE;
    let snap = loop {
        let s = srv.app().outbound.stats().snapshot(Channel::Telegram);
        if s.retried >= 1 || std::time::Instant::now() >= deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(snap.retried >= 1 && snap.sent == 0, "{snap:?}");
    let (_, error) = snap.last_error.expect("error kept");
    assert!(!error.contains("123:SECRET"), "{error}");
    let due = srv.app().store.outbox_due(u64::MAX, 10).expect("due");
    assert_eq!(due.len(), 1);
    let stored = due[0].error.clone().expect("row error");
    assert!(!stored.contains("123:SECRET"), "{stored}");
}

#[test]
fn shutdown_waits_for_the_send_in_flight_and_records_it() {
    let fake = FakePlatform::start(|seen, _| {
        std::thread::sleep(Duration::from_millis(300));
        success(seen)
    });
    let db_dir = support::temp_dir("outbound-stop");
    let db = db_dir.join("talon.db").display().to_string();
    let first = TestServer::from_doc(j!({ "channels": channels(&fake), "store": { "path": db } }));
    enqueue(&first, Channel::Slack, "C1", "in flight at shutdown", None);
    assert_eq!(fake.wait_for(1, DELIVERY_DEADLINE).len(), 1);
    // The platform has the request and has not answered yet.
    first.stop();
    // Recorded as sent before the store closed: a new gateway on the same store sends nothing.
    let second = TestServer::from_doc(j!({ "channels": channels(&fake), "store": { "path": db } }));
    assert!(second.app().store.outbox_due(u64::MAX, 10).expect("due").is_empty());
    settle(&fake, 1);
    second.stop();
    let _ = std::fs::remove_dir_all(&db_dir);
}

/// `channels.status` over `/ws` (frames dialect).
fn channels_status(srv: &TestServer) -> Value {
    use tungstenite::client::IntoClientRequest;
    let stream = std::net::TcpStream::connect(srv.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let req = format!("ws://{}/ws", srv.addr).into_client_request().expect("request");
    let (mut ws, _) = tungstenite::client::client(req, stream).expect("upgrade");
    let request = serde_json::json!({"type": "req", "id": "s", "method": "channels.status", "params": {}});
    ws.send(tungstenite::Message::text(request.to_string())).expect("send");
    loop {
        if let tungstenite::Message::Text(t) = ws.read().expect("read") {
            let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
            if v["type"] == "res" && v["id"] == "s" {
                assert_eq!(v["ok"], true, "{v}");
                return v["payload"].clone();
            }
        }
    }
}
