//! The provider clients against fake upstreams written here: a std `TcpListener` on
//! 127.0.0.1:0 that answers each connection from a script with raw HTTP/1.1 (chunked or
//! close-delimited SSE, error statuses, stalls). Covers normal, slow and aborted streams,
//! retries on 429 (`Retry-After`) and 500, malformed chunks, timeouts, fallback with its
//! events, tool calls from fragments, usage, the Anthropic client and `builtin/echo`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{Value, json};
use talon::agent::providers::anthropic::AnthropicProvider;
use talon::agent::providers::http::ApiKey;
use talon::agent::providers::openai::{OpenAiProvider, OpenAiSettings};
use talon::agent::providers::retry::RetryPolicy;
use talon::agent::providers::{
    EventSink, FinishReason, HttpErrorKind, Message, Provider, ProviderError, Router, StreamError, StreamEvent,
    TimeoutKind, TurnControl, TurnRequest, Usage,
};

/// What the fake upstream does with one connection.
#[derive(Clone)]
enum Reply {
    /// 200 `text/event-stream`; each piece after its delay; chunked or close-delimited.
    Sse { pieces: Vec<(Duration, String)>, chunked: bool },
    /// A status with extra headers and a JSON body.
    Status { status: u16, headers: Vec<String>, body: String },
    /// Send the response head and `prefix`, then say nothing for `hold`.
    Stall { prefix: String, hold: Duration },
    /// Send nothing at all for `hold`.
    Silent { hold: Duration },
}

/// One request as the fake upstream saw it.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

struct FakeUpstream {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl FakeUpstream {
    /// Serve `script` in order (the last reply repeats).
    fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (Arc::clone(&seen), Arc::clone(&stop));
        thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let reply = script.get(n).or(script.last()).cloned();
                let seen = Arc::clone(&seen2);
                thread::spawn(move || serve(conn, reply, &seen));
            }
        });
        Self { base, seen, stop }
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.base.trim_start_matches("http://"));
    }
}

fn serve(mut conn: TcpStream, reply: Option<Reply>, seen: &Mutex<Vec<Seen>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len = Seen { head: head.clone(), body: Value::Null }
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if conn.read_exact(&mut body).is_err() {
        return;
    }
    seen.lock().push(Seen { head, body: serde_json::from_slice(&body).unwrap_or(Value::Null) });
    let Some(reply) = reply else { return };
    let _ = match reply {
        Reply::Sse { pieces, chunked } => {
            let framing = if chunked { "Transfer-Encoding: chunked" } else { "Connection: close" };
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{framing}\r\n\r\n");
            (|| {
                conn.write_all(head.as_bytes())?;
                for (delay, piece) in pieces {
                    thread::sleep(delay);
                    if chunked {
                        write!(conn, "{:x}\r\n{piece}\r\n", piece.len())?;
                    } else {
                        conn.write_all(piece.as_bytes())?;
                    }
                    conn.flush()?;
                }
                if chunked {
                    conn.write_all(b"0\r\n\r\n")?;
                }
                Ok::<(), std::io::Error>(())
            })()
        }
        Reply::Status { status, headers, body } => {
            let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
            write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
                body.len()
            )
        }
        Reply::Stall { prefix, hold } => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
            let r = conn.write_all(head.as_bytes()).and_then(|()| conn.write_all(prefix.as_bytes()));
            thread::sleep(hold);
            r
        }
        Reply::Silent { hold } => {
            thread::sleep(hold);
            Ok(())
        }
    };
}

fn data(v: &Value) -> String {
    format!("data: {v}\n\n")
}

fn delta(text: &str) -> String {
    data(
        &json!({ "object": "chat.completion.chunk", "choices": [{ "index": 0, "delta": { "content": text }, "finish_reason": null }] }),
    )
}

fn finish(reason: &str) -> String {
    data(&json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": reason }] }))
}

fn usage_chunk(input: u64, output: u64) -> String {
    data(
        &json!({ "choices": [], "usage": { "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output } }),
    )
}

const DONE: &str = "data: [DONE]\n\n";

fn now(pieces: &[String]) -> Vec<(Duration, String)> {
    pieces.iter().map(|p| (Duration::ZERO, p.clone())).collect()
}

fn text_stream() -> Vec<String> {
    vec![
        data(&json!({ "choices": [{ "index": 0, "delta": { "role": "assistant", "content": "" } }] })),
        delta("Hello"),
        delta(", "),
        delta("world"),
        finish("stop"),
        usage_chunk(9, 3),
        DONE.to_owned(),
    ]
}

fn settings(base: &str, retry: RetryPolicy) -> OpenAiSettings {
    OpenAiSettings {
        name: "fake".into(),
        base_url: format!("{base}/v1"),
        key: Some(ApiKey::new("sk-test-key-0123456789")),
        models: vec!["m".into()],
        retry,
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(5),
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy { base_delay: Duration::from_millis(20), ..RetryPolicy::default() }
}

fn openai(base: &str) -> OpenAiProvider {
    OpenAiProvider::new(settings(base, fast_retry()))
}

fn ask(text: &str) -> TurnRequest {
    TurnRequest { messages: vec![Message::user(text)], ..TurnRequest::default() }
}

/// Events as plain values, and the result.
fn run(
    provider: &dyn Provider,
    ctl: &TurnControl,
) -> (Vec<String>, Result<talon::agent::providers::TurnSummary, ProviderError>) {
    let mut events = Vec::new();
    let result = provider.stream("m", &ask("hi"), ctl, &mut |e| events.push(describe(e)));
    (events, result)
}

fn describe(e: StreamEvent<'_>) -> String {
    match e {
        StreamEvent::TextDelta(t) => format!("text:{t}"),
        StreamEvent::ToolCall(c) => format!("tool:{}:{}:{}", c.id, c.name, c.arguments),
        StreamEvent::Usage(u) => format!("usage:{}:{}", u.input_tokens, u.output_tokens),
        StreamEvent::Finish(f) => format!("finish:{}", f.as_openai()),
    }
}

fn ctl() -> TurnControl {
    TurnControl::new(Duration::from_secs(10))
}

#[test]
fn normal_stream_chunked_and_close_delimited() {
    for chunked in [true, false] {
        let up = FakeUpstream::start(vec![Reply::Sse { pieces: now(&text_stream()), chunked }]);
        let (events, result) = run(&openai(&up.base), &ctl());
        assert_eq!(events, ["text:Hello", "text:, ", "text:world", "usage:9:3", "finish:stop"], "chunked={chunked}");
        let summary = result.expect("stream");
        assert_eq!(summary.text, "Hello, world");
        assert_eq!(summary.usage, Some(Usage { input_tokens: 9, output_tokens: 3 }));
        let seen = up.requests();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].head.starts_with("POST /v1/chat/completions HTTP/1.1"), "{}", seen[0].head);
        assert_eq!(seen[0].header("authorization").as_deref(), Some("Bearer sk-test-key-0123456789"));
        assert_eq!(seen[0].body["stream"], true);
        assert_eq!(seen[0].body["stream_options"]["include_usage"], true);
        assert_eq!(seen[0].body["model"], "m");
        assert_eq!(seen[0].body["messages"], json!([{ "role": "user", "content": "hi" }]));
    }
}

#[test]
fn slow_stream_delivers_each_token_as_it_arrives() {
    let step = Duration::from_millis(80);
    let pieces: Vec<(Duration, String)> = text_stream().into_iter().map(|p| (step, p)).collect();
    let up = FakeUpstream::start(vec![Reply::Sse { pieces, chunked: true }]);
    let started = Instant::now();
    let mut arrivals = Vec::new();
    let result = openai(&up.base).stream("m", &ask("hi"), &ctl(), &mut |e| {
        if let StreamEvent::TextDelta(_) = e {
            arrivals.push(started.elapsed());
        }
    });
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(arrivals.len(), 3);
    // Each delta is delivered when its chunk arrives, not when the body ends (7 steps).
    assert!(arrivals[0] < step * 4, "first token at {:?}", arrivals[0]);
    assert!(arrivals[2] - arrivals[0] >= step, "tokens arrived together: {arrivals:?}");
}

#[test]
fn abort_mid_stream_stops_within_100_ms() {
    let prefix = delta("first") + &delta("second");
    let up = FakeUpstream::start(vec![Reply::Stall { prefix, hold: Duration::from_secs(10) }]);
    let provider = openai(&up.base);
    let ctl = TurnControl::new(Duration::from_secs(30));
    let abort = ctl.abort.clone();
    let aborter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        abort.abort();
        Instant::now()
    });
    let (events, result) = run(&provider, &ctl);
    let returned = Instant::now();
    let aborted_at = aborter.join().expect("aborter");
    assert_eq!(result, Err(ProviderError::Aborted));
    assert_eq!(events, ["text:first", "text:second"]);
    let lag = returned.saturating_duration_since(aborted_at);
    eprintln!("abort to return: {lag:?}");
    assert!(lag < Duration::from_millis(100), "stopped {lag:?} after the abort");
}

#[test]
fn abort_during_backoff_and_before_start() {
    let up = FakeUpstream::start(vec![Reply::Status {
        status: 503,
        headers: vec!["Retry-After: 20".into()],
        body: "{}".into(),
    }]);
    let provider = openai(&up.base);
    let ctl = TurnControl::new(Duration::from_secs(60));
    let abort = ctl.abort.clone();
    let aborter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        abort.abort();
    });
    let started = Instant::now();
    let (_, result) = run(&provider, &ctl);
    aborter.join().expect("aborter");
    assert_eq!(result, Err(ProviderError::Aborted));
    assert!(started.elapsed() < Duration::from_secs(2), "waited out Retry-After: {:?}", started.elapsed());
    assert_eq!(run(&provider, &ctl).1, Err(ProviderError::Aborted), "an aborted turn sends nothing");
    assert_eq!(up.requests().len(), 1);
}

#[test]
fn rate_limited_then_success_honours_retry_after() {
    let limited = Reply::Status {
        status: 429,
        headers: vec!["Retry-After: 1".into()],
        body:
            json!({ "error": { "message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded" } })
                .to_string(),
    };
    let up = FakeUpstream::start(vec![limited, Reply::Sse { pieces: now(&text_stream()), chunked: true }]);
    let started = Instant::now();
    let (events, result) = run(&openai(&up.base), &ctl());
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(events.len(), 5);
    assert_eq!(up.requests().len(), 2);
    assert!(started.elapsed() >= Duration::from_millis(950), "Retry-After: 1 not honoured: {:?}", started.elapsed());
}

#[test]
fn server_error_then_success_backs_off() {
    let failing = Reply::Status { status: 500, headers: vec![], body: r#"{"error":{"message":"boom"}}"#.into() };
    let up =
        FakeUpstream::start(vec![failing.clone(), failing, Reply::Sse { pieces: now(&text_stream()), chunked: true }]);
    let (events, result) = run(&openai(&up.base), &ctl());
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(events.last().map(String::as_str), Some("finish:stop"));
    assert_eq!(up.requests().len(), 3);
}

#[test]
fn errors_after_retries_and_without_retry() {
    // 500 every time: max_retries (2) + 1 attempts, then the mapped error.
    let up = FakeUpstream::start(vec![Reply::Status {
        status: 502,
        headers: vec![],
        body: "<html>bad gateway</html>".into(),
    }]);
    let (_, result) = run(&openai(&up.base), &ctl());
    let err = result.expect_err("502");
    assert!(
        matches!(&err, ProviderError::Http { status: 502, kind: HttpErrorKind::Unavailable, message, .. } if message == "<html>bad gateway</html>"),
        "{err:?}"
    );
    assert_eq!(up.requests().len(), 3);

    // 401 is not retried; a key echoed by the upstream is scrubbed.
    let body = json!({ "error": { "message": "Incorrect API key provided: sk-test-key-0123456789", "type": "invalid_request_error" } });
    let up = FakeUpstream::start(vec![Reply::Status { status: 401, headers: vec![], body: body.to_string() }]);
    let err = run(&openai(&up.base), &ctl()).1.expect_err("401");
    assert_eq!(err.code(), "upstream_auth");
    assert!(err.to_string().contains("Incorrect API key provided: ***"), "{err}");
    assert!(!format!("{err:?}").contains("sk-test"), "{err:?}");
    assert_eq!(up.requests().len(), 1);

    // A Retry-After beyond the cap is not waited for.
    let up = FakeUpstream::start(vec![Reply::Status {
        status: 429,
        headers: vec!["Retry-After: 3600".into()],
        body: "{}".into(),
    }]);
    let started = Instant::now();
    let err = run(&openai(&up.base), &ctl()).1.expect_err("429");
    assert!(
        matches!(err, ProviderError::Http { kind: HttpErrorKind::RateLimited, retry_after: Some(d), .. } if d.as_secs() == 3600)
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // Nothing listening: connection errors are retried, then reported.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let err = run(&openai(&base), &ctl()).1.expect_err("refused");
    assert_eq!(err.code(), "connect_failed", "{err}");
}

#[test]
fn malformed_chunk_is_a_clear_error() {
    let pieces = vec![delta("ok"), "data: {\"choices\": [tru\n\n".to_owned(), delta("never")];
    let up = FakeUpstream::start(vec![Reply::Sse { pieces: now(&pieces), chunked: true }]);
    let (events, result) = run(&openai(&up.base), &ctl());
    assert_eq!(events, ["text:ok"]);
    let err = result.expect_err("malformed");
    assert!(matches!(err, ProviderError::Stream(StreamError::MalformedChunk { .. })), "{err:?}");
    assert!(err.to_string().starts_with("malformed upstream stream chunk: "), "{err}");
    assert_eq!(up.requests().len(), 1, "a stream that started is never retried");

    let pieces = vec![delta("cut")];
    let up = FakeUpstream::start(vec![Reply::Sse { pieces: now(&pieces), chunked: false }]);
    assert_eq!(run(&openai(&up.base), &ctl()).1, Err(ProviderError::Stream(StreamError::Truncated)));
}

#[test]
fn timeouts() {
    // The body stalls: the turn deadline ends it.
    let up = FakeUpstream::start(vec![Reply::Stall { prefix: delta("slow"), hold: Duration::from_secs(10) }]);
    let started = Instant::now();
    let ctl = TurnControl::new(Duration::from_millis(400));
    let (events, result) = run(&openai(&up.base), &ctl);
    assert_eq!(result, Err(ProviderError::Timeout(TimeoutKind::Turn)));
    assert_eq!(events, ["text:slow"]);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(380) && took < Duration::from_millis(1500), "{took:?}");

    // No response head within response_timeout: an attempt timeout (the router may fall back).
    let up = FakeUpstream::start(vec![Reply::Silent { hold: Duration::from_secs(10) }]);
    let provider = OpenAiProvider::new(OpenAiSettings {
        response_timeout: Duration::from_millis(200),
        ..settings(&up.base, RetryPolicy { max_retries: 0, ..fast_retry() })
    });
    let started = Instant::now();
    assert_eq!(run(&provider, &ctl_long()).1, Err(ProviderError::Timeout(TimeoutKind::Response)));
    assert!(started.elapsed() < Duration::from_secs(2));
}

fn ctl_long() -> TurnControl {
    TurnControl::new(Duration::from_secs(30))
}

#[test]
fn tool_call_assembled_from_fragments() {
    let tc = |index: u32, id: Option<&str>, name: Option<&str>, args: &str| {
        let mut call = json!({ "index": index, "function": { "arguments": args } });
        if let Some(id) = id {
            call["id"] = json!(id);
            call["type"] = json!("function");
            call["function"]["name"] = json!(name);
        }
        data(&json!({ "choices": [{ "index": 0, "delta": { "tool_calls": [call] } }] }))
    };
    let pieces = vec![
        tc(0, Some("call_9"), Some("get_weather"), ""),
        tc(0, None, None, "{\"loc"),
        tc(0, None, None, "ation\":\"Oslo\"}"),
        finish("tool_calls"),
        usage_chunk(20, 7),
        DONE.to_owned(),
    ];
    let up = FakeUpstream::start(vec![Reply::Sse { pieces: now(&pieces), chunked: true }]);
    let (events, result) = run(&openai(&up.base), &ctl());
    assert_eq!(events, ["tool:call_9:get_weather:{\"location\":\"Oslo\"}", "usage:20:7", "finish:tool_calls"]);
    let summary = result.expect("tool stream");
    assert_eq!(summary.tool_calls.len(), 1);
    assert_eq!(summary.finish, Some(FinishReason::ToolCalls));
}

#[test]
fn non_streaming_completion() {
    let body = json!({ "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Whole answer" },
        "finish_reason": "stop" }], "usage": { "prompt_tokens": 4, "completion_tokens": 2 } });
    let up = FakeUpstream::start(vec![Reply::Status { status: 200, headers: vec![], body: body.to_string() }]);
    let summary = openai(&up.base).complete("m", &ask("hi"), &ctl()).expect("complete");
    assert_eq!(summary.text, "Whole answer");
    assert_eq!(summary.usage, Some(Usage { input_tokens: 4, output_tokens: 2 }));
    assert_eq!(up.requests()[0].body["stream"], false);
    assert!(up.requests()[0].body.get("stream_options").is_none());
}

fn anthropic_sse(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or_default())).collect()
}

#[test]
fn anthropic_stream_with_tool_use() {
    let events = [
        json!({ "type": "message_start", "message": { "usage": { "input_tokens": 30, "output_tokens": 1 } } }),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        json!({ "type": "ping" }),
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Let me look." } }),
        json!({ "type": "content_block_stop", "index": 0 }),
        json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "tool_use", "id": "toolu_1", "name": "search", "input": {} } }),
        json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "{\"q\":" } }),
        json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "\"rust\"}" } }),
        json!({ "type": "content_block_stop", "index": 1 }),
        json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use" }, "usage": { "output_tokens": 42 } }),
        json!({ "type": "message_stop" }),
    ];
    let up = FakeUpstream::start(vec![Reply::Sse { pieces: now(&anthropic_sse(&events)), chunked: true }]);
    let provider =
        AnthropicProvider::new(OpenAiSettings { base_url: up.base.clone(), ..settings(&up.base, fast_retry()) });
    let mut request = ask("find rust");
    request.messages.insert(0, Message::system("be helpful"));
    let mut got = Vec::new();
    let result = provider.stream("claude-x", &request, &ctl(), &mut |e| got.push(describe(e)));
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(got, ["text:Let me look.", "tool:toolu_1:search:{\"q\":\"rust\"}", "usage:30:42", "finish:tool_calls"]);
    let seen = &up.requests()[0];
    assert!(seen.head.starts_with("POST /v1/messages HTTP/1.1"), "{}", seen.head);
    assert_eq!(seen.header("x-api-key").as_deref(), Some("sk-test-key-0123456789"));
    assert_eq!(seen.header("anthropic-version").as_deref(), Some("2023-06-01"));
    assert!(seen.header("authorization").is_none());
    assert_eq!(seen.body["system"], "be helpful");
    assert_eq!(seen.body["max_tokens"], 4096);

    // An overloaded error event mid-stream, and a non-streaming message.
    let overloaded = [json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } })];
    let body = json!({ "content": [{ "type": "text", "text": "Hi" }], "stop_reason": "end_turn", "usage": { "input_tokens": 3, "output_tokens": 1 } });
    let up = FakeUpstream::start(vec![
        Reply::Sse { pieces: now(&anthropic_sse(&overloaded)), chunked: false },
        Reply::Status { status: 200, headers: vec![], body: body.to_string() },
    ]);
    let provider = AnthropicProvider::new(OpenAiSettings {
        base_url: format!("{}/v1", up.base),
        ..settings(&up.base, fast_retry())
    });
    let err = provider.stream("claude-x", &request, &ctl(), &mut |_| {}).expect_err("overloaded");
    assert_eq!(err.to_string(), "upstream error in stream (overloaded_error): Overloaded");
    let summary = provider.complete("claude-x", &request, &ctl()).expect("complete");
    assert_eq!((summary.text.as_str(), summary.usage), ("Hi", Some(Usage { input_tokens: 3, output_tokens: 1 })));
    assert!(up.requests()[1].head.starts_with("POST /v1/messages "), "a base_url ending in /v1 is not doubled");
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(&'static str, Value)>>);

impl EventSink for Recorder {
    fn publish(&self, name: &'static str, payload: Value) {
        self.0.lock().push((name, payload));
    }
}

fn router_for(primary: &str, secondary: &str, sink: Arc<Recorder>) -> Router {
    let config = json!({
        "agent": { "default_model": "primary/big" },
        "providers": {
            "primary": { "base_url": format!("{primary}/v1"), "api_key": "sk-primary-0000000000", "max_retries": 0 },
            "secondary": { "base_url": format!("{secondary}/v1"), "api_key_env": "TALON_TEST_SECONDARY_KEY", "models": ["small"] },
        },
        "models": { "fallbacks": ["secondary/small", "builtin/echo"] },
    });
    let config = talon::config::load::parse(config.to_string().as_bytes()).expect("config");
    let env = |name: &str| (name == "TALON_TEST_SECONDARY_KEY").then(|| "sk-secondary-111111111".to_owned());
    Router::from_config(&config, &env, sink).expect("router")
}

#[test]
fn fallback_to_a_second_model_publishes_events() {
    let down = Reply::Status { status: 503, headers: vec![], body: r#"{"error":{"message":"overloaded"}}"#.into() };
    let primary = FakeUpstream::start(vec![down.clone(), Reply::Sse { pieces: now(&text_stream()), chunked: true }]);
    let secondary = FakeUpstream::start(vec![Reply::Sse { pieces: now(&text_stream()), chunked: true }]);
    let sink = Arc::new(Recorder::default());
    let router = router_for(&primary.base, &secondary.base, Arc::clone(&sink));

    let mut events = Vec::new();
    let turn = router.stream(None, &ask("hi"), &ctl(), &mut |e| events.push(describe(e))).expect("fallback turn");
    assert_eq!(turn.model.to_string(), "secondary/small");
    assert_eq!(turn.attempts, 2);
    assert_eq!(events.last().map(String::as_str), Some("finish:stop"));
    assert_eq!(secondary.requests()[0].body["model"], "small");
    assert_eq!(secondary.requests()[0].header("authorization").as_deref(), Some("Bearer sk-secondary-111111111"));
    {
        let published = sink.0.lock();
        let names: Vec<&str> = published.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["provider:degraded", "model:fallback_attempt"]);
        assert_eq!(published[0].1["provider"], "primary");
        assert_eq!(published[0].1["error"]["code"], "upstream_unavailable");
        assert_eq!(published[1].1["fromModel"], "primary/big");
        assert_eq!(published[1].1["toModel"], "secondary/small");
    }
    // The primary answers again: recovered.
    let turn = router.stream(None, &ask("hi"), &ctl(), &mut |_| {}).expect("primary again");
    assert_eq!(turn.model.to_string(), "primary/big");
    assert_eq!(sink.0.lock().last().map(|(n, _)| *n), Some("provider:recovered"));
    let ids: Vec<String> = router.models().into_iter().map(|m| m.id).collect();
    assert_eq!(ids, ["primary/big", "builtin/echo", "secondary/small"]);
}

#[test]
fn fallback_chain_ends_at_builtin_echo() {
    let down = Reply::Status { status: 500, headers: vec![], body: "{}".into() };
    let primary = FakeUpstream::start(vec![down.clone()]);
    let secondary = FakeUpstream::start(vec![Reply::Status { status: 400, headers: vec![], body: "{}".into() }]);
    let sink = Arc::new(Recorder::default());
    let router = router_for(&primary.base, &secondary.base, Arc::clone(&sink));
    let turn = router.stream(None, &ask("echo me"), &ctl(), &mut |_| {}).expect("echo is the last fallback");
    assert_eq!((turn.model.to_string(), turn.summary.text.as_str()), ("builtin/echo".to_owned(), "echo me"));
    let names: Vec<&str> = sink.0.lock().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["provider:degraded", "model:fallback_attempt", "provider:degraded", "model:fallback_attempt"]);
}

#[test]
fn builtin_echo_through_the_default_config() {
    let config = talon::config::Config::default();
    let router = Router::from_config(&config, &|_| None, Arc::new(Recorder::default())).expect("router");
    let models = router.models();
    assert_eq!(models[0].id, "builtin/echo");
    assert_eq!(models[0].owned_by, "talon-builtin");
    let run_once = || {
        let mut deltas = Vec::new();
        let turn = router.stream(None, &ask("the quick  brown fox"), &ctl(), &mut |e| deltas.push(describe(e)));
        (deltas, turn.map(|t| t.summary))
    };
    let (first, summary) = run_once();
    assert_eq!(first, ["text:the", "text: quick", "text:  brown", "text: fox", "usage:4:4", "finish:stop"]);
    assert_eq!(run_once().0, first, "deterministic");
    assert_eq!(summary.map(|s| s.text), Ok("the quick  brown fox".to_owned()));
}
