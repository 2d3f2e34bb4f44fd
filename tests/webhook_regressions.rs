//! Regression tests for bugs found by the review of webhook ingestion (issue 4): each failed
//! before its fix (restart republishing, Standard Webhooks bodies, the unsigned body cap,
//! legacy paths, Discord autocomplete, unthrottled unverified junk, replay double-publishing).

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use support::{TestServer, hex, post_with, temp_dir};

const DISCORD_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const DISCORD_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A server on a data directory the caller keeps (so it can be restarted on the same store).
fn start_in(dir: &Path, doc: Value) -> talon::server::Server {
    let mut doc = doc;
    let root = doc.as_object_mut().expect("object");
    let gw = root.entry("gateway").or_insert_with(|| json!({}));
    gw["port"] = json!(0);
    gw["shutdown_grace_ms"] = json!(1000);
    root.insert("logging".into(), json!({"file": null, "level": "error"}));
    let cfg = talon::config::load::parse(&serde_json::to_vec(&doc).expect("json")).expect("config parses");
    let loaded = talon::config::Loaded {
        config: cfg,
        data_dir: dir.to_path_buf(),
        config_path: dir.join("config.json"),
        file_found: true,
    };
    let settings = talon::config::validate(&loaded, &|_| None).unwrap_or_else(|_| panic!("config invalid"));
    talon::server::start(settings).expect("server starts")
}

fn published(app: &talon::app::App) -> Vec<Value> {
    app.bus
        .recent(200)
        .iter()
        .filter(|e| e.name() == "message:received")
        .filter_map(|e| serde_json::from_slice(e.payload()).ok())
        .collect()
}

fn wait_dispatched(server: &talon::server::Server, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.app().store.get(id).map(|e| e.state) != Ok(talon::store::InboxState::Dispatched) {
        assert!(Instant::now() < deadline, "never dispatched");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send_update(server: &talon::server::Server, update_id: u64) -> i64 {
    let tok = "X-Telegram-Bot-Api-Secret-Token: s3cr3t_Token-1".to_string();
    let update = json!({"update_id": update_id, "message": {"from": {"id": 42}, "chat": {"id": 43}, "text": "hello"}});
    let mut c = support::Conn::open(server.local_addr());
    c.send(&post_with("/webhook/telegram", &[tok], update.to_string().as_bytes()));
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["id"].as_i64().expect("id")
}

/// Was: every restart put every `dispatched` row back and published the whole history again.
/// Now: a consumer's `inbox.ack` finishes a delivery for good; an unacknowledged one younger
/// than `ingest.resume_window_s` is dispatched again (at least once); older ones are not.
#[test]
fn restart_redispatches_only_recent_unacknowledged_deliveries() {
    let dir = temp_dir("review-restart");
    let doc = json!({"channels": {"telegram": {"enabled": true, "secret_token": "s3cr3t_Token-1"}}});

    let first = start_in(&dir, doc.clone());
    let acked = send_update(&first, 7);
    let unacked = send_update(&first, 8);
    wait_dispatched(&first, acked);
    wait_dispatched(&first, unacked);
    let params = talon::webhook::inbox::AckParams { ids: vec![acked], state: "done".into(), error: None };
    talon::webhook::inbox::ack(first.app(), params).expect("ack");
    let deadline = Instant::now() + Duration::from_secs(5);
    while first.app().store.get(acked).map(|e| e.state) != Ok(talon::store::InboxState::Done) {
        assert!(Instant::now() < deadline, "ack never committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.shutdown();
    first.wait();

    let second = start_in(&dir, doc.clone());
    wait_dispatched(&second, unacked);
    let again: Vec<i64> = published(second.app()).iter().filter_map(|e| e["inboxId"].as_i64()).collect();
    second.shutdown();
    second.wait();
    assert_eq!(again, vec![unacked], "only the unacknowledged delivery is dispatched again");

    // With no resume window, nothing is dispatched again.
    let mut no_window = doc;
    no_window["ingest"] = json!({"resume_window_s": 0});
    let third = start_in(&dir, no_window);
    std::thread::sleep(Duration::from_millis(500));
    let again = published(third.app());
    third.shutdown();
    third.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(again.is_empty(), "{again:?}");
}

/// Was: the Standard Webhooks preset still enforces Comis's `{event, source, data}` body schema, so
/// every real Standard Webhooks sender (payload `{"type", "timestamp", "data"}`, or the spec's
/// own test vector body `{"test": 2432232314}`) is refused 422 after a valid signature.
#[test]
fn standard_webhooks_preset_accepts_spec_shaped_payloads() {
    let key = b"standard-key-bytes-0123456789";
    let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key));
    let srv = TestServer::from_doc(json!({"ingest": {"hooks": {"enabled": true, "standard_webhooks_secret": secret}}}));
    let body = br#"{"type":"invoice.paid","timestamp":"2024-01-01T00:00:00Z","data":{"id":"in_1"}}"#;
    let ts = now_secs().to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("key");
    mac.update(format!("msg_2.{ts}.").as_bytes());
    mac.update(body);
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let headers = vec![
        "webhook-id: msg_2".to_string(),
        format!("webhook-timestamp: {ts}"),
        format!("webhook-signature: v1,{sig}"),
    ];
    let r = srv.request(&post_with("/hooks/webhook", &headers, body));
    assert_eq!(r.status, 200, "a correctly signed Standard Webhooks delivery was refused: {}", r.text());
}

/// Was: on an endpoint with no secret (the credential is a bearer token), ANY `Authorization`
/// header, valid or not, switches to the large signed cap before the token is checked, although
/// the token could be checked from the head alone.
#[test]
fn an_invalid_token_does_not_lift_the_unsigned_body_cap() {
    let srv = TestServer::from_doc(json!({"gateway": {
        "tokens": [{"id": "hooks", "secret": "tln-webhook-0c4f1a9e7d3b5c2a8e6f0d1b3a5c7e9f", "scopes": ["webhook"]}]
    }}));
    let body = vec![b'x'; 100_000];
    let r = srv.request(&post_with("/webhook", &["Authorization: Bearer nope".to_string()], &body));
    assert_eq!(r.status, 413, "100 kB read from a sender with an invalid token: {}", r.text());
}

/// Was: human's legacy per-channel paths other than `/telegram` and `/slack/events` (`/line`,
/// `/whatsapp`, `/lark`, `/discord`) are 404.
#[test]
fn legacy_line_path_is_routed() {
    let srv =
        TestServer::from_doc(json!({"channels": {"line": {"enabled": true, "channel_secret": "test-channel-secret"}}}));
    let event = br#"{"destination":"U1","events":[{"type":"message","webhookEventId":"01H0","source":{"type":"user","userId":"U9"},"message":{"type":"text","id":"1","text":"hi"}}]}"#;
    let mut mac = Hmac::<Sha256>::new_from_slice(b"test-channel-secret").expect("key");
    mac.update(event);
    let sig =
        format!("x-line-signature: {}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    let r = srv.request(&post_with("/line", &[sig], event));
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Was: every verified Discord interaction other than PING is answered `{"type":5}`. For an
/// autocomplete interaction (type 4) Discord accepts only type 8
/// (APPLICATION_COMMAND_AUTOCOMPLETE_RESULT); a type 5 answer is an error on the user's side.
#[test]
fn discord_autocomplete_is_answered_with_an_autocomplete_result() {
    let srv = TestServer::from_doc(json!({"channels": {"discord": {"enabled": true, "public_key": DISCORD_PUBLIC}}}));
    let ts = now_secs().to_string();
    let body = br#"{"type":4,"id":"1100000000000000009","data":{"name":"ask","options":[{"name":"q","value":"h","focused":true}]}}"#;
    let key = SigningKey::from_bytes(&u8_32(DISCORD_SECRET));
    let mut msg = ts.as_bytes().to_vec();
    msg.extend_from_slice(body);
    let headers = vec![
        format!("X-Signature-Ed25519: {}", hex(&key.sign(&msg).to_bytes())),
        format!("X-Signature-Timestamp: {ts}"),
    ];
    let r = srv.request(&post_with("/webhook/discord", &headers, body));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["type"], 8, "autocomplete needs an autocomplete result, got {}", r.text());
}

fn u8_32(s: &str) -> [u8; 32] {
    let v: Vec<u8> = (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect();
    v.try_into().expect("32 bytes")
}

/// Was: on an open (unsigned, no token) endpoint the sender is unverified, yet a body the channel
/// cannot have sent is refused with `unverified: false`, so it is never charged to the per-IP
/// limiter: unverified junk is not throttled.
#[test]
fn unverified_senders_with_bad_bodies_are_rate_limited() {
    let srv = TestServer::from_doc(json!({
        "gateway": {"rate_limit": {"max_requests": 2, "window_ms": 60000}},
        "channels": {"telegram": {"enabled": true}}
    }));
    let statuses: Vec<u16> =
        (0..5).map(|_| srv.request(&post_with("/webhook/telegram", &[], b"{\"no_update_id\":1}")).status).collect();
    assert_eq!(statuses.last(), Some(&429), "unverified junk never throttled: {statuses:?}");
}

/// Was: a replay makes the dispatcher rescan from id 0, while the `dispatched` state changes of the
/// round it just published are still queued for the writer: those rows still read `received`
/// and are published a second time, although nobody replayed them.
#[test]
fn replays_do_not_republish_rows_nobody_replayed() {
    let srv =
        TestServer::from_doc(json!({"channels": {"telegram": {"enabled": true, "secret_token": "s3cr3t_Token-1"}}}));
    let tok = "X-Telegram-Bot-Api-Secret-Token: s3cr3t_Token-1".to_string();
    let first = json!({"update_id": 1, "message": {"chat": {"id": 1}, "text": "first"}}).to_string();
    let r = srv.request(&post_with("/webhook/telegram", std::slice::from_ref(&tok), first.as_bytes()));
    let first_id = r.json()["id"].as_i64().expect("id");
    std::thread::sleep(Duration::from_millis(300));
    // Many senders at once, and replays of the first row racing with their dispatch.
    let addr = srv.addr;
    let senders: Vec<_> = (0..8)
        .map(|t| {
            let tok = tok.clone();
            std::thread::spawn(move || {
                let mut c = support::Conn::open(addr);
                for i in 0..40 {
                    let u = json!({"update_id": 1000 + t * 100 + i, "message": {"chat": {"id": 1}, "text": "x"}});
                    c.send(&post_with("/webhook/telegram", std::slice::from_ref(&tok), u.to_string().as_bytes()));
                    assert_eq!(c.read_response().status, 200);
                }
            })
        })
        .collect();
    for _ in 0..20 {
        let r = srv.request(&post_with(&format!("/api/inbox/{first_id}/replay"), &[], b""));
        assert_eq!(r.status, 200, "{}", r.text());
        std::thread::sleep(Duration::from_millis(5));
    }
    for s in senders {
        s.join().expect("sender");
    }
    std::thread::sleep(Duration::from_millis(1500));
    let mut seen = std::collections::BTreeMap::<i64, u32>::new();
    for e in published(srv.app()) {
        *seen.entry(e["inboxId"].as_i64().unwrap_or(0)).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(id, n)| **id != first_id && **n > 1).collect();
    assert!(twice.is_empty(), "rows never replayed were published more than once: {twice:?}");
}
