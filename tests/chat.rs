//! Chat end to end against a real server on an ephemeral port with real clients: `chat.send`
//! over `/ws` in both dialects with the `chat` events in order, `chat.history`, `chat.abort`
//! mid-turn against a slow fake OpenAI-compatible upstream, `sessions.*`, `usage.summary`,
//! `agent.execute`, `models.list`, `POST /api/chat` in both seed shapes, the chat REST reads,
//! and the refusals (missing message, unknown session, full queues).

#[path = "support/fake_upstream.rs"]
mod fake_upstream;
mod support;
#[path = "support/ws.rs"]
mod ws;

use std::time::{Duration, Instant};

use fake_upstream::FakeUpstream;
use serde_json::{Value, json};
use support::{TestServer, expect_response, post_with};
use ws::{Ws, call, chat_events, frame, next_json, ok_payload, open};

#[test]
fn chat_send_in_the_frames_dialect_streams_ordered_events_then_history_has_the_turn() {
    let server = TestServer::gateway(json!({}));
    let mut ws = open(&server, "/ws");
    let mut pushes = Vec::new();
    let params = json!({ "sessionKey": "s1", "message": "hello brave new world", "idempotencyKey": "k-1" });
    let sent = ok_payload(&call(&mut ws, &frame("1", "chat.send", params.clone()), &mut pushes));
    assert_eq!((sent["status"].as_str(), sent["sessionKey"].as_str()), (Some("started"), Some("s1")));
    let run_id = sent["runId"].as_str().expect("runId").to_owned();
    let events = chat_events(&mut ws, pushes, &run_id);
    let openclaw: Vec<&Value> = events.iter().filter(|e| e["state"] != "chunk").collect();
    let seqs: Vec<u64> = openclaw.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "seq counts 1, 2, 3...");
    let text: String =
        openclaw.iter().filter(|e| e["state"] == "delta").filter_map(|e| e["deltaText"].as_str()).collect();
    assert_eq!(text, "hello brave new world");
    let chunks: String =
        events.iter().filter(|e| e["state"] == "chunk").filter_map(|e| e["message"].as_str()).collect();
    assert_eq!(chunks, "hello brave new world", "Human's chunk events carry the same text");
    assert!(events.iter().filter(|e| e["state"] == "chunk").all(|e| e["channel"] == "control-ui" && e["id"] == "s1"));
    let last = openclaw.last().expect("final");
    assert_eq!((last["state"].as_str(), last["stopReason"].as_str()), (Some("final"), Some("stop")));
    assert_eq!(last["message"]["content"][0]["text"], "hello brave new world");
    assert_eq!(last["usage"]["output"], 4);

    // The same idempotency key again: the same run, nothing new.
    let again = ok_payload(&call(&mut ws, &frame("2", "chat.send", params), &mut Vec::new()));
    assert_eq!((again["runId"].as_str(), again["duplicate"].as_bool()), (Some(run_id.as_str()), Some(true)));

    let history =
        ok_payload(&call(&mut ws, &frame("3", "chat.history", json!({ "sessionKey": "s1" })), &mut Vec::new()));
    let roles: Vec<(&str, &str)> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| Some((m["role"].as_str()?, m["content"].as_str()?)))
        .collect();
    assert_eq!(roles, [("user", "hello brave new world"), ("assistant", "hello brave new world")]);
    let trimmed =
        call(&mut ws, &frame("4", "chat.history", json!({ "sessionKey": "s1", "maxChars": 25 })), &mut Vec::new());
    assert_eq!(ok_payload(&trimmed)["messages"].as_array().map(Vec::len), Some(1), "maxChars keeps the newest");
    let too_many =
        call(&mut ws, &frame("5", "chat.history", json!({ "sessionKey": "s1", "limit": 1001 })), &mut Vec::new());
    assert_eq!(too_many["ok"], false);
}

#[test]
fn chat_send_in_json_rpc_queues_like_human_and_notifies() {
    let server = TestServer::gateway(json!({}));
    let mut ws = open(&server, "/ws?protocol=jsonrpc");
    let mut pushes = Vec::new();
    let req = json!({ "jsonrpc": "2.0", "id": 1, "method": "chat.send", "params": { "message": "one two", "sessionKey": "h1" } });
    let reply = call(&mut ws, &req, &mut pushes);
    assert_eq!(reply["result"]["status"], "queued", "{reply}");
    let run_id = reply["result"]["runId"].as_str().expect("runId").to_owned();
    let mut methods = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut pending = pushes.into_iter();
    loop {
        assert!(Instant::now() < deadline);
        let v = pending.next().unwrap_or_else(|| next_json(&mut ws));
        if v["params"]["runId"] != run_id.as_str() {
            continue;
        }
        methods.push((v["method"].as_str().unwrap_or_default().to_owned(), v["params"]["state"].clone()));
        if v["params"]["state"] == "final" {
            break;
        }
    }
    assert!(methods.contains(&("chat.chunk".to_owned(), json!("chunk"))), "{methods:?}");
    assert!(methods.contains(&("chat".to_owned(), json!("delta"))), "{methods:?}");
    assert_eq!(methods.last().map(|m| m.0.as_str()), Some("chat"));

    let exec = json!({ "jsonrpc": "2.0", "id": 2, "method": "agent.execute", "params": { "message": "run this now" } });
    let reply = call(&mut ws, &exec, &mut Vec::new());
    let result = &reply["result"];
    assert_eq!((result["response"].as_str(), result["finishReason"].as_str()), (Some("run this now"), Some("stop")));
    assert_eq!(result["tokensUsed"]["output"], 3);
    assert_eq!(result["tokensUsed"]["total"], result["tokensUsed"]["input"].as_u64().expect("input") + 3);

    // Inside a batch agent.execute takes the worker path; the answer is the same.
    let batch = json!([
        { "jsonrpc": "2.0", "id": 7, "method": "agent.execute", "params": { "message": "in a batch" } },
        { "jsonrpc": "2.0", "id": 8, "method": "system.ping" },
    ]);
    let replies = call(&mut ws, &batch, &mut Vec::new());
    assert_eq!(replies[0]["result"]["response"], "in a batch", "{replies}");
    assert_eq!(replies[1]["result"]["pong"], true);
    let no_message = json!({ "jsonrpc": "2.0", "id": 9, "method": "agent.execute", "params": {} });
    assert_eq!(call(&mut ws, &no_message, &mut Vec::new())["error"]["code"], -32602);

    let missing =
        call(&mut ws, &json!({ "jsonrpc": "2.0", "id": 3, "method": "chat.send", "params": {} }), &mut Vec::new());
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    let models = call(&mut ws, &json!({ "jsonrpc": "2.0", "id": 4, "method": "models.list" }), &mut Vec::new());
    assert_eq!(models["result"]["defaultModel"], "builtin/echo");
    assert_eq!(models["result"]["models"][0]["builtin"], true);
}

#[test]
fn chat_abort_stops_a_slow_upstream_mid_turn_and_keeps_the_partial_reply() {
    let upstream = FakeUpstream::endless(Duration::from_millis(100));
    let server = upstream.server(json!({}));
    let mut ws = open(&server, "/ws");
    let mut pushes = Vec::new();
    let sent = ok_payload(&call(
        &mut ws,
        &frame("1", "chat.send", json!({ "sessionKey": "slow", "message": "go" })),
        &mut pushes,
    ));
    let run_id = sent["runId"].as_str().expect("runId").to_owned();
    // Wait for two deltas, so the turn is mid-stream.
    let mut deltas = 0;
    while deltas < 2 {
        let v = pushes.pop().unwrap_or_else(|| next_json(&mut ws));
        if v["event"] == "chat" && v["payload"]["state"] == "delta" && v["payload"]["runId"] == run_id.as_str() {
            deltas += 1;
        }
    }
    let asked = Instant::now();
    let mut after = Vec::new();
    let reply = call(&mut ws, &frame("2", "chat.abort", json!({ "sessionKey": "slow" })), &mut after);
    let payload = ok_payload(&reply);
    assert_eq!((payload["aborted"].as_bool(), payload["runIds"][0].as_str()), (Some(true), Some(run_id.as_str())));
    let events = chat_events(&mut ws, after, &run_id);
    let took = asked.elapsed();
    let end = events.last().expect("end");
    assert_eq!(end["state"], "aborted");
    assert!(took < Duration::from_secs(1), "aborted after {took:?}");
    let partial = end["message"]["content"][0]["text"].as_str().expect("partial text").to_owned();
    assert!(partial.starts_with("word word "), "{partial:?}");

    let history =
        ok_payload(&call(&mut ws, &frame("3", "chat.history", json!({ "sessionKey": "slow" })), &mut Vec::new()));
    assert_eq!(history["messages"][1]["content"].as_str(), Some(partial.as_str()), "the partial reply is stored");
    let unknown = call(&mut ws, &frame("4", "chat.abort", json!({ "sessionKey": "nobody" })), &mut Vec::new());
    assert_eq!(unknown["ok"], false);
    assert!(unknown["error"]["message"].as_str().is_some_and(|m| m.contains("no session")), "{unknown}");
    let no_run =
        call(&mut ws, &frame("5", "chat.abort", json!({ "sessionKey": "slow", "runId": "run_x" })), &mut Vec::new());
    assert!(no_run["error"]["message"].as_str().is_some_and(|m| m.contains("run_x")), "{no_run}");
}

#[test]
fn sessions_and_usage_follow_the_turns() {
    let server = TestServer::gateway(json!({}));
    let mut ws = open(&server, "/ws");
    for (i, key) in ["a", "b"].iter().enumerate() {
        let mut pushes = Vec::new();
        let id = format!("s{i}");
        let sent = ok_payload(&call(
            &mut ws,
            &frame(&id, "chat.send", json!({ "sessionKey": key, "message": "x y z" })),
            &mut pushes,
        ));
        chat_events(&mut ws, pushes, sent["runId"].as_str().expect("run"));
    }
    let list = ok_payload(&call(&mut ws, &frame("l", "sessions.list", json!({})), &mut Vec::new()));
    assert_eq!(list["count"], 2);
    assert!(list["sessions"].as_array().expect("sessions").iter().all(|s| s["turns"] == 1 && s["outputTokens"] == 3));
    let patched = call(
        &mut ws,
        &frame("p", "sessions.patch", json!({ "sessionKey": "a", "label": "Work", "model": "builtin/echo" })),
        &mut Vec::new(),
    );
    let session = &ok_payload(&patched)["session"];
    assert_eq!((session["label"].as_str(), session["model"].as_str()), (Some("Work"), Some("builtin/echo")));
    let bad_model =
        call(&mut ws, &frame("p2", "sessions.patch", json!({ "sessionKey": "a", "model": "nope/x" })), &mut Vec::new());
    assert_eq!(bad_model["ok"], false);
    let ghost =
        call(&mut ws, &frame("p3", "sessions.patch", json!({ "sessionKey": "ghost", "label": "x" })), &mut Vec::new());
    assert!(ghost["error"]["message"].as_str().is_some_and(|m| m.contains("no session")), "{ghost}");

    let usage = ok_payload(&call(&mut ws, &frame("u", "usage.summary", json!({})), &mut Vec::new()));
    assert_eq!((usage["turns"].as_u64(), usage["outputTokens"].as_u64()), (Some(2), Some(6)));
    assert_eq!(usage["byModel"][0]["model"], "builtin/echo");

    let deleted =
        ok_payload(&call(&mut ws, &frame("d", "sessions.delete", json!({ "sessionKey": "a" })), &mut Vec::new()));
    assert_eq!(deleted["deleted"], true);
    let list = ok_payload(&call(&mut ws, &frame("l2", "sessions.list", json!({})), &mut Vec::new()));
    assert_eq!(list["count"], 1);
    let again = call(&mut ws, &frame("d2", "sessions.delete", json!({ "sessionKey": "a" })), &mut Vec::new());
    assert_eq!(again["ok"], false);
}

#[test]
fn post_api_chat_answers_both_seed_shapes_when_the_turn_ends() {
    let server = TestServer::gateway(json!({}));
    let headers: [String; 0] = [];
    let mut conn = server.connect();
    conn.send(&post_with(
        "/api/chat",
        &headers,
        br#"{"message":"what is up","agentId":"default","sessionKey":"web-1"}"#,
    ));
    let r = expect_response(&mut conn, "comis shape");
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!((body["response"].as_str(), body["reply"].as_str()), (Some("what is up"), Some("what is up")));
    assert_eq!((body["ok"].as_bool(), body["finishReason"].as_str()), (Some(true), Some("stop")));
    assert_eq!((body["session"].as_str(), body["sessionKey"].as_str()), (Some("web-1"), Some("web-1")));
    assert_eq!(body["tokensUsed"]["output"], 3);

    // Keep-alive: the same connection serves the clawgo shape next.
    conn.send(&post_with("/api/chat", &headers, br#"{"session":"main","message":"Hello"}"#));
    let r = expect_response(&mut conn, "clawgo shape");
    assert_eq!(
        (r.status, r.json()["reply"].as_str(), r.json()["session"].as_str()),
        (200, Some("Hello"), Some("main"))
    );

    conn.send(&post_with("/api/chat", &headers, br#"{"session":"main"}"#));
    let r = expect_response(&mut conn, "missing message");
    assert_eq!(r.status, 400);
    r.assert_error_body();
    assert!(r.json()["message"].as_str().is_some_and(|m| m.contains("message")));
    conn.send(&post_with("/api/chat", &headers, br#"{"message":"x","agentId":"other"}"#));
    assert_eq!(expect_response(&mut conn, "unknown agent").status, 404);

    let r = server.get("/api/chat/history?session=main");
    let texts: Vec<String> = r.json()["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(texts, ["Hello", "Hello"]);
    assert_eq!(server.get("/api/chat/history?sessionKey=web-1").json()["messages"].as_array().map(Vec::len), Some(2));
    assert_eq!(server.get("/api/chat/history?channelId=api").json()["messages"].as_array().map(Vec::len), Some(4));
    assert_eq!(server.get("/api/chat/history?limit=0").status, 400);
    let sessions = server.get("/api/sessions").json();
    assert_eq!((sessions["ok"].as_bool(), sessions["count"].as_u64()), (Some(true), Some(2)));
    let agents = server.get("/api/agents").json();
    assert_eq!(
        (agents["agents"][0]["id"].as_str(), agents["agents"][0]["model"].as_str()),
        (Some("main"), Some("builtin/echo"))
    );
    assert_eq!(server.get("/api/chat").status, 405);
}

#[test]
fn full_queues_are_refused_with_503_and_retry_after() {
    let upstream = FakeUpstream::endless(Duration::from_millis(200));
    let agent = json!({ "max_concurrent_turns": 1, "max_queued_turns": 1, "max_queued_per_session": 1 });
    let server = upstream.server(json!({ "agent": agent }));
    let mut ws = open(&server, "/ws");
    let send = |ws: &mut Ws, id: &str, key: &str| {
        call(ws, &frame(id, "chat.send", json!({ "sessionKey": key, "message": "m" })), &mut Vec::new())
    };
    assert_eq!(send(&mut ws, "1", "a")["ok"], true);
    // Wait until the first turn holds the one agent thread (it has streamed).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "the first turn never streamed");
        let v = next_json(&mut ws);
        if v["event"] == "chat" && v["payload"]["state"] == "delta" {
            break;
        }
    }
    assert_eq!(send(&mut ws, "2", "a")["ok"], true, "waits in session a's FIFO");
    let busy = send(&mut ws, "3", "a");
    assert_eq!((busy["ok"].as_bool(), busy["error"]["code"].as_str()), (Some(false), Some("UNAVAILABLE")), "{busy}");
    assert!(busy["error"]["message"].as_str().is_some_and(|m| m.contains("waiting")));
    assert_eq!(send(&mut ws, "4", "b")["ok"], true, "waits in the agent queue");
    let full = send(&mut ws, "5", "c");
    assert_eq!(full["error"]["code"], "UNAVAILABLE", "{full}");
    assert!(full["error"]["retryAfterMs"].as_u64().is_some() || full["error"]["retryable"] == true, "{full}");
    let headers: [String; 0] = [];
    let mut conn = server.connect();
    conn.send(&post_with("/api/chat", &headers, br#"{"message":"x","sessionKey":"d"}"#));
    let r = expect_response(&mut conn, "agent queue full");
    assert_eq!((r.status, r.header("Retry-After")), (503, Some("1")));
    for key in ["a", "b"] {
        let _ = call(&mut ws, &frame("x", "chat.abort", json!({ "sessionKey": key })), &mut Vec::new());
    }
}
