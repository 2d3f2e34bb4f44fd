//! Streamed agent turns over real HTTP and WebSocket clients against a real server on an
//! ephemeral port: `GET /api/chat/stream` (Comis's `token`/`done`), streaming
//! `POST /v1/chat/completions` (OpenAI's chunk order, with and without `include_usage`),
//! `POST /v1/responses` (streamed and not) and clawgo's `/api/chat/live`. The chunked framing
//! is parsed strictly; a connection is reused after a stream; a client that leaves mid-stream
//! (against a slow fake upstream) aborts its turn; graceful shutdown ends an open stream.

#[path = "support/fake_upstream.rs"]
mod fake_upstream;
mod support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use fake_upstream::FakeUpstream;
use serde_json::{Value, json};
use support::{Conn, TestServer, get, get_with, post_with};
use talon::protocol::sse::{ParsedEvent, parse_stream};
use talon::store::TurnState;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// Every chunk of a stream must be whole SSE blocks (one or more events, or a comment).
fn events_of(chunks: &[Vec<u8>]) -> Vec<ParsedEvent> {
    for c in chunks {
        assert!(c.ends_with(b"\n\n"), "a chunk that is not whole SSE blocks: {:?}", String::from_utf8_lossy(c));
    }
    parse_stream(&chunks.concat())
}

fn data_json(e: &ParsedEvent) -> Value {
    serde_json::from_slice(&e.data).unwrap_or_else(|err| panic!("{err}: {:?}", String::from_utf8_lossy(&e.data)))
}

fn post_json(path: &str, body: &Value) -> Vec<u8> {
    post_with(path, &[], body.to_string().as_bytes())
}

fn check_stream_head(head: &support::Response) {
    assert_eq!(head.status, 200, "{}", head.head);
    assert_eq!(head.header("content-type"), Some("text/event-stream; charset=utf-8"), "{}", head.head);
    assert_eq!(head.header("cache-control"), Some("no-cache"));
    assert_eq!(head.header("x-accel-buffering"), Some("no"));
}

#[test]
fn api_chat_stream_sends_tokens_that_accumulate_to_the_done_response() {
    let srv = TestServer::gateway(json!({}));
    let mut c = srv.connect();
    c.send(&get("/api/chat/stream?message=hello%20streaming%20world&sessionKey=s1"));
    let (head, chunks) = c.read_chunked();
    check_stream_head(&head);
    assert!(!head.closes(), "a stream on a keep-alive connection keeps it: {}", head.head);
    let events = events_of(&chunks);
    let (done, tokens) = events.split_last().expect("events");
    assert_eq!(done.event, "done", "{events:?}");
    let done = data_json(done);
    assert_eq!(done["response"], "hello streaming world");
    assert_eq!(done["finishReason"], "stop");
    assert_eq!(done["sessionKey"], "s1");
    assert_eq!(done["tokensUsed"]["output"], 3);
    let mut joined = String::new();
    for t in tokens {
        assert_eq!(t.event, "token");
        let v = data_json(t);
        joined.push_str(v["delta"].as_str().expect("delta"));
        assert_eq!(v["accumulated"].as_str(), Some(joined.as_str()), "accumulated is every delta so far");
    }
    assert_eq!(tokens.len(), 3);
    assert_eq!(joined, "hello streaming world");

    // The same connection serves the next request, and the turn is in the session.
    c.send(&get("/api/chat/history?sessionKey=s1"));
    let history = c.read_response();
    assert_eq!(history.status, 200, "{}", history.text());
    assert_eq!(history.json()["messages"][1]["content"], "hello streaming world");
}

#[test]
fn api_chat_stream_refusals_are_json_errors() {
    let srv = TestServer::gateway(json!({}));
    for path in ["/api/chat/stream", "/api/chat/stream?message=", "/api/chat/stream?sessionKey=x"] {
        let r = srv.get(path);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        r.assert_error_body();
        assert!(r.text().contains("message"), "{}", r.text());
    }
    let unknown_agent = srv.get("/api/chat/stream?message=hi&agentId=nobody");
    assert_eq!(unknown_agent.status, 404, "{}", unknown_agent.text());
    unknown_agent.assert_error_body();
    // HEAD would start a turn and show none of it.
    let mut c = srv.connect();
    c.send(b"HEAD /api/chat/stream?message=hi HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.read_head_response();
    assert_eq!(head.status, 405, "{}", head.head);
}

/// The `data:` payloads of an OpenAI stream, `[DONE]` as the string.
fn openai_stream(c: &mut Conn, body: &Value) -> Vec<String> {
    c.send(&post_json("/v1/chat/completions", body));
    let (head, chunks) = c.read_chunked();
    check_stream_head(&head);
    events_of(&chunks).iter().map(|e| String::from_utf8_lossy(&e.data).into_owned()).collect()
}

#[test]
fn streaming_completions_follow_openais_chunk_order_and_keep_the_connection() {
    let srv = TestServer::gateway(json!({}));
    let mut c = srv.connect();
    let ask = |usage: Option<bool>| {
        let mut body = json!({"model": "builtin/echo", "stream": true,
                              "messages": [{"role": "user", "content": "one two three"}]});
        if let Some(u) = usage {
            body["stream_options"] = json!({"include_usage": u});
        }
        body
    };
    for include_usage in [None, Some(false), Some(true)] {
        let datas = openai_stream(&mut c, &ask(include_usage));
        assert_eq!(datas.last().map(String::as_str), Some("[DONE]"), "{datas:?}");
        let chunks: Vec<Value> =
            datas[..datas.len() - 1].iter().map(|d| serde_json::from_str(d).expect("chunk JSON")).collect();
        let with_usage = include_usage == Some(true);
        let (id, created) = (chunks[0]["id"].clone(), chunks[0]["created"].clone());
        assert!(id.as_str().is_some_and(|i| i.starts_with("chatcmpl-")), "{id}");
        for ch in &chunks {
            assert_eq!((&ch["id"], &ch["created"], &ch["object"]), (&id, &created, &json!("chat.completion.chunk")));
            assert_eq!(ch["model"], "builtin/echo");
            assert_eq!(ch.get("usage").is_some(), with_usage, "usage key only with include_usage: {ch}");
        }
        let choice = |i: usize| &chunks[i]["choices"][0];
        assert_eq!(choice(0)["delta"], json!({"role": "assistant", "content": ""}));
        assert_eq!(choice(0)["finish_reason"], Value::Null);
        let n = chunks.len();
        let content_end = if with_usage { n - 2 } else { n - 1 };
        let text: String = (1..content_end).map(|i| choice(i)["delta"]["content"].as_str().expect("content")).collect();
        assert_eq!(text, "one two three");
        assert_eq!(content_end - 1, 3, "one chunk per delta");
        assert_eq!(choice(content_end)["delta"], json!({}));
        assert_eq!(choice(content_end)["finish_reason"], "stop");
        if with_usage {
            let last = &chunks[n - 1];
            assert_eq!(last["choices"], json!([]));
            let u = &last["usage"];
            assert_eq!(u["completion_tokens"], 3);
            assert_eq!(u["total_tokens"], u["prompt_tokens"].as_u64().expect("prompt") + 3);
            assert!(chunks[..n - 1].iter().all(|ch| ch["usage"].is_null()));
        }
    }
    // Still the same connection: a non-streaming completion answers as usual.
    c.send(&post_json(
        "/v1/chat/completions",
        &json!({"model": "builtin/echo", "messages": [{"role": "user", "content": "again"}]}),
    ));
    let r = c.read_response();
    assert_eq!((r.status, r.json()["choices"][0]["message"]["content"].clone()), (200, json!("again")));
}

#[test]
fn a_refused_streaming_request_is_a_plain_openai_error() {
    let srv = TestServer::gateway(json!({}));
    let cases = [
        (json!({"model": "nowhere/none", "stream": true, "messages": [{"role": "user", "content": "x"}]}), 404),
        (
            json!({"model": "builtin/echo", "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "x"}]}),
            400,
        ),
    ];
    for (body, status) in cases {
        let r = srv.request(&post_json("/v1/chat/completions", &body));
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.header("content-length").is_some() && r.header("transfer-encoding").is_none(), "{}", r.head);
        assert_eq!(r.json()["error"]["type"], "invalid_request_error", "{}", r.text());
    }
}

#[test]
fn pipelined_requests_wait_for_the_stream_and_answer_in_order() {
    let srv = TestServer::gateway(json!({}));
    let mut c = srv.connect();
    let mut both = get("/api/chat/stream?message=first%20one");
    both.extend_from_slice(&get("/api/chat/stream?message=second"));
    both.extend_from_slice(&get_with("/health", &["Connection: close"]));
    c.send(&both);
    for expected in ["first one", "second"] {
        let (_, chunks) = c.read_chunked();
        let events = events_of(&chunks);
        assert_eq!(data_json(events.last().expect("done"))["response"], expected);
    }
    let health = c.read_response();
    assert_eq!(health.status, 200);
    assert!(health.closes());
}

/// Wait until the session's last stored turn has ended, and return it.
fn last_turn(srv: &TestServer, session: &str) -> talon::store::TurnRow {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let reads = srv.app().store.agent().expect("agent store");
        let messages = reads.messages(session, 10).expect("messages");
        if let Some(run) = messages.last().map(|m| m.run_id.clone())
            && let Some(turn) = reads.turn(&run).expect("read")
            && turn.state != TurnState::Running
            && !srv.app().agent.busy(session)
        {
            return turn;
        }
        assert!(Instant::now() < until, "no turn of {session} ended");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_client_that_leaves_mid_stream_aborts_the_turn() {
    let upstream = FakeUpstream::endless(Duration::from_millis(100));
    let srv = upstream.server(json!({}));
    let mut c = srv.connect();
    c.send(&get("/api/chat/stream?message=go&sessionKey=gone"));
    let head = c.read_chunked_head();
    check_stream_head(&head);
    let first = c.read_chunk().expect("a token");
    assert!(String::from_utf8_lossy(&first).contains("event: token"), "{:?}", String::from_utf8_lossy(&first));
    drop(c);
    let turn = last_turn(&srv, "gone");
    assert_eq!(turn.state, TurnState::Aborted, "{turn:?}");
    let stored = srv.app().store.agent().expect("reads").messages("gone", 10).expect("messages");
    assert!(stored.last().is_some_and(|m| m.role == "assistant" && m.content.starts_with("word ")), "{stored:?}");
    let until = Instant::now() + Duration::from_secs(5);
    while upstream.cut_short() == 0 {
        assert!(Instant::now() < until, "the upstream request was not closed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_reader_that_stops_reading_is_cut_off_at_the_backlog_bound() {
    // 64 KiB pieces (the turn's text limit, 4 MiB, is 64 of them, and `accumulated` doubles
    // the bytes) to a client that reads nothing through a fixed 4 KiB receive buffer (set
    // explicitly, so the kernel does not grow it): the output backs up past the bound long
    // before the turn could end on its own.
    let upstream = FakeUpstream::endless_with(Duration::from_millis(1), &"w".repeat(64 * 1024));
    let srv = upstream.server(json!({
        "gateway": { "sse": { "max_backlog_bytes": 64 * 1024 } },
    }));
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(&srv.addr.into()).expect("connect");
    let mut client = TcpStream::from(socket);
    std::io::Write::write_all(&mut client, &get("/api/chat/stream?message=go&sessionKey=stalled")).expect("send");
    let turn = last_turn(&srv, "stalled");
    assert_eq!(turn.state, TurnState::Aborted, "{turn:?}");
    drop(client);
}

#[test]
fn keepalive_comments_fill_long_silences() {
    let upstream = FakeUpstream::endless(Duration::from_millis(400));
    let srv = upstream.server(json!({
        "gateway": { "sse": { "keepalive_ms": 50 } },
    }));
    let mut c = srv.connect();
    c.send(&post_json(
        "/v1/chat/completions",
        &json!({"model": "slow/slow-model", "stream": true, "messages": [{"role": "user", "content": "x"}]}),
    ));
    check_stream_head(&c.read_chunked_head());
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < until, "no keep-alive comment");
        if c.read_chunk().expect("stream goes on") == b": ping\n\n" {
            break;
        }
    }
}

#[test]
fn shutdown_ends_an_open_stream_with_its_error_event() {
    let upstream = FakeUpstream::endless(Duration::from_millis(100));
    let srv = upstream.server(json!({
        // Far longer than the read deadline: the stream must end because its turn did.
        "gateway": { "shutdown_grace_ms": 60_000 },
    }));
    let mut c = srv.connect();
    c.send(&post_json(
        "/v1/chat/completions",
        &json!({"model": "slow/slow-model", "stream": true, "messages": [{"role": "user", "content": "x"}]}),
    ));
    check_stream_head(&c.read_chunked_head());
    c.read_chunk().expect("role chunk");
    srv.begin_shutdown();
    let mut rest = Vec::new();
    while let Some(chunk) = c.read_chunk() {
        rest.push(chunk);
    }
    let last = events_of(&rest).pop().expect("an event");
    let error = data_json(&last);
    assert_eq!(error["error"]["code"], "aborted", "{error}");
    assert!(c.closed_within(Duration::from_secs(5)), "the connection closes after the stream");
    srv.stop();
}

fn responses(srv: &TestServer, body: &Value) -> support::Response {
    srv.request(&post_json("/v1/responses", body))
}

#[test]
fn responses_without_streaming_answer_a_response_object() {
    let srv = TestServer::gateway(json!({}));
    let r = responses(
        &srv,
        &json!({"model": "builtin/echo", "instructions": "be brief", "store": true,
                "input": [{"role": "user", "content": [{"type": "input_text", "text": "what now"}]}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!((v["object"].as_str(), v["status"].as_str()), (Some("response"), Some("completed")));
    assert!(v["id"].as_str().is_some_and(|i| i.starts_with("resp_")), "{v}");
    assert_eq!(v["model"], "builtin/echo");
    assert_eq!(v["instructions"], "be brief");
    let item = &v["output"][0];
    assert_eq!(
        (item["type"].as_str(), item["role"].as_str(), item["status"].as_str()),
        (Some("message"), Some("assistant"), Some("completed"))
    );
    assert!(item["id"].as_str().is_some_and(|i| i.starts_with("msg_")), "{item}");
    assert_eq!(item["content"], json!([{"type": "output_text", "text": "what now", "annotations": []}]));
    let u = &v["usage"];
    assert_eq!(u["total_tokens"], u["input_tokens"].as_u64().expect("in") + u["output_tokens"].as_u64().expect("out"));

    let refused = responses(&srv, &json!({"model": "builtin/echo", "input": "x", "previous_response_id": "resp_1"}));
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.json()["error"]["message"].as_str().is_some_and(|m| m.contains("previous_response_id")));
}

#[test]
fn streamed_responses_send_the_typed_events_in_order() {
    let srv = TestServer::gateway(json!({}));
    let mut c = srv.connect();
    c.send(&post_json("/v1/responses", &json!({"model": "builtin/echo", "input": "alpha beta", "stream": true})));
    let (head, chunks) = c.read_chunked();
    check_stream_head(&head);
    let events = events_of(&chunks);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let datas: Vec<Value> = events.iter().map(data_json).collect();
    for (i, d) in datas.iter().enumerate() {
        assert_eq!(d["type"].as_str(), Some(names[i]), "type is the event name");
        assert_eq!(d["sequence_number"], i, "{d}");
    }
    let item_id = datas[2]["item"]["id"].clone();
    let deltas: String = datas[4..6]
        .iter()
        .map(|d| {
            assert_eq!((&d["item_id"], &d["output_index"], &d["content_index"]), (&item_id, &json!(0), &json!(0)));
            d["delta"].as_str().expect("delta").to_owned()
        })
        .collect();
    assert_eq!(deltas, "alpha beta");
    assert_eq!(datas[6]["text"], "alpha beta");
    let done = &datas[9]["response"];
    assert_eq!((done["status"].as_str(), done["id"].clone()), (Some("completed"), datas[0]["response"]["id"].clone()));
    assert_eq!(done["output"][0]["content"][0]["text"], "alpha beta");
    assert_eq!(datas[0]["response"]["status"], "in_progress");
}

type Ws = WebSocket<TcpStream>;

fn live(srv: &TestServer) -> Ws {
    let stream = TcpStream::connect(srv.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let req = format!("ws://{}/api/chat/live", srv.addr).into_client_request().expect("request");
    tungstenite::client::client(req, stream).expect("upgrade").0
}

fn next(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn chat_live_streams_chunks_then_done_and_survives_bad_json() {
    let srv = TestServer::gateway(json!({}));
    let mut ws = live(&srv);
    ws.send(Message::text("this is not json")).expect("send");
    assert_eq!(next(&mut ws), json!({"ok": false, "type": "chat_error", "error": "invalid json"}));
    ws.send(Message::text(json!({"session": "live1", "message": "héllo wörld ✓"}).to_string())).expect("send");
    let mut text = String::new();
    loop {
        let v = next(&mut ws);
        assert_eq!((v["ok"].as_bool(), v["session"].as_str()), (Some(true), Some("live1")), "{v}");
        match v["type"].as_str() {
            Some("chat_chunk") => text.push_str(v["delta"].as_str().expect("delta")),
            Some("chat_done") => break,
            other => panic!("unexpected {other:?}: {v}"),
        }
    }
    assert_eq!(text, "héllo wörld ✓");
    ws.send(Message::text(json!({"session": "live1", "message": ""}).to_string())).expect("send");
    let refused = next(&mut ws);
    assert_eq!((refused["type"].as_str(), refused["session"].as_str()), (Some("chat_error"), Some("live1")));
    assert!(refused["error"].as_str().is_some_and(|e| e.contains("message")), "{refused}");
}

#[test]
fn closing_a_live_chat_socket_aborts_its_turn_and_a_second_message_meanwhile_is_refused() {
    let upstream = FakeUpstream::endless(Duration::from_millis(100));
    let srv = upstream.server(json!({}));
    let mut ws = live(&srv);
    ws.send(Message::text(json!({"session": "live2", "message": "go"}).to_string())).expect("send");
    assert_eq!(next(&mut ws)["type"], "chat_chunk");
    ws.send(Message::text(json!({"session": "live2", "message": "again"}).to_string())).expect("send");
    loop {
        let v = next(&mut ws);
        if v["type"] == "chat_error" {
            assert!(v["error"].as_str().is_some_and(|e| e.starts_with("busy")), "{v}");
            break;
        }
        assert_eq!(v["type"], "chat_chunk", "{v}");
    }
    drop(ws);
    let turn = last_turn(&srv, "live2");
    assert_eq!(turn.state, TurnState::Aborted, "{turn:?}");
}

#[test]
fn a_request_body_larger_than_the_upstream_buffers_reaches_the_upstream_whole() {
    // The upstream client's buffers are 16 KiB (memory per streamed turn); a 200 KB history
    // must still go out whole. The fake upstream answers only a request whose body arrived
    // complete (`Content-Length` bytes), so the reply proves it.
    let upstream = FakeUpstream::start(&["all ", "of ", "it"], Duration::from_millis(1));
    let srv = upstream.server(json!({}));
    let long = "lorem ipsum ".repeat(200_000 / 12);
    let body = json!({"messages": [
        {"role": "user", "content": long},
        {"role": "assistant", "content": "noted"},
        {"role": "user", "content": "now answer"},
    ]});
    let r = srv.request(&post_json("/v1/chat/completions", &body));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "all of it");
    assert_eq!(upstream.requests(), 1);
}
