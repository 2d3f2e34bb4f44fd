//! The event bus seen by real clients: SSE `/api/events` (retry, ping, Last-Event-ID replay,
//! gap notice, scope filtering, slow-consumer close), `/api/activity`, WebSocket `event`
//! frames and JSON-RPC notifications, and clawgo's `/api/events/live`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{ADMIN_TOKEN, TestServer};
use talon::protocol::sse::{ParsedEvent, StreamParser};
use tungstenite::Message;
use tungstenite::client::IntoClientRequest;

const RPC_TOKEN: &str = "tln-rpc-only-7d1f3b5a9c2e4f6a8b0d2c4e6f8a0b2d";

fn tokens() -> Value {
    json!({ "tokens": [
        { "id": "admin", "secret": ADMIN_TOKEN, "scopes": ["admin"] },
        { "id": "rpc", "secret": RPC_TOKEN, "scopes": ["rpc"] }
    ] })
}

struct Sse {
    stream: TcpStream,
    parser: StreamParser,
    head: String,
    pending: Vec<ParsedEvent>,
}

impl Sse {
    fn open(server: &TestServer, token: &str, extra: &str) -> Self {
        let mut stream = TcpStream::connect(server.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let req = format!(
            "GET /api/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n{extra}\r\n"
        );
        stream.write_all(req.as_bytes()).expect("write");
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).expect("head"), 1, "stream closed during the head");
            buf.push(byte[0]);
        }
        Self {
            stream,
            parser: StreamParser::new(),
            head: String::from_utf8_lossy(&buf).into_owned(),
            pending: Vec::new(),
        }
    }

    fn next(&mut self) -> ParsedEvent {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.pending.is_empty() {
            assert!(Instant::now() < deadline, "no SSE event within 5 s");
            let mut buf = [0u8; 4096];
            let n = self.stream.read(&mut buf).expect("read");
            assert!(n > 0, "stream closed");
            self.pending.extend(self.parser.feed(&buf[..n]));
        }
        self.pending.remove(0)
    }

    /// The next event that is not a keep-alive ping.
    fn next_event(&mut self) -> ParsedEvent {
        loop {
            let e = self.next();
            if e.event != "ping" {
                return e;
            }
        }
    }
}

fn publish(server: &TestServer, name: &str, n: u64) -> u64 {
    server.app().bus.publish(name, &json!({ "n": n })).expect("catalogued event")
}

#[test]
fn sse_stream_then_replay_exactly_the_missed_events() {
    let server = TestServer::gateway(tokens());
    let mut sse = Sse::open(&server, ADMIN_TOKEN, "");
    assert!(sse.head.starts_with("HTTP/1.1 200 "), "{}", sse.head);
    assert!(sse.head.contains("Content-Type: text/event-stream\r\n"));
    let first = publish(&server, "message:received", 1);
    let e = sse.next_event();
    assert_eq!((e.id.clone(), e.event.clone()), (first.to_string(), "message:received".to_owned()));
    assert_eq!(serde_json::from_slice::<Value>(&e.data).expect("json"), json!({ "n": 1 }));
    drop(sse);

    // Events published while the client is away are replayed in order, then live ones follow.
    let missed: Vec<u64> = (2..=5).map(|n| publish(&server, "message:sent", n)).collect();
    let mut sse = Sse::open(&server, ADMIN_TOKEN, &format!("Last-Event-ID: {first}\r\n"));
    for id in &missed {
        let e = sse.next_event();
        assert_eq!(e.id, id.to_string());
        assert_eq!(e.event, "message:sent");
    }
    let live = publish(&server, "message:received", 6);
    assert_eq!(sse.next_event().id, live.to_string());
}

#[test]
fn replay_gap_is_announced_when_the_ring_has_moved_on() {
    let mut cfg = tokens();
    cfg["sse"] = json!({ "ring_events": 4 });
    let server = TestServer::gateway(cfg);
    let ids: Vec<u64> = (1..=10).map(|n| publish(&server, "message:received", n)).collect();
    let mut sse = Sse::open(&server, ADMIN_TOKEN, "Last-Event-ID: 1\r\n");
    let gap = sse.next_event();
    assert_eq!(gap.event, "replay-gap");
    let info: Value = serde_json::from_slice(&gap.data).expect("json");
    assert_eq!(info["requestedAfter"], 1);
    assert_eq!(info["oldestAvailable"], ids[6]);
    for id in &ids[6..] {
        assert_eq!(sse.next_event().id, id.to_string());
    }
}

#[test]
fn sse_retry_ping_and_scope_filtering() {
    let mut cfg = tokens();
    cfg["sse"] = json!({ "keepalive_ms": 100, "retry_ms": 3000 });
    let server = TestServer::gateway(cfg);
    let mut sse = Sse::open(&server, RPC_TOKEN, "");
    // The first event is a ping within the keep-alive interval; retry was set before it.
    let ping = sse.next();
    assert_eq!(ping.event, "ping");
    assert_eq!(sse.parser.retry(), Some(3000));
    publish(&server, "audit:event", 1); // admin only: not for an rpc token
    let visible = publish(&server, "message:received", 2);
    let e = sse.next_event();
    assert_eq!((e.id, e.event), (visible.to_string(), "message:received".to_owned()));
    // No token: 401 before any stream.
    let resp = server.request(&support::get("/api/events"));
    assert_eq!(resp.status, 401);
}

#[test]
fn slow_sse_subscriber_is_closed() {
    let mut cfg = tokens();
    cfg["debug_routes"] = json!(true);
    cfg["sse"] = json!({ "max_backlog_bytes": 65536 });
    let server = TestServer::gateway(cfg);
    let sse = Sse::open(&server, ADMIN_TOKEN, "");
    // Never read; publish far more than the kernel buffers and the backlog bound hold.
    for _ in 0..40 {
        server.app().bus.publish("message:received", &json!({ "pad": "y".repeat(8192) })).expect("publish");
        for _ in 0..50 {
            server.app().bus.publish("message:received", &json!({ "pad": "z".repeat(8192) })).expect("publish");
        }
        std::thread::sleep(Duration::from_millis(5));
        if server.app().metrics.rejected(talon::metrics::Reject::SlowConsumer) > 0 {
            break;
        }
    }
    assert!(server.app().metrics.rejected(talon::metrics::Reject::SlowConsumer) >= 1);
    drop(sse);
}

#[test]
fn activity_ring_over_http_and_rpc() {
    let mut cfg = tokens();
    cfg["debug_routes"] = json!(true);
    let server = TestServer::gateway(cfg);
    for n in 0..60 {
        publish(&server, "message:received", n);
    }
    let auth = format!("Authorization: Bearer {RPC_TOKEN}");
    let resp = server.request(&support::get_with("/api/activity", &[&auth]));
    assert_eq!(resp.status, 200);
    let events = resp.json()["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 50);
    assert_eq!(events.last().expect("last")["payload"]["n"], 59);
    assert_eq!(events[0]["event"], "message:received");
    let resp = server.request(&support::get_with("/api/activity?limit=3", &[&auth]));
    assert_eq!(resp.json()["events"].as_array().map(Vec::len), Some(3));
    for bad in ["0", "101", "x"] {
        let resp = server.request(&support::get_with(&format!("/api/activity?limit={bad}"), &[&auth]));
        assert_eq!(resp.status, 400, "limit={bad}");
    }
    // The debug publisher is admin-only.
    let post =
        format!("POST /debug/publish?count=2&bytes=16 HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(server.request(post.as_bytes()).status, 403);
    let post = post.replace(RPC_TOKEN, ADMIN_TOKEN);
    let resp = server.request(post.as_bytes());
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["published"], 2);
}

fn ws(server: &TestServer, target: &str, token: &str) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(server.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut req = format!("ws://{}{target}", server.addr).into_client_request().expect("request");
    req.headers_mut().insert("Authorization", format!("Bearer {token}").parse().expect("value"));
    tungstenite::client::client(req, stream).expect("upgrade").0
}

fn next_text(ws: &mut tungstenite::WebSocket<TcpStream>) -> Value {
    loop {
        if let Message::Text(t) = ws.read().expect("read") {
            return serde_json::from_str(t.as_str()).expect("json");
        }
    }
}

#[test]
fn websocket_events_in_both_dialects_filtered_by_scope() {
    let server = TestServer::gateway(tokens());
    let mut frames = ws(&server, "/ws", RPC_TOKEN);
    let mut jsonrpc = ws(&server, "/ws?protocol=jsonrpc", RPC_TOKEN);
    let mut live = ws(&server, "/api/events/live", RPC_TOKEN);
    assert_eq!(next_text(&mut frames)["event"], "hello-ok");
    assert_eq!(next_text(&mut jsonrpc)["method"], "hello-ok");
    assert_eq!(next_text(&mut live), json!({ "type": "ready" }));
    publish(&server, "config:patched", 1); // admin scope: filtered out
    let id = publish(&server, "session:created", 2);
    let e = next_text(&mut frames);
    assert_eq!(
        (e["type"].clone(), e["event"].clone(), e["seq"].clone()),
        (json!("event"), json!("session:created"), json!(2))
    );
    assert_eq!(e["payload"], json!({ "n": 2 }));
    let n = next_text(&mut jsonrpc);
    assert_eq!((n["method"].clone(), n["params"].clone()), (json!("session:created"), json!({ "n": 2 })));
    assert!(n.get("id").is_none());
    let l = next_text(&mut live);
    assert_eq!((l["type"].clone(), l["id"].clone()), (json!("session:created"), json!(id)));
}
