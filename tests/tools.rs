//! Tools in agent turns, end to end: a real server on an ephemeral port, real `/ws` clients in
//! both dialects, the built-in `builtin/echo` model (which calls a tool for a `/tool <name>
//! <json>` line) and a fake OpenAI-compatible upstream (`support/fake_platform.rs`).
//!
//! Covered: `tools.catalog`; a tool call that runs, with the call and its result in
//! `chat.history`; unknown tools and broken arguments answered to the model; the approval
//! flow (requested event, allow, deny, timeout, abort while waiting, unknown id, a second
//! resolve); shutdown with an approval pending; the round limit; and against the fake upstream
//! the `tools` definitions, the result message with its `tool_call_id` in the second request,
//! and the pair replayed in the history of the next turn.

#[path = "support/fake_platform.rs"]
mod fake_platform;
mod support;
#[path = "support/ws.rs"]
mod ws;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fake_platform::FakePlatform;
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, TestServer};
use ws::{Ws, call, chat_events, frame, ok_payload, open, wait_for};

/// A server whose agent section is `agent` (everything else default).
fn server(agent: Value) -> TestServer {
    TestServer::from_doc(json!({ "agent": agent }))
}

/// Send `message` in `session` over the frames dialect; the run id.
fn send(ws: &mut Ws, seen: &mut Vec<Value>, session: &str, message: &str) -> String {
    let params =
        json!({ "sessionKey": session, "message": message, "idempotencyKey": format!("k-{message}-{session}") });
    let sent = ok_payload(&call(ws, &frame("send", "chat.send", params), seen));
    sent["runId"].as_str().expect("runId").to_owned()
}

/// The last `chat` event of the run (final, aborted or error).
fn end_of(ws: &mut Ws, seen: &mut Vec<Value>, run_id: &str) -> Value {
    let events = chat_events(ws, std::mem::take(seen), run_id);
    events.last().cloned().unwrap_or(Value::Null)
}

fn final_text(end: &Value) -> String {
    assert_eq!(end["state"], "final", "{end}");
    end["message"]["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The frames-dialect event `name` of `run_id`.
fn frame_event(ws: &mut Ws, seen: &mut Vec<Value>, name: &str, run_id: &str) -> Value {
    let hit = wait_for(ws, seen, name, |v| v["event"] == name && v["payload"]["runId"] == run_id);
    hit["payload"].clone()
}

#[test]
fn tools_catalog_lists_current_time_in_both_dialects() {
    let srv = server(json!({ "tools": { "require_approval": ["current_time"] } }));
    let mut ws = open(&srv, "/ws");
    let catalog = ok_payload(&call(&mut ws, &frame("1", "tools.catalog", json!({})), &mut Vec::new()));
    let tools = catalog["tools"].as_array().cloned().unwrap_or_default();
    let time = tools.iter().find(|t| t["name"] == "current_time").expect("current_time listed");
    assert_eq!((time["source"].as_str(), time["enabled"].as_bool()), (Some("builtin"), Some(true)));
    assert_eq!(time["requiresApproval"], true);
    assert_eq!(time["parameters"]["type"], "object");
    assert_eq!(catalog["count"], tools.len());
    let schema = ok_payload(&call(&mut ws, &frame("2", "config.schema", json!({})), &mut Vec::new()));
    let enabled = &schema["schema"]["properties"]["agent"]["properties"]["tools"]["properties"]["enabled"];
    assert_eq!(enabled["oneOf"][0]["const"], "all", "agent.tools.enabled is \"all\" or a list: {enabled}");
    let timeout = &schema["schema"]["properties"]["agent"]["properties"]["approval_timeout_ms"];
    assert_eq!(timeout["default"], 120_000);

    let off = server(json!({ "tools": { "enabled": [] } }));
    let mut rpc = open(&off, "/ws?protocol=jsonrpc");
    let req = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools.catalog" });
    let reply = call(&mut rpc, &req, &mut Vec::new());
    assert_eq!(reply["result"]["tools"][0]["name"], "current_time", "{reply}");
    assert_eq!(reply["result"]["tools"][0]["enabled"], false, "a disabled tool is listed as such");
}

#[test]
fn resolving_an_approval_needs_the_admin_scope_and_the_catalog_only_rpc() {
    const RPC_TOKEN: &str = "tln-rpc-only-7d1f3b5a9c2e4f6a8b0d2c4e6f8a0b2d";
    let srv = TestServer::from_doc(json!({ "gateway": { "tokens": [
        { "id": "admin", "secret": ADMIN_TOKEN, "scopes": ["admin"] },
        { "id": "rpc", "secret": RPC_TOKEN, "scopes": ["rpc"] },
    ] } }));
    let mut ws = open(&srv, "/ws");
    let mut seen = Vec::new();
    ok_payload(&call(&mut ws, &frame("c", "connect", json!({ "auth": { "token": RPC_TOKEN } })), &mut seen));
    ok_payload(&call(&mut ws, &frame("1", "tools.catalog", json!({})), &mut seen));
    let resolve = json!({ "id": "apr_x", "decision": "deny" });
    let refused = call(&mut ws, &frame("2", "exec.approval.resolve", resolve.clone()), &mut seen);
    assert_eq!(refused["error"]["code"], "FORBIDDEN", "{refused}");
    ok_payload(&call(&mut ws, &frame("a", "auth.token", json!({ "token": ADMIN_TOKEN })), &mut seen));
    let missing = call(&mut ws, &frame("3", "exec.approval.resolve", resolve), &mut seen);
    assert_eq!(missing["error"]["code"], "INVALID_REQUEST", "admin gets as far as not found: {missing}");
}

#[test]
fn the_echo_model_calls_current_time_and_the_transcript_keeps_call_and_result() {
    let srv = server(json!({}));
    let mut ws = open(&srv, "/ws");
    let mut seen = Vec::new();
    let run = send(&mut ws, &mut seen, "t1", "/tool current_time {\"format\":\"unix\"}");
    let text = final_text(&end_of(&mut ws, &mut seen, &run));
    let secs: i64 = text.strip_prefix("current_time returned: ").and_then(|s| s.parse().ok()).expect(&text);
    assert!((secs - now_secs()).abs() < 600, "{secs} is not about now");

    let history = ok_payload(&call(&mut ws, &frame("h", "chat.history", json!({ "sessionKey": "t1" })), &mut seen));
    let messages = history["messages"].as_array().cloned().unwrap_or_default();
    let roles: Vec<&str> = messages.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"], "{messages:?}");
    assert_eq!(messages[1]["toolCalls"][0]["name"], "current_time");
    assert_eq!(messages[1]["toolCalls"][0]["id"], "call_1");
    assert_eq!(messages[1]["toolCalls"][0]["arguments"], "{\"format\":\"unix\"}");
    assert_eq!(messages[2]["toolCallId"], "call_1");
    assert_eq!(messages[2]["content"], secs.to_string());
    assert_eq!(messages[3]["content"], text.as_str());

    // A later turn in the same session replays the pair and goes on normally.
    let again = send(&mut ws, &mut seen, "t1", "and now plain text");
    assert_eq!(final_text(&end_of(&mut ws, &mut seen, &again)), "and now plain text");
}

#[test]
fn unknown_tools_and_broken_arguments_are_told_to_the_model() {
    let srv = server(json!({}));
    let mut ws = open(&srv, "/ws");
    let mut seen = Vec::new();
    let run = send(
        &mut ws,
        &mut seen,
        "t2",
        "/tool shell {\"cmd\":\"ls\"}\n/tool current_time {broken\n/tool current_time {\"tz\":\"Europe/Paris\"}",
    );
    let text = final_text(&end_of(&mut ws, &mut seen, &run));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("shell returned: error: there is no tool named \"shell\""), "{text}");
    assert!(lines[1].starts_with("current_time returned: error: the arguments are not valid JSON"), "{text}");
    assert!(lines[2].starts_with("current_time returned: error: unknown argument \"tz\""), "{text}");
}

#[test]
fn approval_allow_and_deny_over_frames_with_openclaw_event_names() {
    let srv = server(json!({ "tools": { "require_approval": ["current_time"] } }));
    let mut ws = open(&srv, "/ws");
    let mut seen = Vec::new();
    let run = send(&mut ws, &mut seen, "a1", "/tool current_time {\"format\":\"unix\"}");
    let asked = frame_event(&mut ws, &mut seen, "exec.approval.requested", &run);
    assert_eq!((asked["tool"].as_str(), asked["sessionKey"].as_str()), (Some("current_time"), Some("a1")));
    assert_eq!(asked["args"], json!({ "format": "unix" }));
    let expires = asked["expiresAtMs"].as_u64().expect("expiresAtMs");
    assert!(expires > asked["createdAtMs"].as_u64().expect("createdAtMs"));
    let id = asked["id"].as_str().expect("id").to_owned();

    let params = json!({ "id": id, "decision": "allow-once" });
    let resolved = ok_payload(&call(&mut ws, &frame("r1", "exec.approval.resolve", params.clone()), &mut seen));
    assert_eq!(resolved["resolved"]["decision"], "allow-once");
    let text = final_text(&end_of(&mut ws, &mut seen, &run));
    assert!(text.strip_prefix("current_time returned: ").is_some_and(|s| s.parse::<i64>().is_ok()), "{text}");

    // The same id again, and an id that never existed: not found, through the one mapping.
    let twice = call(&mut ws, &frame("r2", "exec.approval.resolve", params), &mut seen);
    assert_eq!(twice["ok"], false, "{twice}");
    assert_eq!(twice["error"]["code"], "INVALID_REQUEST", "{twice}");
    assert!(twice["error"]["message"].as_str().unwrap_or_default().contains("no pending approval"), "{twice}");
    let unknown = call(
        &mut ws,
        &frame("r3", "exec.approval.resolve", json!({ "id": "apr_nope", "decision": "deny" })),
        &mut seen,
    );
    assert_eq!(unknown["ok"], false, "{unknown}");
    let bad =
        call(&mut ws, &frame("r4", "exec.approval.resolve", json!({ "id": "x", "decision": "maybe" })), &mut seen);
    assert!(bad["error"]["message"].as_str().unwrap_or_default().contains("allow-once, allow-always, deny"), "{bad}");

    let run = send(&mut ws, &mut seen, "a1", "/tool current_time {}");
    let asked = frame_event(&mut ws, &mut seen, "exec.approval.requested", &run);
    let params = json!({ "id": asked["id"], "decision": "deny" });
    ok_payload(&call(&mut ws, &frame("r5", "exec.approval.resolve", params), &mut seen));
    let done = frame_event(&mut ws, &mut seen, "exec.approval.resolved", &run);
    assert_eq!(done["decision"], "deny");
    assert_eq!(
        final_text(&end_of(&mut ws, &mut seen, &run)),
        "current_time returned: not run: an operator denied this call"
    );
}

#[test]
fn approval_over_json_rpc_with_comis_names_and_an_alias() {
    let srv = server(json!({ "tools": { "require_approval": ["current_time"] } }));
    let mut ws = open(&srv, "/ws?protocol=jsonrpc");
    let mut seen = Vec::new();
    let req = json!({ "jsonrpc": "2.0", "id": 1, "method": "chat.send", "params": { "sessionKey": "j1", "message": "/tool current_time {}" } });
    let reply = call(&mut ws, &req, &mut seen);
    let run = reply["result"]["runId"].as_str().expect("runId").to_owned();
    let asked = wait_for(&mut ws, &mut seen, "approval:requested", |v| {
        v["method"] == "approval:requested" && v["params"]["runId"] == run.as_str()
    });
    let resolve = json!({ "jsonrpc": "2.0", "id": 2, "method": "exec.approval.resolve", "params": { "id": asked["params"]["id"], "decision": "approve" } });
    let reply = call(&mut ws, &resolve, &mut seen);
    assert_eq!(reply["result"]["resolved"]["decision"], "allow-once", "{reply}");
    let end = chat_events(&mut ws, std::mem::take(&mut seen), &run);
    let last = end.last().cloned().unwrap_or(Value::Null);
    assert!(final_text(&last).starts_with("current_time returned: 20"), "{last}");
    let missing = json!({ "jsonrpc": "2.0", "id": 3, "method": "exec.approval.resolve", "params": { "id": "apr_gone", "decision": "deny" } });
    let reply = call(&mut ws, &missing, &mut seen);
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
}

#[test]
fn an_approval_nobody_answers_times_out_and_the_model_is_told() {
    let srv = server(json!({ "tools": { "require_approval": ["current_time"] }, "approval_timeout_ms": 200 }));
    let mut ws = open(&srv, "/ws");
    let mut seen = Vec::new();
    let run = send(&mut ws, &mut seen, "to", "/tool current_time {}");
    let resolved = frame_event(&mut ws, &mut seen, "exec.approval.resolved", &run);
    assert_eq!(resolved["decision"], "timeout");
    let text = final_text(&end_of(&mut ws, &mut seen, &run));
    assert_eq!(
        text,
        "current_time returned: not run: it was not approved in time (agent.approval_timeout_ms = 200 ms)"
    );
}

#[test]
fn chat_abort_ends_a_turn_waiting_for_approval() {
    let srv = server(json!({ "tools": { "require_approval": ["current_time"] } }));
    let mut ws = open(&srv, "/ws");
    let mut seen = Vec::new();
    let run = send(&mut ws, &mut seen, "ab", "/tool current_time {}");
    let asked = frame_event(&mut ws, &mut seen, "exec.approval.requested", &run);
    let started = Instant::now();
    let aborted = ok_payload(&call(&mut ws, &frame("x", "chat.abort", json!({ "sessionKey": "ab" })), &mut seen));
    assert_eq!(aborted["runIds"][0], run.as_str());
    // The wait publishes its own resolution before the turn records its end.
    let resolved = frame_event(&mut ws, &mut seen, "exec.approval.resolved", &run);
    assert_eq!(resolved["decision"], "aborted");
    let end = end_of(&mut ws, &mut seen, &run);
    assert_eq!(end["state"], "aborted", "{end}");
    assert!(started.elapsed() < Duration::from_secs(5), "the abort took {:?}", started.elapsed());
    let late = call(
        &mut ws,
        &frame("y", "exec.approval.resolve", json!({ "id": asked["id"], "decision": "allow-once" })),
        &mut seen,
    );
    assert_eq!(late["ok"], false, "an ended turn's approval is gone: {late}");
}

#[test]
fn shutdown_does_not_wait_for_a_pending_approval() {
    let srv = server(json!({ "tools": { "require_approval": ["current_time"] } }));
    let mut ws = open(&srv, "/ws");
    let mut seen = Vec::new();
    let run = send(&mut ws, &mut seen, "sd", "/tool current_time {}");
    frame_event(&mut ws, &mut seen, "exec.approval.requested", &run);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        srv.stop();
        let _ = tx.send(());
    });
    assert!(rx.recv_timeout(Duration::from_secs(30)).is_ok(), "shutdown hung on the approval");
}

/// An OpenAI-compatible SSE body: one tool call, or text.
fn sse_tool_call(id: &str, name: &str, arguments: &str) -> String {
    let call = json!({ "choices": [{ "index": 0, "delta": { "role": "assistant", "tool_calls": [
        { "index": 0, "id": id, "type": "function", "function": { "name": name, "arguments": arguments } }] } }] });
    let finish = json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": "tool_calls" }] });
    format!("data: {call}\n\ndata: {finish}\n\ndata: [DONE]\n\n")
}

fn sse_text(text: &str) -> String {
    let delta = json!({ "choices": [{ "index": 0, "delta": { "role": "assistant", "content": text } }] });
    let finish = json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] });
    format!("data: {delta}\n\ndata: {finish}\n\ndata: [DONE]\n\n")
}

fn sse(body: String) -> fake_platform::Reply {
    (200, Vec::new(), body)
}

fn upstream_server(fake: &FakePlatform, agent: Value) -> TestServer {
    let mut agent = agent;
    agent["default_model"] = json!("fake/m");
    TestServer::from_doc(json!({
        "agent": agent,
        "providers": { "fake": { "kind": "openai-compatible", "base_url": fake.base("/v1"), "models": ["m"], "max_retries": 0 } },
    }))
}

#[test]
fn an_upstream_tool_call_gets_its_result_in_the_next_request_and_in_later_history() {
    let fake = FakePlatform::start(|_, n| match n {
        0 => sse(sse_tool_call("call_abc", "current_time", "{\"format\":\"unix\"}")),
        _ => sse(sse_text("It is late.")),
    });
    let srv = upstream_server(&fake, json!({}));
    let mut ws = open(&srv, "/ws");
    let mut seen = Vec::new();
    let run = send(&mut ws, &mut seen, "u1", "what time is it?");
    assert_eq!(final_text(&end_of(&mut ws, &mut seen, &run)), "It is late.");

    let requests = fake.wait_for(2, Duration::from_secs(5));
    assert_eq!(requests.len(), 2);
    let first = requests[0].json();
    assert_eq!(first["tools"][0]["function"]["name"], "current_time", "{first}");
    let second = requests[1].json();
    let messages = second["messages"].as_array().cloned().unwrap_or_default();
    let n = messages.len();
    assert!(n >= 3, "{second}");
    assert_eq!(messages[n - 2]["role"], "assistant");
    assert_eq!(messages[n - 2]["tool_calls"][0]["id"], "call_abc");
    assert_eq!(messages[n - 1]["role"], "tool");
    assert_eq!(messages[n - 1]["tool_call_id"], "call_abc");
    let secs: i64 = messages[n - 1]["content"].as_str().and_then(|s| s.parse().ok()).expect("a unix time");
    assert!((secs - now_secs()).abs() < 600);

    let next = send(&mut ws, &mut seen, "u1", "thanks");
    assert_eq!(final_text(&end_of(&mut ws, &mut seen, &next)), "It is late.");
    let third = fake.wait_for(3, Duration::from_secs(5)).get(2).map(fake_platform::Seen::json).unwrap_or_default();
    let roles: Vec<&str> =
        third["messages"].as_array().map(|m| m.iter().filter_map(|x| x["role"].as_str()).collect()).unwrap_or_default();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant", "user"], "the pair is replayed: {third}");
    assert_eq!(third["messages"][2]["tool_call_id"], "call_abc");
}

#[test]
fn a_model_that_keeps_calling_tools_ends_the_turn_after_max_tool_rounds() {
    let fake = FakePlatform::start(|_, n| sse(sse_tool_call(&format!("call_{n}"), "current_time", "{}")));
    let srv = upstream_server(&fake, json!({ "max_tool_rounds": 2 }));
    let mut ws = open(&srv, "/ws");
    let mut seen = Vec::new();
    let run = send(&mut ws, &mut seen, "loop", "tick");
    let end = end_of(&mut ws, &mut seen, &run);
    assert_eq!((end["state"].as_str(), end["errorCode"].as_str()), (Some("error"), Some("tool_rounds")), "{end}");
    assert!(end["errorMessage"].as_str().unwrap_or_default().contains("agent.max_tool_rounds = 2"), "{end}");
    assert_eq!(fake.seen().len(), 3, "two rounds, then the third response ends the turn");
    let history = ok_payload(&call(&mut ws, &frame("h", "chat.history", json!({ "sessionKey": "loop" })), &mut seen));
    let roles: Vec<&str> = history["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["role"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant", "tool"], "{history}");
}
