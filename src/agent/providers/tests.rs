//! Table-driven tests of the provider layer: the stream vectors of `proto/providers/streams.json`
//! through both chunk decoders (whole, split at every byte, one byte at a time), the request
//! bodies, `builtin/echo`, routing with scripted providers, and key hygiene.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{Value, json};

use super::anthropic_stream::{AnthropicStream, decode_message};
use super::echo::{EchoProvider, tokens};
use super::http::ApiKey;
use super::openai_stream::{MAX_TOOL_CALLS, OpenAiStream, ToolCallAssembler, decode_completion};
use super::router::{EventSink, Router};
use super::stream::{ChunkDecoder, UpstreamStream};
use super::*;

/// One event as the vectors spell it.
fn event_json(e: StreamEvent<'_>) -> Value {
    match e {
        StreamEvent::TextDelta(t) => json!({ "text": t }),
        StreamEvent::ToolCall(c) => json!({ "tool_call": { "id": c.id, "name": c.name, "arguments": c.arguments } }),
        StreamEvent::Usage(u) => {
            json!({ "usage": { "input_tokens": u.input_tokens, "output_tokens": u.output_tokens } })
        }
        StreamEvent::Finish(f) => json!({ "finish": f.as_openai() }),
    }
}

fn run_stream<D: ChunkDecoder>(make: &dyn Fn() -> D, pieces: &[&[u8]]) -> (Vec<Value>, Option<&'static str>) {
    let mut stream = UpstreamStream::new(make());
    let mut events = Vec::new();
    for piece in pieces {
        if let Err(e) = stream.feed(piece, &mut |e| events.push(event_json(e))) {
            return (events, Some(e.code()));
        }
    }
    let end = stream.finish(&mut |e| events.push(event_json(e)));
    (events, end.err().map(|e| e.code()))
}

fn check_stream<D: ChunkDecoder>(name: &str, make: &dyn Fn() -> D, input: &[u8], want: &(Vec<Value>, Option<&str>)) {
    let whole = run_stream(make, &[input]);
    assert_eq!(whole.0, want.0, "{name}: events");
    assert_eq!(whole.1, want.1, "{name}: error");
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        assert_eq!(run_stream(make, &[a, b]), whole, "{name}: split at {cut}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run_stream(make, &bytes), whole, "{name}: one byte at a time");
}

#[test]
fn proto_stream_vectors() {
    let doc: Value = serde_json::from_str(include_str!("../../../proto/providers/streams.json")).unwrap_or_default();
    let cases = doc["cases"].as_array().cloned().unwrap_or_default();
    assert!(cases.len() >= 25, "proto/providers/streams.json has {} cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let want = (case["events"].as_array().cloned().unwrap_or_default(), case["error"].as_str());
        let format = case["format"].as_str().unwrap_or_default();
        if let Some(stream) = case["stream"].as_str() {
            match format {
                "openai" => check_stream(name, &OpenAiStream::new, stream.as_bytes(), &want),
                "anthropic" => check_stream(name, &AnthropicStream::new, stream.as_bytes(), &want),
                other => panic!("{name}: unknown format {other}"),
            }
        } else {
            let body = serde_json::to_vec(&case["body"]).unwrap_or_default();
            let mut events = Vec::new();
            let result = match format {
                "openai" => decode_completion(&body, &mut |e| events.push(event_json(e))),
                _ => decode_message(&body, &mut |e| events.push(event_json(e))),
            };
            assert_eq!((events, result.err().map(|e| e.code())), (want.0, want.1), "{name}");
        }
    }
}

#[test]
fn tool_call_bounds() {
    let mut tools = ToolCallAssembler::default();
    for i in 0..MAX_TOOL_CALLS {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        assert_eq!(tools.apply(Some(index), Some("id"), Some("f"), Some("{}")), Ok(()));
    }
    let over = tools.apply(Some(9999), Some("id"), Some("f"), None);
    assert_eq!(over, Err(StreamError::TooManyToolCalls { limit: MAX_TOOL_CALLS }));

    let mut tools = ToolCallAssembler::default();
    let big = "x".repeat(openai_stream::MAX_TOOL_ARGUMENT_BYTES);
    assert_eq!(tools.apply(Some(0), None, Some("f"), Some(&big)), Ok(()));
    let over = tools.apply(Some(0), None, None, Some("y"));
    assert_eq!(over, Err(StreamError::ToolArgumentsTooLarge { limit: openai_stream::MAX_TOOL_ARGUMENT_BYTES }));
}

#[test]
fn turn_text_is_bounded() {
    let delta = "x".repeat(60_000);
    let chunk = format!("data: {}\n\n", json!({ "choices": [{ "index": 0, "delta": { "content": delta } }] }));
    let mut stream = UpstreamStream::new(OpenAiStream::new());
    let mut total = 0usize;
    let mut result = Ok(());
    for _ in 0..100 {
        result = stream.feed(chunk.as_bytes(), &mut |e| {
            if let StreamEvent::TextDelta(t) = e {
                total += t.len();
            }
        });
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(StreamError::OutputTooLarge { limit: stream::MAX_TURN_TEXT_BYTES }));
    assert!(total <= stream::MAX_TURN_TEXT_BYTES);
}

fn conversation() -> TurnRequest {
    let call = ToolCall { id: "call_1".into(), name: "clock".into(), arguments: "{\"tz\":\"UTC\"}".into() };
    TurnRequest {
        messages: vec![
            Message::system("be brief"),
            Message::user("what time is it?"),
            Message { role: Role::Assistant, content: String::new(), tool_calls: vec![call], tool_call_id: None },
            Message::tool_result("call_1", "12:00"),
        ],
        tools: vec![ToolSpec {
            name: "clock".into(),
            description: "current time".into(),
            parameters: json!({ "type": "object", "properties": { "tz": { "type": "string" } } }),
        }],
        max_tokens: Some(64),
        temperature: Some(0.5),
    }
}

#[test]
fn openai_request_body() {
    let body = openai::request_body("gpt-4o-mini", &conversation(), true);
    let want = json!({
        "model": "gpt-4o-mini",
        "stream": true,
        "stream_options": { "include_usage": true },
        "max_tokens": 64,
        "temperature": 0.5,
        "messages": [
            { "role": "system", "content": "be brief" },
            { "role": "user", "content": "what time is it?" },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_1", "type": "function", "function": { "name": "clock", "arguments": "{\"tz\":\"UTC\"}" } }] },
            { "role": "tool", "content": "12:00", "tool_call_id": "call_1" },
        ],
        "tools": [{ "type": "function", "function": { "name": "clock", "description": "current time",
            "parameters": { "type": "object", "properties": { "tz": { "type": "string" } } } } }],
    });
    assert_eq!(body, want);
    let plain = openai::request_body(
        "m",
        &TurnRequest { messages: vec![Message::user("hi")], ..TurnRequest::default() },
        false,
    );
    assert_eq!(plain, json!({ "model": "m", "stream": false, "messages": [{ "role": "user", "content": "hi" }] }));
}

#[test]
fn anthropic_request_body() {
    let body = anthropic::request_body("claude-x", &conversation(), true);
    let want = json!({
        "model": "claude-x",
        "max_tokens": 64,
        "stream": true,
        "system": "be brief",
        "temperature": 0.5,
        "messages": [
            { "role": "user", "content": "what time is it?" },
            { "role": "assistant", "content": [{ "type": "tool_use", "id": "call_1", "name": "clock", "input": { "tz": "UTC" } }] },
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "call_1", "content": "12:00" }] },
        ],
        "tools": [{ "name": "clock", "description": "current time",
            "input_schema": { "type": "object", "properties": { "tz": { "type": "string" } } } }],
    });
    assert_eq!(body, want);
    let plain = anthropic::request_body(
        "m",
        &TurnRequest { messages: vec![Message::user("hi")], ..TurnRequest::default() },
        false,
    );
    assert_eq!(plain["max_tokens"], json!(anthropic::DEFAULT_MAX_TOKENS));
    assert!(plain.get("system").is_none());
}

#[test]
fn anthropic_puts_the_results_of_parallel_calls_in_one_user_message() {
    let mut request = conversation();
    let second = ToolCall { id: "call_2".into(), name: "clock".into(), arguments: "{}".into() };
    if let Some(m) = request.messages.get_mut(2) {
        m.tool_calls.push(second);
    }
    request.messages.push(Message::tool_result("call_2", "13:00"));
    request.messages.push(Message::assistant("noon and one"));
    request.messages.push(Message::tool_result("call_3", "orphan"));
    let body = anthropic::request_body("claude-x", &request, false);
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 5, "{messages:?}");
    assert_eq!(
        messages[2]["content"],
        json!([
            { "type": "tool_result", "tool_use_id": "call_1", "content": "12:00" },
            { "type": "tool_result", "tool_use_id": "call_2", "content": "13:00" },
        ])
    );
    assert_eq!(messages[4]["content"][0]["tool_use_id"], "call_3", "a result after text starts a new message");
}

#[test]
fn echo_tokens_keep_every_byte() {
    let cases: &[(&str, &[&str])] = &[
        ("hello world", &["hello", " world"]),
        ("  lead and  double ", &["  lead", " and", "  double", " "]),
        ("one", &["one"]),
        ("", &[]),
        ("tab\tand\nnewline", &["tab", "\tand", "\nnewline"]),
        ("héllo wörld ✓", &["héllo", " wörld", " ✓"]),
    ];
    for (text, want) in cases {
        let got: Vec<&str> = tokens(text).collect();
        assert_eq!(got, *want, "{text:?}");
        assert_eq!(got.concat(), *text);
    }
}

fn echo_events(provider: &EchoProvider, request: &TurnRequest) -> (Vec<Value>, Result<TurnSummary, ProviderError>) {
    let mut events = Vec::new();
    let ctl = TurnControl::new(Duration::from_secs(5));
    let result = provider.stream("echo", request, &ctl, &mut |e| events.push(event_json(e)));
    (events, result)
}

#[test]
fn echo_is_deterministic_and_counts_words() {
    let request = TurnRequest {
        messages: vec![Message::system("sys prompt"), Message::user("first"), Message::user("say  this back")],
        ..TurnRequest::default()
    };
    let (events, summary) = echo_events(&EchoProvider::new(), &request);
    let want = vec![
        json!({ "text": "say" }),
        json!({ "text": "  this" }),
        json!({ "text": " back" }),
        json!({ "usage": { "input_tokens": 6, "output_tokens": 3 } }),
        json!({ "finish": "stop" }),
    ];
    assert_eq!(events, want);
    let summary = summary.unwrap_or_default();
    assert_eq!(summary.text, "say  this back");
    assert_eq!(echo_events(&EchoProvider::new(), &request).0, want, "same request, same events");
    let complete = EchoProvider::new().complete("echo", &request, &TurnControl::new(Duration::from_secs(5)));
    assert_eq!(complete.ok(), Some(summary));

    let limited = TurnRequest { max_tokens: Some(2), ..request };
    let (events, _) = echo_events(&EchoProvider::new(), &limited);
    assert_eq!(events.last(), Some(&json!({ "finish": "length" })));
    assert_eq!(events.get(2), Some(&json!({ "usage": { "input_tokens": 6, "output_tokens": 2 } })));

    let (_, wrong) = {
        let ctl = TurnControl::new(Duration::from_secs(5));
        ((), EchoProvider::new().stream("nope", &limited, &ctl, &mut |_| {}))
    };
    assert_eq!(wrong.err().map(|e| e.code()), Some("unknown_model"));
    let info = EchoProvider::new().models();
    assert_eq!(
        (info[0].id.as_str(), info[0].owned_by.as_str(), info[0].builtin),
        ("builtin/echo", "talon-builtin", true)
    );
}

#[test]
fn echo_abort_stops_between_tokens() {
    let provider = EchoProvider::with_token_delay(Duration::from_millis(200));
    let request = TurnRequest { messages: vec![Message::user("a b c d e f g h")], ..TurnRequest::default() };
    let ctl = TurnControl::new(Duration::from_secs(30));
    let abort = ctl.abort.clone();
    let started = Instant::now();
    let aborter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        abort.abort();
        Instant::now()
    });
    let mut seen = 0;
    let result = provider.stream("echo", &request, &ctl, &mut |_| seen += 1);
    let stopped = Instant::now();
    let aborted_at = aborter.join().unwrap_or_else(|_| Instant::now());
    assert_eq!(result, Err(ProviderError::Aborted));
    assert!(stopped.saturating_duration_since(aborted_at) < Duration::from_millis(100), "stopped late");
    assert!((1..8).contains(&seen), "{seen} events before the abort");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn api_keys_never_show() {
    let key = ApiKey::new(" sk-secret-value-123\n");
    assert_eq!(format!("{key:?}"), "ApiKey(***)");
    assert_eq!(key.scrub("bad key sk-secret-value-123 here".into()), "bad key *** here");
    let provider = openai::OpenAiProvider::new(openai::OpenAiSettings {
        name: "openai".into(),
        base_url: "http://127.0.0.1:1/v1".into(),
        key: Some(key),
        models: vec![],
        retry: retry::RetryPolicy::default(),
        connect_timeout: Duration::from_secs(1),
        response_timeout: Duration::from_secs(1),
    });
    assert!(!format!("{provider:?}").contains("sk-secret"), "{provider:?}");
}

/// A provider that plays a script: for each call, stream some text, then fail or succeed.
#[derive(Debug)]
struct Scripted {
    name: String,
    /// Per call: (text to stream first, error to end with).
    script: Mutex<Vec<(&'static str, Option<ProviderError>)>>,
}

impl Scripted {
    fn new(name: &str, script: Vec<(&'static str, Option<ProviderError>)>) -> Arc<Self> {
        Arc::new(Self { name: name.into(), script: Mutex::new(script) })
    }
}

impl Provider for Scripted {
    fn name(&self) -> &str {
        &self.name
    }
    fn models(&self) -> Vec<ModelInfo> {
        Vec::new()
    }
    fn stream(
        &self,
        _: &str,
        _: &TurnRequest,
        _: &TurnControl,
        emit: &mut dyn FnMut(StreamEvent<'_>),
    ) -> Result<TurnSummary, ProviderError> {
        let (text, error) = {
            let mut script = self.script.lock();
            if script.is_empty() { ("ok", None) } else { script.remove(0) }
        };
        if !text.is_empty() {
            emit(StreamEvent::TextDelta(text));
        }
        if let Some(e) = error {
            return Err(e);
        }
        emit(StreamEvent::Finish(&FinishReason::Stop));
        Ok(TurnSummary { text: text.into(), finish: Some(FinishReason::Stop), ..TurnSummary::default() })
    }
    fn complete(&self, model: &str, request: &TurnRequest, ctl: &TurnControl) -> Result<TurnSummary, ProviderError> {
        self.stream(model, request, ctl, &mut |_| {})
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(&'static str, Value)>>);

impl EventSink for Recorder {
    fn publish(&self, name: &'static str, payload: Value) {
        self.0.lock().push((name, payload));
    }
}

fn router(providers: Vec<Arc<dyn Provider>>, fallbacks: &[&str], sink: Arc<Recorder>) -> Router {
    let parse = |s: &str| ModelRef::parse(s).unwrap_or_else(|e| panic!("{e}"));
    Router::new(providers, parse("a/m1"), fallbacks.iter().map(|s| parse(s)).collect(), Duration::from_secs(5), sink)
}

#[test]
fn router_falls_back_only_before_content() {
    let unavailable = || ProviderError::Http {
        status: 503,
        kind: HttpErrorKind::Unavailable,
        message: "down".into(),
        retry_after: None,
    };
    let sink = Arc::new(Recorder::default());
    let a = Scripted::new("a", vec![("", Some(unavailable())), ("partial", Some(unavailable())), ("", None)]);
    let b = Scripted::new("b", vec![]);
    let r = router(vec![a, b], &["b/m2", "a/m1"], Arc::clone(&sink));
    let ctl = TurnControl::new(Duration::from_secs(5));
    let request = TurnRequest::default();

    // 1: a fails before content, b answers.
    let ok = r.stream(None, &request, &ctl, &mut |_| {});
    assert_eq!(ok.as_ref().map(|t| (t.model.to_string(), t.attempts)), Ok(("b/m2".to_owned(), 2)));
    let names: Vec<&str> = sink.0.lock().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["provider:degraded", "model:fallback_attempt"]);
    assert!(r.is_degraded("a"));

    // 2: a fails after streaming text: no fallback, the failure says so.
    let failed = r.stream(None, &request, &ctl, &mut |_| {});
    let failed = failed.err().map(|f| (f.streamed, f.attempts, f.error.code()));
    assert_eq!(failed, Some((true, 1, "upstream_unavailable")));

    // 3: a recovers.
    assert!(r.stream(None, &request, &ctl, &mut |_| {}).is_ok());
    assert!(!r.is_degraded("a"));
    let names: Vec<&str> = sink.0.lock().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["provider:degraded", "model:fallback_attempt", "provider:recovered"]);
    for (name, _) in sink.0.lock().iter() {
        assert!(crate::events::EventBus::kind(name).is_some(), "{name} is not in the event catalogue");
    }
}

#[test]
fn router_stops_on_abort_and_exhausts_in_order() {
    let sink = Arc::new(Recorder::default());
    let a = Scripted::new("a", vec![("", Some(ProviderError::Aborted))]);
    let b = Scripted::new("b", vec![("", Some(ProviderError::Connect { detail: "refused".into() }))]);
    let c = Scripted::new("c", vec![("", Some(ProviderError::Timeout(TimeoutKind::Response)))]);
    let r = router(vec![a, b, c], &["b/x", "c/y"], Arc::clone(&sink));
    let ctl = TurnControl::new(Duration::from_secs(5));
    let aborted = r.stream(None, &TurnRequest::default(), &ctl, &mut |_| {});
    assert_eq!(aborted.err().map(|f| (f.error, f.attempts)), Some((ProviderError::Aborted, 1)));
    assert!(sink.0.lock().is_empty(), "an abort is nobody's failure");

    let exhausted = r.stream(Some("b/x"), &TurnRequest::default(), &ctl, &mut |_| {});
    let exhausted = exhausted.err().map(|f| (f.error.code(), f.attempts, f.model.map(|m| m.to_string())));
    assert_eq!(exhausted, Some(("response_timeout", 2, Some("c/y".to_owned()))));
    let names: Vec<&str> = sink.0.lock().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["provider:degraded", "model:fallback_attempt", "provider:degraded", "model:fallback_exhausted"]);

    assert_eq!(r.resolve(Some("nope/x")).err().map(|e| e.code()), Some("unknown_model"));
    assert_eq!(r.resolve(Some("echo")).map(|m| m.to_string()), Ok("builtin/echo".to_owned()));
    assert_eq!(r.resolve(None).map(|m| m.to_string()), Ok("a/m1".to_owned()));
}
