//! `POST /v1/embeddings` over real HTTP against a real gateway: the built-in offline model
//! (`builtin/embed`) in float and base64 (bit-identical), arrays, `dimensions`, the input
//! limits and OpenAI's error shape; and forwarding to a fake OpenAI-compatible upstream
//! (`support/fake_platform.rs`): what is sent, base64 re-encoding of the upstream's floats,
//! upstream errors (502), timeouts (504), per-token vectors (502), and the dedicated pool
//! that keeps slow upstream calls off the worker pool (503 + Retry-After when its queue is full).

#[path = "support/fake_platform.rs"]
mod fake_platform;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use fake_platform::{FakePlatform, Seen};
use serde_json::{Value, json};
use support::{Conn, TestServer};

const KEY: &str = "sk-test-embeddings-key-0123456789abcdef";

fn request(body: &Value) -> Vec<u8> {
    support::post_with("/v1/embeddings", &[], body.to_string().as_bytes())
}

fn embed(srv: &TestServer, body: &Value) -> support::Response {
    srv.request(&request(body))
}

/// The vectors of a 200 answer as `f32` bits, decoding base64 when the items are strings.
fn vectors(answer: &Value) -> Vec<Vec<u32>> {
    let data = answer["data"].as_array().unwrap_or_else(|| panic!("no data: {answer}"));
    data.iter()
        .enumerate()
        .map(|(i, item)| {
            assert_eq!((item["object"].as_str(), item["index"].as_u64()), (Some("embedding"), Some(i as u64)));
            match &item["embedding"] {
                Value::String(b64) => {
                    let raw = base64::engine::general_purpose::STANDARD.decode(b64).expect("standard base64");
                    assert_eq!(raw.len() % 4, 0);
                    raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
                }
                Value::Array(xs) => xs.iter().map(|x| (x.as_f64().expect("number") as f32).to_bits()).collect(),
                other => panic!("embedding is {other}"),
            }
        })
        .collect()
}

fn norm(bits: &[u32]) -> f32 {
    bits.iter().map(|b| f32::from_bits(*b).powi(2)).sum::<f32>().sqrt()
}

/// An OpenAI-shaped error with this status, type and message fragment.
fn assert_openai_error(r: &support::Response, status: u16, kind: &str, fragment: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    let e = r.json();
    assert_eq!(e["error"]["type"], kind, "{e}");
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(fragment), "{fragment:?} not in {message:?}");
    e
}

#[test]
fn builtin_float_and_base64_carry_the_same_bits() {
    let srv = TestServer::gateway(json!({}));
    let inputs = json!(["The cat sat on the mat", "the cat sat on a mat", "Quarterly revenue grew"]);
    let float = embed(&srv, &json!({ "model": "builtin/embed", "input": inputs }));
    assert_eq!(float.status, 200, "{}", float.text());
    let float = float.json();
    assert_eq!((float["object"].as_str(), float["model"].as_str()), (Some("list"), Some("builtin/embed")));
    let tokens = float["usage"]["prompt_tokens"].as_u64().expect("usage");
    assert_eq!(tokens, 6 + 6 + 3);
    assert_eq!(float["usage"]["total_tokens"].as_u64(), Some(tokens));
    let b64 = embed(&srv, &json!({ "model": "builtin/embed", "input": inputs, "encoding_format": "base64" }));
    assert_eq!(b64.status, 200, "{}", b64.text());
    assert!(b64.json()["data"][0]["embedding"].is_string());
    let (from_float, from_b64) = (vectors(&float), vectors(&b64.json()));
    assert_eq!(from_float, from_b64, "float and base64 must be the same f32 bits");
    assert_eq!(from_float.len(), 3);
    for v in &from_float {
        assert_eq!(v.len(), 256);
        assert!((norm(v) - 1.0).abs() < 1e-4, "unit length");
    }
    let dot = |a: &[u32], b: &[u32]| a.iter().zip(b).map(|(x, y)| f32::from_bits(*x) * f32::from_bits(*y)).sum::<f32>();
    assert!(dot(&from_float[0], &from_float[1]) > dot(&from_float[0], &from_float[2]));
    // One string is one input; without a model the built-in one is used; the same text gives
    // the same vector in any batch.
    let single = embed(&srv, &json!({ "input": "the cat sat on a mat", "user": "someone" }));
    assert_eq!(single.status, 200, "{}", single.text());
    assert_eq!(single.json()["model"], "builtin/embed");
    assert_eq!(vectors(&single.json()), vec![from_float[1].clone()]);
}

#[test]
fn dimensions_are_honoured_up_to_the_named_maximum() {
    let srv = TestServer::gateway(json!({}));
    let r = embed(&srv, &json!({ "model": "embed", "input": ["a", "b"], "dimensions": 64 }));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = vectors(&r.json());
    assert!(v.iter().all(|x| x.len() == 64 && (norm(x) - 1.0).abs() < 1e-4));
    let big = embed(&srv, &json!({ "model": "builtin/embed", "input": "a", "dimensions": 4097 }));
    assert_openai_error(&big, 400, "invalid_request_error", "4096");
    let zero = embed(&srv, &json!({ "model": "builtin/embed", "input": "a", "dimensions": 0 }));
    assert_openai_error(&zero, 400, "invalid_request_error", "positive integer");
}

#[test]
fn bad_requests_are_openai_400s_naming_the_problem() {
    let srv = TestServer::gateway(json!({}));
    for (body, fragment) in [
        (json!({ "model": "builtin/embed", "input": "" }), "input[0] is an empty string"),
        (json!({ "model": "builtin/embed", "input": ["ok", ""] }), "input[1] is an empty string"),
        (json!({ "model": "builtin/embed", "input": [] }), "empty array"),
        (json!({ "model": "builtin/embed" }), "input is required"),
        (json!({ "model": "builtin/embed", "input": [1, 2, 3] }), "token-id input"),
        (json!({ "model": "builtin/embed", "input": [[1, 2]] }), "token-id input"),
        (json!({ "model": "builtin/embed", "input": "a", "encoding_format": "int8" }), "encoding_format"),
        (json!({ "model": "builtin/embed", "input": vec!["x"; 2049] }), "at most 2048"),
        (json!({ "model": "builtin/embed", "input": "y".repeat(64 * 1024 + 1) }), "per input"),
        (json!(["not", "an", "object"]), "invalid request body"),
    ] {
        let r = embed(&srv, &body);
        assert_openai_error(&r, 400, "invalid_request_error", fragment);
    }
    let not_json = srv.request(&support::post_with("/v1/embeddings", &[], b"{nope"));
    assert_openai_error(&not_json, 400, "invalid_request_error", "invalid request body");
    let get = srv.get("/v1/embeddings");
    assert_eq!(get.status, 405, "{}", get.text());
}

#[test]
fn an_unknown_model_is_openais_404_and_builtin_embed_is_listed() {
    let srv = TestServer::gateway(json!({}));
    for model in ["text-embedding-3-small", "builtin/echo", "local/minilm"] {
        let r = embed(&srv, &json!({ "model": model, "input": "hi" }));
        let e = assert_openai_error(&r, 404, "invalid_request_error", model);
        assert_eq!(e["error"]["code"], "model_not_found", "{e}");
    }
    let list = srv.get("/v1/models").json();
    let m = list["data"].as_array().and_then(|d| d.iter().find(|m| m["id"] == "builtin/embed")).cloned();
    assert_eq!(m.map(|m| m["owned_by"].clone()), Some(json!("talon-builtin")), "{list}");
    let one = srv.get("/v1/models/builtin%2Fembed");
    assert_eq!((one.status, one.json()["owned_by"].clone()), (200, json!("talon-builtin")));
}

/// A gateway whose `models.embeddings` is `local/minilm` on `fake`, with `extra` merged into
/// the provider (timeouts, retries).
fn forwarding(fake: &FakePlatform, extra: &Value, gateway: &Value) -> TestServer {
    let mut provider = json!({ "base_url": fake.base("/v1"), "api_key": KEY, "max_retries": 0 });
    if let (Some(p), Some(e)) = (provider.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    TestServer::from_doc(json!({
        "gateway": gateway,
        "providers": { "local": provider },
        "models": { "embeddings": "local/minilm" },
    }))
}

fn upstream_answer(seen: &Seen) -> fake_platform::Reply {
    let body = seen.json();
    let n = body["input"].as_array().map_or(0, Vec::len);
    let data: Vec<Value> = (0..n)
        .map(|i| json!({ "object": "embedding", "index": i, "embedding": [0.1 * (i as f64 + 1.0), -0.5, 0.25] }))
        .collect();
    let answer = json!({ "object": "list", "data": data, "model": "minilm",
                         "usage": { "prompt_tokens": 11, "total_tokens": 11 } });
    fake_platform::json(200, &answer.to_string())
}

#[test]
fn forwarded_calls_ask_for_floats_and_are_reencoded_for_the_client() {
    let fake = FakePlatform::start(|seen, _| upstream_answer(seen));
    let srv = forwarding(&fake, &json!({}), &json!({}));
    let r = embed(
        &srv,
        &json!({ "model": "local/minilm", "input": ["one", "two"], "dimensions": 3,
                                 "encoding_format": "base64", "user": "not-forwarded" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!((answer["model"].as_str(), answer["usage"]["prompt_tokens"].as_u64()), (Some("local/minilm"), Some(11)));
    let want: Vec<Vec<u32>> =
        [[0.1f32, -0.5, 0.25], [0.2, -0.5, 0.25]].iter().map(|v| v.iter().map(|x| x.to_bits()).collect()).collect();
    assert_eq!(vectors(&answer), want, "the upstream's floats, as base64 of little-endian f32");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("POST", "/v1/embeddings"));
    assert_eq!(seen[0].header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(
        seen[0].json(),
        json!({ "model": "minilm", "input": ["one", "two"], "encoding_format": "float", "dimensions": 3 })
    );
    // No model: the configured one; its bare name and floats work too; the built-in model
    // stays available beside it.
    let plain = embed(&srv, &json!({ "input": "three" }));
    assert_eq!((plain.status, plain.json()["model"].clone()), (200, json!("local/minilm")), "{}", plain.text());
    let bare = embed(&srv, &json!({ "model": "minilm", "input": "four", "encoding_format": "float" }));
    assert_eq!(vectors(&bare.json()), vec![want[0].clone()]);
    assert_eq!(embed(&srv, &json!({ "model": "builtin/embed", "input": "x" })).json()["model"], "builtin/embed");
    assert_eq!(fake.seen().len(), 3, "the built-in model does not call the upstream");
    let list = srv.get("/v1/models").json();
    assert!(list["data"].as_array().is_some_and(|d| d.iter().any(|m| m["id"] == "local/minilm")), "{list}");
}

#[test]
fn upstream_errors_are_502_in_openai_shape_without_the_key() {
    let fake = FakePlatform::start(|seen, _| {
        let text = seen.json()["input"][0].as_str().unwrap_or_default().to_owned();
        match text.as_str() {
            "server error" => {
                fake_platform::json(500, r#"{"error":{"message":"model crashed","type":"server_error"}}"#)
            }
            "leak" => fake_platform::json(401, &format!(r#"{{"error":{{"message":"bad key {KEY}"}}}}"#)),
            "tokens" => fake_platform::json(200, r#"{"data":[{"index":0,"embedding":[[0.1,0.2],[0.3,0.4]]}]}"#),
            "short" => fake_platform::json(200, r#"{"data":[]}"#),
            _ => fake_platform::json(200, "not json"),
        }
    });
    let srv = forwarding(&fake, &json!({}), &json!({}));
    let call = |text: &str| embed(&srv, &json!({ "model": "local/minilm", "input": text }));
    assert_openai_error(&call("server error"), 502, "api_error", "model crashed");
    let leak = assert_openai_error(&call("leak"), 502, "api_error", "bad key ***");
    assert!(!leak.to_string().contains(KEY), "the key must never be returned: {leak}");
    assert_openai_error(&call("tokens"), 502, "api_error", "2 per-token vectors of 2 numbers");
    assert_openai_error(&call("short"), 502, "api_error", "0 vectors for 1 inputs");
    assert_openai_error(&call("garbage"), 502, "api_error", "not an embeddings list");
}

#[test]
fn a_stalled_upstream_is_a_504() {
    let release = Arc::new(AtomicBool::new(false));
    let held = Arc::clone(&release);
    let fake = FakePlatform::start(move |seen, _| {
        let until = Instant::now() + Duration::from_secs(10);
        while !held.load(Ordering::Relaxed) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        upstream_answer(seen)
    });
    let srv = forwarding(&fake, &json!({ "response_timeout_ms": 200 }), &json!({}));
    let r = embed(&srv, &json!({ "input": "slow" }));
    assert_openai_error(&r, 504, "api_error", "timed out");
    release.store(true, Ordering::Relaxed);
}

/// Send a forwarded call on its own connection without reading the answer.
fn send_forwarded(srv: &TestServer, text: &str) -> Conn {
    let mut c = srv.connect();
    c.send(&request(&json!({ "input": text })));
    c
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn slow_upstream_calls_hold_their_own_pool_not_the_workers() {
    let release = Arc::new(AtomicBool::new(false));
    let held = Arc::clone(&release);
    let fake = FakePlatform::start(move |seen, _| {
        let until = Instant::now() + Duration::from_secs(20);
        while !held.load(Ordering::Relaxed) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        upstream_answer(seen)
    });
    // One worker thread: if a forwarded call took it, the built-in call below could not run.
    let srv = forwarding(&fake, &json!({}), &json!({ "worker_threads": 1 }));
    let threads = talon::embed::UPSTREAM_THREADS;
    let mut running: Vec<Conn> = (0..threads).map(|i| send_forwarded(&srv, &format!("running {i}"))).collect();
    wait_until("the upstream to hold every embeddings thread", || fake.seen().len() == threads);
    // The worker pool still answers: a built-in embedding and a worker route.
    let builtin = embed(&srv, &json!({ "model": "builtin/embed", "input": "still served" }));
    assert_eq!(builtin.status, 200, "{}", builtin.text());
    assert_eq!(srv.get("/api/sessions").status, 200);
    // Fill the queue, then one more is refused at once with Retry-After.
    let mut queued: Vec<Conn> =
        (0..talon::embed::UPSTREAM_QUEUE).map(|i| send_forwarded(&srv, &format!("queued {i}"))).collect();
    wait_until("the embeddings queue to fill", || srv.app().embeddings.queued() == talon::embed::UPSTREAM_QUEUE);
    let refused = embed(&srv, &json!({ "input": "one too many" }));
    assert_openai_error(&refused, 503, "server_error", "embeddings upstream queue is full");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(fake.seen().len(), threads, "nothing else reached the upstream while it was stalled");
    // Released: every accepted call is answered.
    release.store(true, Ordering::Relaxed);
    for c in running.iter_mut().chain(queued.iter_mut()) {
        let r = support::expect_response(c, "a forwarded call");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(fake.seen().len(), threads + talon::embed::UPSTREAM_QUEUE);
}

#[test]
fn shutdown_aborts_a_stalled_forwarded_call() {
    let release = Arc::new(AtomicBool::new(false));
    let gave_up = Arc::new(AtomicBool::new(false));
    let (held, gave_up_in_fake) = (Arc::clone(&release), Arc::clone(&gave_up));
    let fake = FakePlatform::start(move |seen, _| {
        let until = Instant::now() + Duration::from_secs(30);
        while !held.load(Ordering::Relaxed) {
            if Instant::now() >= until {
                gave_up_in_fake.store(true, Ordering::Relaxed);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        upstream_answer(seen)
    });
    let srv = forwarding(&fake, &json!({}), &json!({}));
    let _pending = send_forwarded(&srv, "stalled");
    wait_until("the call to reach the upstream", || fake.seen().len() == 1);
    // Stopping must not wait for the upstream (the call is aborted, its socket closed): had it
    // waited, it would have returned only after the fake gave up on its own.
    srv.stop();
    assert!(!gave_up.load(Ordering::Relaxed), "shutdown waited for the stalled upstream instead of aborting it");
    release.store(true, Ordering::Relaxed);
}
