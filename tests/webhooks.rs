//! Webhook ingestion over real HTTP, per channel: accept (acknowledged durable, in the inbox),
//! reject (signature, stale, unsigned), handshakes (answered, not stored), duplicates (by the
//! channel's own delivery id), oversize (413 before the body), and the admin API on top.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{Response, TestServer, get, hex, post_with};

const DISCORD_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const DISCORD_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const LARK_KEY: &str = "test key";

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn hmac_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    hex(&mac.finalize().into_bytes())
}

fn from_hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn all_channels() -> Value {
    json!({
        "ingest": {
            "webhook_hmac_secret": "secret",
            "max_body_bytes": 65536,
            "hooks": { "enabled": true, "secret": "hook-secret" }
        },
        "channels": {
            "telegram": { "enabled": true, "secret_token": "s3cr3t_Token-1" },
            "slack": { "enabled": true, "signing_secret": "8f742231b10e8888abcd99yyyzzz85a5" },
            "discord": { "enabled": true, "public_key": DISCORD_PUBLIC },
            "whatsapp": { "enabled": true, "app_secret": "It's a Secret to Everybody", "verify_token": "meta-vt" },
            "line": { "enabled": true, "channel_secret": "test-channel-secret" },
            "lark": { "enabled": true, "verification_token": "lark-vt", "encrypt_key": LARK_KEY }
        }
    })
}

fn inbox(srv: &TestServer, query: &str) -> Vec<Value> {
    let r = srv.get(&format!("/api/inbox?{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["entries"].as_array().cloned().unwrap_or_default()
}

fn assert_stored(r: &Response) -> i64 {
    assert_eq!(r.status, 200, "{} {}", r.head, r.text());
    assert_eq!(r.header("x-talon-delivery"), Some("durable"), "{}", r.head);
    r.json()["id"].as_i64().unwrap_or_else(|| panic!("no id: {}", r.text()))
}

fn assert_duplicate(r: &Response) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-talon-delivery"), Some("duplicate"), "{}", r.head);
}

fn assert_refused(r: &Response, status: u16) {
    assert_eq!(r.status, status, "{} {}", r.head, r.text());
    r.check_error_body().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn generic_x_signature_accepts_dedups_and_refuses() {
    let srv = TestServer::from_doc(all_channels());
    let body = br#"{"message":"hi"}"#;
    let sig = format!("X-Signature: {}", hmac_hex(b"secret", &[body]));
    assert_eq!(sig, "X-Signature: bb408490f73fd57784d696397b056984c17c6dc1b447d554f9775920323cd677");
    let id = assert_stored(&srv.request(&post_with("/webhook", std::slice::from_ref(&sig), body)));
    assert_duplicate(&srv.request(&post_with("/webhook", std::slice::from_ref(&sig), body)));
    assert_refused(&srv.request(&post_with("/webhook", &["X-Signature: 00".into()], body)), 401);
    assert_refused(&srv.request(&post_with("/webhook", &[], body)), 401);
    let other = br#"{"message":"ho"}"#;
    assert_refused(&srv.request(&post_with("/webhook", &[sig], other)), 401);
    let entries = inbox(&srv, "channel=webhook");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["id"], id);
    assert_eq!(entries[0]["duplicates"], 1);
    let entry = srv.get(&format!("/api/inbox/{id}")).json();
    assert_eq!(entry["body"], r#"{"message":"hi"}"#);
}

#[test]
fn oversize_is_refused_before_the_body() {
    let srv = TestServer::from_doc(all_channels());
    // Unsigned: the small cap (4 KiB) applies from Content-Length alone.
    let mut c = srv.connect();
    c.send(b"POST /webhook HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
    assert_refused(&c.read_response(), 413);
    // Signed: the endpoint's cap (64 KiB here).
    let mut c = srv.connect();
    c.send(b"POST /webhook HTTP/1.1\r\nHost: t\r\nX-Signature: 00\r\nContent-Length: 70000\r\n\r\n");
    assert_refused(&c.read_response(), 413);
    // Under the cap but unsigned: read (it is small), then refused for the missing signature.
    assert_refused(&srv.request(&post_with("/webhook", &[], &[b'x'; 3000])), 401);
    let status = srv.app().ingest_stats.snapshot(talon::webhook::Channel::Generic);
    assert_eq!(status.rejected.get("body_too_large"), Some(&2));
}

#[test]
fn telegram_secret_token_and_update_id() {
    let srv = TestServer::from_doc(all_channels());
    let tok = "X-Telegram-Bot-Api-Secret-Token: s3cr3t_Token-1".to_string();
    let update = |id: u64, text: &str| {
        json!({"update_id": id, "message": {"message_id": 1, "from": {"id": 42}, "chat": {"id": 42, "type": "private"}, "text": text}})
            .to_string()
    };
    let first = assert_stored(&srv.request(&post_with(
        "/webhook/telegram",
        std::slice::from_ref(&tok),
        update(1, "a").as_bytes(),
    )));
    // A retry of the same update (same update_id), even on the legacy path, is a duplicate.
    assert_duplicate(&srv.request(&post_with("/telegram", std::slice::from_ref(&tok), update(1, "a").as_bytes())));
    let second = assert_stored(&srv.request(&post_with("/telegram", &[tok], update(2, "b").as_bytes())));
    assert!(second > first);
    let wrong = "X-Telegram-Bot-Api-Secret-Token: nope".to_string();
    assert_refused(&srv.request(&post_with("/webhook/telegram", &[wrong], update(3, "c").as_bytes())), 401);
    assert_refused(&srv.request(&post_with("/webhook/telegram", &[], update(3, "c").as_bytes())), 401);
    assert_eq!(inbox(&srv, "channel=telegram").len(), 2);
}

fn slack_headers(body: &[u8], ts: u64) -> Vec<String> {
    let ts = ts.to_string();
    let sig = hmac_hex(b"8f742231b10e8888abcd99yyyzzz85a5", &[b"v0:", ts.as_bytes(), b":", body]);
    vec![format!("X-Slack-Request-Timestamp: {ts}"), format!("X-Slack-Signature: v0={sig}")]
}

#[test]
fn slack_signature_window_challenge_and_event_id() {
    let srv = TestServer::from_doc(all_channels());
    let challenge = br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let r = srv.request(&post_with("/slack/events", &slack_headers(challenge, now_secs()), challenge));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["challenge"], "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
    let event = br#"{"type":"event_callback","event_id":"Ev01","event":{"type":"message","user":"U1","channel":"C1","text":"hello"}}"#;
    assert_stored(&srv.request(&post_with("/webhook/slack", &slack_headers(event, now_secs()), event)));
    assert_duplicate(&srv.request(&post_with("/webhook/slack", &slack_headers(event, now_secs()), event)));
    assert_refused(&srv.request(&post_with("/webhook/slack", &slack_headers(event, now_secs() - 301), event)), 401);
    assert_refused(&srv.request(&post_with("/webhook/slack", &slack_headers(event, now_secs() + 301), event)), 401);
    let mut forged = slack_headers(event, now_secs());
    forged[1] = "X-Slack-Signature: v0=".to_string() + &"0".repeat(64);
    assert_refused(&srv.request(&post_with("/webhook/slack", &forged, event)), 401);
    assert_eq!(inbox(&srv, "channel=slack").len(), 1);
    let status = srv.app().ingest_stats.snapshot(talon::webhook::Channel::Slack);
    assert_eq!((status.received, status.duplicates, status.challenges), (1, 1, 1));
    assert_eq!(status.rejected.get("stale_timestamp"), Some(&1));
    assert_eq!(status.rejected.get("future_timestamp"), Some(&1));
    assert_eq!(status.rejected.get("mismatch"), Some(&1));
}

fn discord_headers(body: &[u8], ts: &str) -> Vec<String> {
    let key = SigningKey::from_bytes(&from_hex(DISCORD_SECRET).try_into().expect("32 bytes"));
    let mut msg = ts.as_bytes().to_vec();
    msg.extend_from_slice(body);
    let sig = key.sign(&msg);
    vec![format!("X-Signature-Ed25519: {}", hex(&sig.to_bytes())), format!("X-Signature-Timestamp: {ts}")]
}

#[test]
fn discord_ping_pong_interactions_and_bad_signatures() {
    let srv = TestServer::from_doc(all_channels());
    let ts = now_secs().to_string();
    let ping = br#"{"type":1}"#;
    let r = srv.request(&post_with("/webhook/discord", &discord_headers(ping, &ts), ping));
    assert_eq!((r.status, r.json()), (200, json!({"type": 1})));
    // Discord checks that a bad signature is refused with 401.
    let mut bad = discord_headers(ping, &ts);
    bad[0] = format!("X-Signature-Ed25519: {}", "0".repeat(128));
    assert_refused(&srv.request(&post_with("/webhook/discord", &bad, ping)), 401);
    let command = br#"{"type":2,"id":"1100000000000000001","channel_id":"C9","member":{"user":{"id":"U7"}},"data":{"name":"ask","options":[{"name":"q","value":"hi"}]}}"#;
    let r = srv.request(&post_with("/webhook/discord", &discord_headers(command, &ts), command));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-talon-delivery"), Some("durable"));
    assert_eq!(r.json(), json!({"type": 5}));
    assert_duplicate(&srv.request(&post_with("/webhook/discord", &discord_headers(command, &ts), command)));
    assert_eq!(inbox(&srv, "channel=discord").len(), 1);
}

#[test]
fn whatsapp_handshake_and_hub_signature() {
    let srv = TestServer::from_doc(all_channels());
    let r = srv.get("/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=meta-vt&hub.challenge=1158201444");
    assert_eq!((r.status, r.text().as_str()), (200, "1158201444"));
    assert_refused(&srv.get("/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1"), 403);
    assert_refused(&srv.get("/webhook/whatsapp?hub.mode=subscribe"), 403);
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"P1"},"messages":[{"from":"15550001","id":"wamid.A1","type":"text","text":{"body":"hi"}}]}}]}]}"#;
    let sig = format!("X-Hub-Signature-256: sha256={}", hmac_hex(b"It's a Secret to Everybody", &[body]));
    assert_stored(&srv.request(&post_with("/webhook/whatsapp", std::slice::from_ref(&sig), body)));
    assert_duplicate(&srv.request(&post_with("/webhook/whatsapp", std::slice::from_ref(&sig), body)));
    let bare = sig.replace("sha256=", "");
    assert_refused(&srv.request(&post_with("/webhook/whatsapp", &[bare], body)), 401);
}

#[test]
fn line_verify_call_and_signature() {
    let srv = TestServer::from_doc(all_channels());
    let sign = |body: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"test-channel-secret").expect("key");
        mac.update(body);
        format!("x-line-signature: {}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    };
    let verify = br#"{"destination":"U1","events":[]}"#;
    assert_eq!(sign(verify), "x-line-signature: umUVcdh4zXqPgKygH4fuVm1y1TafdlOH8vGnHcXd1AU=");
    let r = srv.request(&post_with("/webhook/line", &[sign(verify)], verify));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("x-talon-delivery").is_none(), "the verify call is not stored");
    let event = br#"{"destination":"U1","events":[{"type":"message","webhookEventId":"01H0","deliveryContext":{"isRedelivery":false},"source":{"type":"user","userId":"U9"},"message":{"type":"text","id":"1","text":"hi"}}]}"#;
    assert_stored(&srv.request(&post_with("/webhook/line", &[sign(event)], event)));
    assert_duplicate(&srv.request(&post_with("/webhook/line", &[sign(event)], event)));
    assert_refused(&srv.request(&post_with("/webhook/line", &[sign(verify)], event)), 401);
    assert_eq!(inbox(&srv, "channel=line").len(), 1);
}

fn lark_encrypt(plain: &[u8]) -> String {
    use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    let key = Sha256::digest(LARK_KEY.as_bytes());
    let iv = [7u8; 16];
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + 16, 0);
    let ct = cbc::Encryptor::<aes::Aes256>::new(&key, &iv.into())
        .encrypt_padded_mut::<Pkcs7>(&mut buf, plain.len())
        .expect("room for padding");
    let mut raw = iv.to_vec();
    raw.extend_from_slice(ct);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

#[test]
fn lark_unsigned_challenge_signed_events() {
    let srv = TestServer::from_doc(all_channels());
    let challenge = json!({"challenge": "ajls384kdjx98XX", "token": "lark-vt", "type": "url_verification"}).to_string();
    let body = json!({"encrypt": lark_encrypt(challenge.as_bytes())}).to_string();
    // The challenge carries no X-Lark-Signature, by design.
    let r = srv.request(&post_with("/webhook/lark", &[], body.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["challenge"], "ajls384kdjx98XX");
    let wrong = json!({"challenge": "x", "token": "other", "type": "url_verification"}).to_string();
    let body = json!({"encrypt": lark_encrypt(wrong.as_bytes())}).to_string();
    assert_refused(&srv.request(&post_with("/webhook/lark", &[], body.as_bytes())), 403);

    let event = json!({"schema": "2.0", "header": {"event_id": "ev-1", "token": "lark-vt", "event_type": "im.message.receive_v1"},
        "event": {"sender": {"sender_id": {"open_id": "ou_1"}}, "message": {"chat_id": "oc_1", "message_type": "text", "content": "{\"text\":\"hi\"}"}}})
    .to_string();
    let body = json!({"encrypt": lark_encrypt(event.as_bytes())}).to_string();
    let ts = now_secs().to_string();
    let sig = hex(&Sha256::new()
        .chain_update(ts.as_bytes())
        .chain_update(b"nonce1")
        .chain_update(LARK_KEY.as_bytes())
        .chain_update(body.as_bytes())
        .finalize());
    let headers = vec![
        format!("X-Lark-Request-Timestamp: {ts}"),
        "X-Lark-Request-Nonce: nonce1".to_string(),
        format!("X-Lark-Signature: {sig}"),
    ];
    assert_stored(&srv.request(&post_with("/webhook/lark", &headers, body.as_bytes())));
    assert_duplicate(&srv.request(&post_with("/webhook/lark", &headers, body.as_bytes())));
    // The same event without its signature is refused.
    assert_refused(&srv.request(&post_with("/webhook/lark", &[], body.as_bytes())), 401);
    // Unsigned bodies that do not decrypt, or decrypt to something else, get the same answer:
    // no padding oracle on the Encrypt Key.
    let garbage = json!({"encrypt": base64::engine::general_purpose::STANDARD.encode([9u8; 48])}).to_string();
    let other = json!({"encrypt": lark_encrypt(b"{\"x\":1}")}).to_string();
    let a = srv.request(&post_with("/webhook/lark", &[], garbage.as_bytes()));
    let b = srv.request(&post_with("/webhook/lark", &[], other.as_bytes()));
    assert_refused(&a, 401);
    assert_eq!((a.status, a.body.clone()), (b.status, b.body.clone()));
    assert_eq!(inbox(&srv, "channel=lark").len(), 1);
}

#[test]
fn comis_hooks_schema_and_signature() {
    let srv = TestServer::from_doc(all_channels());
    let sign = |b: &[u8]| format!("x-webhook-signature: {}", hmac_hex(b"hook-secret", &[b]));
    let good = br#"{"event":"deploy","source":"ci","data":{"text":"done"}}"#;
    assert_stored(&srv.request(&post_with("/hooks/webhook", &[sign(good)], good)));
    assert_duplicate(&srv.request(&post_with("/hooks/webhook", &[sign(good)], good)));
    let bad = br#"{"event":"deploy","data":{}}"#;
    assert_refused(&srv.request(&post_with("/hooks/webhook", &[sign(bad)], bad)), 422);
    let stale = vec![sign(good), format!("x-webhook-timestamp: {}", now_secs() - 1000)];
    assert_refused(&srv.request(&post_with("/hooks/webhook", &stale, good)), 401);
}

#[test]
fn standard_webhooks_preset_accepts_rotated_signatures() {
    let key = b"standard-key-bytes-0123456789";
    let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key));
    let srv = TestServer::from_doc(json!({"ingest": {"hooks": {"enabled": true, "standard_webhooks_secret": secret}}}));
    let body = br#"{"event":"e","source":"s","data":1}"#;
    let ts = now_secs().to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("key");
    mac.update(format!("msg_1.{ts}.").as_bytes());
    mac.update(body);
    let good = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let headers = vec![
        "webhook-id: msg_1".to_string(),
        format!("webhook-timestamp: {ts}"),
        format!("webhook-signature: v1,{} v1,{good}", base64::engine::general_purpose::STANDARD.encode([0u8; 32])),
    ];
    assert_stored(&srv.request(&post_with("/hooks/webhook", &headers, body)));
    assert_duplicate(&srv.request(&post_with("/hooks/webhook", &headers, body)));
    let entries = inbox(&srv, "channel=hooks");
    assert_eq!(entries[0]["delivery_id"], "msg_1");
}

#[test]
fn disabled_channels_are_not_found() {
    let srv = TestServer::from_doc(json!({}));
    assert_refused(&srv.request(&post_with("/webhook/telegram", &[], b"{}")), 404);
    assert_refused(&srv.request(&post_with("/hooks/webhook", &[], b"{}")), 404);
    assert_refused(&srv.request(&post_with("/webhook/nope", &[], b"{}")), 404);
}

#[test]
fn unsigned_deliveries_need_a_webhook_token_unless_the_gateway_is_open() {
    // Open loopback gateway, no secret: accepted, but unverified (small cap, rate limited).
    let open = TestServer::from_doc(json!({"gateway": {"rate_limit": {"max_requests": 2, "window_ms": 60000}}}));
    let body = |n: u32| format!(r#"{{"message":"m{n}"}}"#);
    assert_stored(&open.request(&post_with("/webhook", &[], body(1).as_bytes())));
    assert_stored(&open.request(&post_with("/webhook", &[], body(2).as_bytes())));
    assert_refused(&open.request(&post_with("/webhook", &[], body(3).as_bytes())), 429);

    let tokens = json!({"gateway": {"tokens": [
        {"id": "hooks", "secret": "tln-webhook-0c4f1a9e7d3b5c2a8e6f0d1b3a5c7e9f", "scopes": ["webhook"]},
        {"id": "reader", "secret": "tln-reader-5e2a9c7f1b3d4e6a8c0f2b4d6e8a0c1e", "scopes": ["read"]}
    ]}});
    let guarded = TestServer::from_doc(tokens);
    assert_refused(&guarded.request(&post_with("/webhook", &[], body(1).as_bytes())), 401);
    let reader = "Authorization: Bearer tln-reader-5e2a9c7f1b3d4e6a8c0f2b4d6e8a0c1e".to_string();
    assert_refused(&guarded.request(&post_with("/webhook", &[reader], body(1).as_bytes())), 401);
    let hooks = "Authorization: Bearer tln-webhook-0c4f1a9e7d3b5c2a8e6f0d1b3a5c7e9f".to_string();
    assert_stored(&guarded.request(&post_with("/webhook", std::slice::from_ref(&hooks), body(1).as_bytes())));

    // Wrong tokens count toward the failed-auth lockout; once locked out, even the right one is refused.
    let locking = TestServer::from_doc(json!({"gateway": {
        "auth_rate_limit": {"max_attempts": 2, "window_ms": 60000, "lockout_ms": 60000},
        "tokens": [{"id": "hooks", "secret": "tln-webhook-0c4f1a9e7d3b5c2a8e6f0d1b3a5c7e9f", "scopes": ["webhook"]}]
    }}));
    let bad = "Authorization: Bearer tln-wrong-00000000000000000000000000000000".to_string();
    for _ in 0..2 {
        assert_refused(&locking.request(&post_with("/webhook", std::slice::from_ref(&bad), body(2).as_bytes())), 401);
    }
    assert_refused(&locking.request(&post_with("/webhook", &[hooks], body(2).as_bytes())), 401);
}

#[test]
fn verified_senders_are_not_rate_limited() {
    let mut doc = all_channels();
    doc["gateway"] = json!({"rate_limit": {"max_requests": 2, "window_ms": 60000}});
    let srv = TestServer::from_doc(doc);
    let tok = "X-Telegram-Bot-Api-Secret-Token: s3cr3t_Token-1".to_string();
    for id in 0..10 {
        let update = json!({"update_id": 100 + id, "message": {"chat": {"id": 1}, "text": "x"}}).to_string();
        assert_stored(&srv.request(&post_with("/webhook/telegram", std::slice::from_ref(&tok), update.as_bytes())));
    }
    // Forgeries are charged to the limiter: after the budget, 429.
    let wrong = "X-Telegram-Bot-Api-Secret-Token: nope".to_string();
    let statuses: Vec<u16> = (0..4)
        .map(|_| {
            srv.request(&post_with("/webhook/telegram", std::slice::from_ref(&wrong), b"{\"update_id\":1}")).status
        })
        .collect();
    assert_eq!(statuses, vec![401, 401, 429, 429]);
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stored_deliveries_are_published_dispatched_and_replayable() {
    let srv = TestServer::from_doc(all_channels());
    let tok = "X-Telegram-Bot-Api-Secret-Token: s3cr3t_Token-1".to_string();
    let update = json!({"update_id": 7, "message": {"from": {"id": 42}, "chat": {"id": 43}, "text": "hello agent"}});
    let id = assert_stored(&srv.request(&post_with("/webhook/telegram", &[tok], update.to_string().as_bytes())));
    let published = |app: &talon::app::App| {
        app.bus
            .recent(50)
            .iter()
            .filter(|e| e.name() == "message:received")
            .map(|e| String::from_utf8_lossy(e.payload()).into_owned())
            .collect::<Vec<_>>()
    };
    wait_for("dispatch", || inbox(&srv, "state=dispatched").len() == 1);
    let events = published(srv.app());
    assert_eq!(events.len(), 1, "{events:?}");
    let event: Value = serde_json::from_str(&events[0]).expect("event JSON");
    assert_eq!((event["inboxId"].as_i64(), event["text"].as_str()), (Some(id), Some("hello agent")));
    assert_eq!((event["sender"].as_str(), event["chat"].as_str()), (Some("42"), Some("43")));

    let r = srv.request(&post_with(&format!("/api/inbox/{id}/replay"), &[], b""));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["entry"]["attempts"], 1);
    wait_for("second dispatch", || published(srv.app()).len() == 2);
    assert_refused(&srv.request(&post_with("/api/inbox/999/replay", &[], b"")), 404);
    assert_refused(&srv.get("/api/inbox?state=bogus"), 400);
    assert_refused(&srv.get("/api/inbox?limit=0"), 400);
    let status = srv.request(&get("/ready"));
    assert_eq!(status.status, 200, "{}", status.text());
}

#[test]
fn a_full_inbox_queue_is_503_with_retry_after_never_2xx() {
    // A byte budget smaller than one body: nothing fits, so the answer must be 503.
    let srv = TestServer::from_doc(json!({"ingest": {"webhook_hmac_secret": "secret", "max_queued_bytes": 8}}));
    let body = br#"{"message":"does not fit"}"#;
    let sig = format!("X-Signature: {}", hmac_hex(b"secret", &[body]));
    let r = srv.request(&post_with("/webhook", &[sig], body));
    assert_refused(&r, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(inbox(&srv, "").is_empty());
    assert_eq!(srv.app().ingest_queued_bytes.load(std::sync::atomic::Ordering::Relaxed), 0);
}
