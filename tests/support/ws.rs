//! WebSocket RPC helpers for the integration tests: open `/ws` with tungstenite (reading the
//! `hello-ok`), send a request and collect the pushes that arrive before its reply, and read a
//! run's `chat` events or any push until one matches.
//!
//! Every socket has a 10 s read timeout, so a server that stops answering fails the test.
#![allow(dead_code)]

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use super::support::TestServer;

/// A client socket.
pub type Ws = WebSocket<TcpStream>;

/// Open `target` (`/ws`, `/ws?protocol=jsonrpc`, ...) and read the `hello-ok`.
pub fn open(server: &TestServer, target: &str) -> Ws {
    let stream = TcpStream::connect(server.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let req = format!("ws://{}{target}", server.addr).into_client_request().expect("request");
    let (mut ws, _) = tungstenite::client::client(req, stream).expect("upgrade");
    let hello = next_json(&mut ws);
    assert!(hello.to_string().contains("hello-ok"), "{hello}");
    ws
}

/// The next text frame as JSON (pings and pongs skipped).
pub fn next_json(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// An event frame or a JSON-RPC notification.
pub fn is_push(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("event") || (v.get("jsonrpc").is_some() && v.get("method").is_some())
}

/// Send a request and return its reply, keeping the pushes that arrived before it.
pub fn call(ws: &mut Ws, req: &Value, pushes: &mut Vec<Value>) -> Value {
    ws.send(Message::text(req.to_string())).expect("send");
    loop {
        let v = next_json(ws);
        if !is_push(&v) {
            return v;
        }
        pushes.push(v);
    }
}

/// A `req` frame.
pub fn frame(id: &str, method: &str, params: Value) -> Value {
    json!({ "type": "req", "id": id, "method": method, "params": params })
}

/// The payload of an `ok` reply (fails the test otherwise).
pub fn ok_payload(reply: &Value) -> Value {
    assert_eq!(reply["ok"], true, "{reply}");
    reply["payload"].clone()
}

/// The `chat` event payloads of `run_id` (either dialect), from `pushes` then the socket,
/// until its `final`, `aborted` or `error`.
pub fn chat_events(ws: &mut Ws, pushes: Vec<Value>, run_id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut pending = pushes.into_iter();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert!(Instant::now() < deadline, "no end of run {run_id}");
        let v = pending.next().unwrap_or_else(|| next_json(ws));
        let payload = if v["type"] == "event" && v["event"] == "chat" {
            v["payload"].clone()
        } else if v["method"] == "chat" || v["method"] == "chat.chunk" {
            v["params"].clone()
        } else {
            continue;
        };
        if payload["runId"] != run_id {
            continue;
        }
        let end = matches!(payload["state"].as_str(), Some("final" | "aborted" | "error"));
        out.push(payload);
        if end {
            return out;
        }
    }
}

/// Read pushes into `seen` until one matches `pred` (those already in `seen` count first);
/// returns it. Fails the test after 20 s, naming `what`.
pub fn wait_for(ws: &mut Ws, seen: &mut Vec<Value>, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        assert!(Instant::now() < deadline, "no {what} among {seen:?}");
        let v = next_json(ws);
        seen.push(v);
    }
}
