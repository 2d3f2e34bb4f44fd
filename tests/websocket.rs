//! WebSocket `/ws` against a real server with a real client (tungstenite's blocking client):
//! the handshake checks before the 101, `hello-ok`, both RPC dialects with every error code,
//! limits (message size, message rate, slow consumer), keep-alive (ping, tick, dead peer),
//! close codes and the test echo route.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{ADMIN_TOKEN, TestServer};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<TcpStream>;

const READ_ONLY_TOKEN: &str = "tln-reader-4b8e2c6a1f3d5e7a9c0b2d4f6a8c0e2b";

fn open_with(server: &TestServer, target: &str, headers: &[(&str, &str)]) -> Result<Ws, tungstenite::Error> {
    let stream = TcpStream::connect(server.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut req = format!("ws://{}{target}", server.addr).into_client_request().expect("request");
    for (k, v) in headers {
        req.headers_mut()
            .insert(tungstenite::http::HeaderName::from_bytes(k.as_bytes()).expect("name"), v.parse().expect("value"));
    }
    tungstenite::client::client(req, stream).map(|(ws, _)| ws).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => tungstenite::Error::ConnectionClosed,
    })
}

fn open(server: &TestServer, target: &str) -> Ws {
    open_with(server, target, &[]).expect("upgrade")
}

/// The next text message as JSON, skipping pings and pongs.
fn next_json(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("server sent JSON"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected message {other:?}"),
        }
    }
}

fn send(ws: &mut Ws, v: &str) {
    ws.send(Message::text(v)).expect("send");
}

/// Send one request and return its reply (skipping events and notifications).
fn call(ws: &mut Ws, v: &str) -> Value {
    send(ws, v);
    loop {
        let reply = next_json(ws);
        let is_push = reply.get("type").and_then(Value::as_str) == Some("event")
            || (reply.get("jsonrpc").is_some() && reply.get("method").is_some());
        if !is_push {
            return reply;
        }
    }
}

fn refusal_status(result: Result<Ws, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, got a WebSocket"),
    }
}

fn close_code(ws: &mut Ws) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match ws.read() {
            Ok(Message::Close(Some(f))) => return (u16::from(f.code), f.reason.to_string()),
            Ok(Message::Close(None)) => return (1005, String::new()),
            Ok(_) => {}
            Err(e) => panic!("connection ended without a close frame: {e}"),
        }
    }
    panic!("no close frame within 5 s");
}

#[test]
fn hello_ok_in_both_dialects_lists_exactly_the_registry() {
    let server = TestServer::gateway(json!({}));
    let mut ws = open(&server, "/ws");
    let hello = next_json(&mut ws);
    assert_eq!(hello["type"], "event");
    assert_eq!(hello["event"], "hello-ok");
    assert_eq!(hello["seq"], 1);
    let payload = &hello["payload"];
    assert_eq!(payload["type"], "hello-ok");
    assert_eq!(payload["protocol"], 1);
    assert!(payload["server"]["connId"].is_string());
    assert_eq!(payload["policy"]["maxPayload"], 1_048_576);
    assert_eq!(payload["policy"]["tickIntervalMs"], 15_000);
    // Sessions and cost tracking exist (the agent runtime); cron and skills do not yet.
    for (flag, on) in [("sessions", true), ("cron", false), ("skills", false), ("cost_tracking", true)] {
        assert_eq!(payload["features"][flag], on, "{flag}");
    }
    let methods: Vec<&str> =
        payload["features"]["methods"].as_array().expect("methods").iter().filter_map(Value::as_str).collect();
    let registry: Vec<&str> = talon::rpc::METHODS.iter().map(|m| m.name).collect();
    assert_eq!(methods, registry);
    assert!(payload["features"]["events"].as_array().is_some_and(|e| !e.is_empty()));

    // connect answers with the same payload.
    let res = call(&mut ws, r#"{"type":"req","id":"c1","method":"connect","params":{}}"#);
    assert_eq!(res["type"], "res");
    assert_eq!(res["id"], "c1");
    assert_eq!(res["ok"], true);
    assert_eq!(res["payload"]["features"]["methods"], payload["features"]["methods"]);

    let mut ws = open(&server, "/ws?protocol=jsonrpc");
    let hello = next_json(&mut ws);
    assert_eq!(hello["jsonrpc"], "2.0");
    assert_eq!(hello["method"], "hello-ok");
    assert_eq!(hello["params"]["type"], "hello-ok");
    assert!(hello.get("id").is_none());
}

#[test]
fn jsonrpc_subprotocol_is_selected() {
    let server = TestServer::gateway(json!({}));
    let stream = TcpStream::connect(server.addr).expect("connect");
    let mut req = format!("ws://{}/ws", server.addr).into_client_request().expect("request");
    req.headers_mut().insert("Sec-WebSocket-Protocol", "jsonrpc".parse().expect("value"));
    let (mut ws, resp) = tungstenite::client::client(req, stream).expect("upgrade");
    assert_eq!(resp.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()), Some("jsonrpc"));
    assert_eq!(next_json(&mut ws)["method"], "hello-ok");
}

#[test]
fn frames_dialect_results_and_errors() {
    let server = TestServer::gateway(json!({}));
    let mut ws = open(&server, "/ws");
    let _hello = next_json(&mut ws);
    let res = call(&mut ws, r#"{"type":"req","id":"1","method":"health"}"#);
    assert_eq!((res["ok"].clone(), res["payload"]["status"].clone()), (json!(true), json!("ok")));
    let res = call(&mut ws, r#"{"type":"req","id":"2","method":"no.such"}"#);
    assert_eq!(res["ok"], false);
    assert_eq!(res["id"], "2");
    assert_eq!(res["error"]["code"], "METHOD_NOT_FOUND");
    assert_eq!(res["error"]["message"], "unknown method: no.such");
    let res = call(&mut ws, r#"{"type":"req","id":"3","method":"config.get","params":{"path":"no.such.key"}}"#);
    assert_eq!(res["error"]["code"], "INVALID_REQUEST");
    // A frame that says no dialect is answered in the socket's preferred one (frames here).
    let res = call(&mut ws, "{not json");
    assert_eq!(res["type"], "res");
    assert_eq!(res["ok"], false);
    assert_eq!(res["id"], Value::Null);
    // Worker-pool methods answer in order with inline ones.
    send(&mut ws, r#"{"type":"req","id":"w","method":"config.get","params":{"path":"gateway.ws"}}"#);
    send(&mut ws, r#"{"type":"req","id":"i","method":"health"}"#);
    let first = next_json(&mut ws);
    let second = next_json(&mut ws);
    assert_eq!((first["id"].clone(), second["id"].clone()), (json!("w"), json!("i")));
    assert_eq!(first["payload"]["config"]["max_message_bytes"], 1_048_576);
}

#[test]
fn jsonrpc_every_error_code_batches_and_notifications() {
    let server = TestServer::gateway(json!({
        "tokens": [
            { "id": "admin", "secret": ADMIN_TOKEN, "scopes": ["admin"] },
            { "id": "reader", "secret": READ_ONLY_TOKEN, "scopes": ["read"] }
        ]
    }));
    let auth = format!("Bearer {READ_ONLY_TOKEN}");
    let mut ws = open_with(&server, "/ws?protocol=jsonrpc", &[("Authorization", &auth)]).expect("upgrade");
    let _hello = next_json(&mut ws);
    let ping = call(&mut ws, r#"{"jsonrpc":"2.0","id":1,"method":"system.ping"}"#);
    assert_eq!(ping["id"], 1);
    assert_eq!(ping["result"]["pong"], true);
    let cases = [
        ("{bad", -32700),
        (r#"{"jsonrpc":"1.0","id":2,"method":"x"}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":3,"method":"no.such"}"#, -32601),
        (r#"{"jsonrpc":"2.0","id":4,"method":"auth.token","params":{"token":5}}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":5,"method":"models.list"}"#, -32003),
        ("[]", -32600),
    ];
    for (frame, code) in cases {
        let res = call(&mut ws, frame);
        assert_eq!(res["error"]["code"], code, "{frame} -> {res}");
        assert_eq!(res["jsonrpc"], "2.0");
    }
    let too_many: Vec<String> =
        (0..51).map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"system.ping"}}"#)).collect();
    let res = call(&mut ws, &format!("[{}]", too_many.join(",")));
    assert_eq!(res["error"]["code"], -32600);
    assert!(res["error"]["message"].as_str().is_some_and(|m| m.contains("51")));

    // A batch: replies in order, notifications and bad elements handled per element.
    let res = call(
        &mut ws,
        r#"[{"jsonrpc":"2.0","id":"a","method":"system.ping"},{"jsonrpc":"2.0","method":"system.ping"},1,{"jsonrpc":"2.0","id":"b","method":"nope"}]"#,
    );
    let items = res.as_array().expect("batch reply is an array");
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["id"], "a");
    assert_eq!(items[1]["error"]["code"], -32600);
    assert_eq!(items[2]["error"]["code"], -32601);

    // A notification gets no reply: the next reply is for the request after it.
    send(&mut ws, r#"{"jsonrpc":"2.0","method":"system.ping"}"#);
    let res = call(&mut ws, r#"{"jsonrpc":"2.0","id":"after","method":"system.ping"}"#);
    assert_eq!(res["id"], "after");

    // Binary frames are a parse error in JSON-RPC terms.
    ws.send(Message::binary(vec![1, 2, 3])).expect("send");
    assert_eq!(next_json(&mut ws)["error"]["code"], -32700);
}

#[test]
fn handshake_refusals_happen_before_the_upgrade() {
    let server = TestServer::gateway(json!({ "auth_token": ADMIN_TOKEN, "ws": { "max_connections": 1 } }));
    let bad = format!("Bearer {}x", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]);
    assert_eq!(refusal_status(open_with(&server, "/ws", &[("Authorization", &bad)])), 401);
    assert_eq!(refusal_status(open_with(&server, "/ws?token=wrong-token", &[])), 401);
    let good = format!("Bearer {ADMIN_TOKEN}");
    let evil = [("Authorization", good.as_str()), ("Origin", "https://evil.example")];
    assert_eq!(refusal_status(open_with(&server, "/ws", &evil)), 403);
    let local = [("Authorization", good.as_str()), ("Origin", "http://localhost:5173")];
    let held = open_with(&server, "/ws", &local).expect("localhost origin is allowed");
    // The one allowed WebSocket is taken.
    assert_eq!(refusal_status(open_with(&server, &format!("/ws?token={ADMIN_TOKEN}"), &[])), 503);
    drop(held);

    // Raw requests for what a client library will not send.
    let raw = |extra: &str| {
        let mut s = TcpStream::connect(server.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let req = format!(
            "GET /ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n"
        );
        s.write_all(req.as_bytes()).expect("write");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    let resp = raw("Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
    assert!(resp.starts_with("HTTP/1.1 426 "), "{resp}");
    assert!(resp.contains("Sec-WebSocket-Version: 13\r\n"), "{resp}");
    let resp = raw("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: nope\r\n");
    assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
    let plain = support::get_with("/ws", &[&format!("Authorization: Bearer {ADMIN_TOKEN}")]);
    let resp = server.request(&plain);
    assert_eq!(resp.status, 426);
}

#[test]
fn in_band_auth_on_a_loopback_bind() {
    let server = TestServer::gateway(json!({
        "tokens": [{ "id": "ops", "secret": ADMIN_TOKEN, "scopes": ["rpc"] }]
    }));
    let mut ws = open(&server, "/ws?protocol=jsonrpc");
    let hello = next_json(&mut ws);
    assert_eq!(hello["params"]["auth"]["authenticated"], false);
    let res = call(&mut ws, r#"{"jsonrpc":"2.0","id":1,"method":"models.list"}"#);
    assert_eq!(res["error"]["code"], -32001);
    let res = call(&mut ws, r#"{"jsonrpc":"2.0","id":2,"method":"auth.token","params":{"token":"wrong"}}"#);
    assert_eq!(res["error"]["code"], -32001);
    let connect =
        format!(r#"{{"jsonrpc":"2.0","id":3,"method":"connect","params":{{"auth":{{"token":"{ADMIN_TOKEN}"}}}}}}"#);
    let res = call(&mut ws, &connect);
    assert_eq!(res["result"]["auth"]["authenticated"], true);
    let res = call(&mut ws, r#"{"jsonrpc":"2.0","id":4,"method":"models.list"}"#);
    assert_eq!(res["result"]["models"][0]["id"], "builtin/echo");
    // rpc scope does not reach admin methods.
    let res = call(&mut ws, r#"{"jsonrpc":"2.0","id":5,"method":"config.get"}"#);
    assert_eq!(res["error"]["code"], -32003);
}

#[test]
fn oversized_message_is_closed_with_1009() {
    let server = TestServer::gateway(json!({ "ws": { "max_message_bytes": 1024 } }));
    let mut ws = open(&server, "/ws");
    let _hello = next_json(&mut ws);
    let res = call(
        &mut ws,
        &format!(r#"{{"type":"req","id":"ok","method":"health","params":{{"pad":"{}"}}}}"#, "x".repeat(900)),
    );
    assert_eq!(res["ok"], true);
    send(&mut ws, &"x".repeat(2000));
    let (code, reason) = close_code(&mut ws);
    assert_eq!(code, 1009);
    assert!(reason.contains("exceeds maximum of 1024"), "{reason}");
}

#[test]
fn message_rate_limit_answers_and_drops() {
    let server =
        TestServer::gateway(json!({ "ws": { "message_rate_limit": { "max_messages": 3, "window_ms": 60000 } } }));
    let mut ws = open(&server, "/ws?protocol=jsonrpc");
    let _hello = next_json(&mut ws);
    for i in 0..3 {
        let res = call(&mut ws, &format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"system.ping"}}"#));
        assert_eq!(res["id"], i);
    }
    let res = call(&mut ws, r#"{"jsonrpc":"2.0","id":9,"method":"system.ping"}"#);
    assert_eq!(res["error"]["code"], -32000);
    assert_eq!(res["error"]["message"], "Message rate limit exceeded");
    assert_eq!(res["id"], Value::Null);
}

#[test]
fn ping_and_tick_then_dead_peer_is_closed() {
    let server = TestServer::gateway(json!({ "ws": { "ping_interval_ms": 150, "pong_timeout_ms": 300 } }));
    let mut ws = open(&server, "/ws");
    let _hello = next_json(&mut ws);
    let (mut saw_ping, mut saw_tick) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(saw_ping && saw_tick) && Instant::now() < deadline {
        match ws.read().expect("read") {
            Message::Ping(_) => saw_ping = true,
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("json");
                if v["event"] == "tick" {
                    assert!(v["payload"]["ts"].is_u64());
                    saw_tick = true;
                }
            }
            _ => {}
        }
    }
    assert!(saw_ping && saw_tick, "ping {saw_ping} tick {saw_tick}");
    // tungstenite answers pings while we read: the socket stays up across several intervals.
    let until = Instant::now() + Duration::from_millis(800);
    while Instant::now() < until {
        assert!(!matches!(ws.read().expect("still open"), Message::Close(_)));
    }

    // A peer that never reads (so never answers a ping) is closed.
    let mut raw = TcpStream::connect(server.addr).expect("connect");
    raw.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .expect("write");
    std::thread::sleep(Duration::from_millis(1200));
    raw.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut all = Vec::new();
    let _ = raw.read_to_end(&mut all);
    // The stream ends with a close frame carrying 1008 (0x03f0).
    let tail = all.windows(4).rposition(|w| w[0] == 0x88 && w[2] == 0x03 && w[3] == 0xf0);
    assert!(tail.is_some(), "no 1008 close frame at the end of {} bytes", all.len());
}

#[test]
fn slow_consumer_is_closed_not_buffered() {
    let server = TestServer::gateway(json!({
        "ws": { "max_outbound_bytes": 65536, "message_rate_limit": { "max_messages": 1000000, "window_ms": 1000 } }
    }));
    let mut raw = TcpStream::connect(server.addr).expect("connect");
    raw.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .expect("write");
    // Masked text frames asking for a ~1 KiB reply each; never read the replies.
    let payload = br#"{"type":"req","id":"x","method":"capabilities"}"#;
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let burst: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * 500).collect();
    raw.set_write_timeout(Some(Duration::from_secs(2))).expect("timeout");
    let start = Instant::now();
    let mut closed = false;
    while start.elapsed() < Duration::from_secs(20) {
        if raw.write_all(&burst).is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed, "the server kept accepting requests from a client that never reads");
    let m = server.app().metrics.rejected(talon::metrics::Reject::SlowConsumer);
    assert!(m >= 1, "slow consumer not counted");
}

#[test]
fn shutdown_sends_1001() {
    let server = TestServer::gateway(json!({}));
    let mut ws = open(&server, "/ws");
    let _hello = next_json(&mut ws);
    server.begin_shutdown();
    let (code, reason) = close_code(&mut ws);
    assert_eq!(code, 1001);
    assert_eq!(reason, "server is shutting down");
    assert_eq!(CloseCode::from(code), CloseCode::Away);
}

#[test]
fn echo_route_only_when_enabled() {
    let server = TestServer::gateway(json!({}));
    assert_eq!(refusal_status(open_with(&server, "/ws/echo", &[])), 404);
    let server = TestServer::gateway(json!({ "ws": { "test_echo": true } }));
    let mut ws = open(&server, "/ws/echo");
    ws.send(Message::text("héllo")).expect("send");
    assert_eq!(ws.read().expect("read"), Message::text("héllo"));
    ws.send(Message::binary(vec![0u8, 255, 7])).expect("send");
    assert_eq!(ws.read().expect("read"), Message::binary(vec![0u8, 255, 7]));
    ws.close(None).expect("close");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match ws.read() {
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Regression (review): the backlog was judged before any write was tried, so one reply
/// larger than `ws.max_outbound_bytes` closed a client that reads promptly.
#[test]
fn large_reply_to_a_reading_client_is_not_a_slow_consumer() {
    let server = TestServer::gateway(json!({ "ws": { "max_outbound_bytes": 65536 } }));
    let pad = "x".repeat(20_000);
    for i in 0..100 {
        server.app().bus.publish("message:received", &json!({ "i": i, "pad": pad })).expect("publish");
    }
    let mut ws = open(&server, "/ws");
    let _hello = next_json(&mut ws);
    let reply = call(&mut ws, r#"{"type":"req","id":"1","method":"activity.recent","params":{"limit":100}}"#);
    assert_eq!(reply["ok"], true);
    assert_eq!(reply["payload"]["events"].as_array().map(Vec::len), Some(100));
    let reply = call(&mut ws, r#"{"type":"req","id":"2","method":"system.ping"}"#);
    assert_eq!(reply["id"], "2");
}

/// A fragmented message must complete within `limits.body_timeout_ms`: its fragments hold
/// memory, and pongs between them would otherwise keep the socket alive forever.
#[test]
fn unfinished_fragmented_message_is_closed() {
    let server = TestServer::gateway(json!({ "limits": { "body_timeout_ms": 300 } }));
    let mut ws = open(&server, "/ws");
    let _hello = next_json(&mut ws);
    // A first text fragment without FIN, masked as a client must.
    let frame = [0x01u8, 0x83, 0, 0, 0, 0, b'a', b'b', b'c'];
    ws.get_mut().write_all(&frame).expect("write");
    let (code, reason) = close_code(&mut ws);
    assert_eq!(code, 1008);
    assert!(reason.contains("fragmented message"), "{reason}");
}

/// Regression (review): tokens guessed in-band went around the failed-auth lockout, and a
/// token without the `read` scope that `/ws` needs over HTTP was accepted.
#[test]
fn in_band_auth_is_locked_out_and_needs_read_scope() {
    const WEBHOOK_TOKEN: &str = "tln-webhook-3e5a7c9b1d2f4a6c8e0b2d4f6a8c0e1f";
    let server = TestServer::gateway(json!({
        "tokens": [
            { "id": "ops", "secret": ADMIN_TOKEN, "scopes": ["rpc"] },
            { "id": "hook", "secret": WEBHOOK_TOKEN, "scopes": ["webhook"] }
        ],
        "auth_rate_limit": { "max_attempts": 3, "window_ms": 60000, "lockout_ms": 60000 }
    }));
    let mut ws = open(&server, "/ws?protocol=jsonrpc");
    let _hello = next_json(&mut ws);
    let res = call(
        &mut ws,
        &format!(r#"{{"jsonrpc":"2.0","id":0,"method":"auth.token","params":{{"token":"{WEBHOOK_TOKEN}"}}}}"#),
    );
    assert_eq!(res["error"]["code"], -32003, "{res}");
    for i in 1..=3 {
        let res = call(
            &mut ws,
            &format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"auth.token","params":{{"token":"guess-{i}"}}}}"#),
        );
        assert_eq!(res["error"]["code"], -32001, "{res}");
    }
    // Locked out now: even the right token is refused until the lockout ends.
    let res = call(
        &mut ws,
        &format!(r#"{{"jsonrpc":"2.0","id":9,"method":"auth.token","params":{{"token":"{ADMIN_TOKEN}"}}}}"#),
    );
    assert_eq!(res["error"]["code"], -32005, "{res}");
}
