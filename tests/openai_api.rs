//! The OpenAI-compatible API over real HTTP: the model catalogue (`GET /v1/models`,
//! `GET /v1/models/{id}`) in the shapes the official SDKs parse, with the offline built-in
//! model listed by default and a configured upstream's models beside it, and OpenAI's error
//! object for an unknown model.

mod support;

use serde_json::{Value, json};
use support::TestServer;

fn ids(list: &Value) -> Vec<String> {
    list["data"].as_array().expect("data").iter().map(|m| m["id"].as_str().expect("id").to_owned()).collect()
}

#[test]
fn the_model_list_has_the_builtin_model_in_openai_shape() {
    let srv = TestServer::gateway(json!({}));
    let r = srv.get("/v1/models");
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    assert_eq!(list["object"], "list");
    let echo = list["data"].as_array().and_then(|d| d.iter().find(|m| m["id"] == "builtin/echo")).expect("echo");
    assert_eq!(echo["object"], "model");
    assert_eq!(echo["owned_by"], "talon-builtin");
    let created = echo["created"].as_u64().expect("created is a number");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    assert!(created <= now && created + 600 > now, "created {created} is the start time, now {now}");
    // A trailing slash is the same route.
    assert_eq!(ids(&srv.get("/v1/models/").json()), ids(&list));
}

#[test]
fn configured_upstream_models_are_listed_and_retrievable_by_id() {
    let srv = TestServer::from_doc(json!({
        "providers": { "local": { "kind": "openai-compatible", "base_url": "http://127.0.0.1:9/v1",
                                  "models": ["smollm2-135m", "meta-llama/llama-3-8b"] } },
    }));
    let list = srv.get("/v1/models").json();
    let ids = ids(&list);
    for id in ["builtin/echo", "local/smollm2-135m", "local/meta-llama/llama-3-8b"] {
        assert!(ids.iter().any(|i| i == id), "{id} missing from {ids:?}");
    }
    let one = srv.get("/v1/models/local/meta-llama/llama-3-8b");
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(
        (one.json()["id"].clone(), one.json()["owned_by"].clone()),
        (json!("local/meta-llama/llama-3-8b"), json!("local"))
    );
    // SDKs that encode the slash reach the same model.
    let encoded = srv.get("/v1/models/builtin%2Fecho");
    assert_eq!((encoded.status, encoded.json()["id"].clone()), (200, json!("builtin/echo")));
}

#[test]
fn an_unknown_model_is_openais_404_and_other_methods_are_405() {
    let srv = TestServer::gateway(json!({}));
    let r = srv.get("/v1/models/gpt-9");
    assert_eq!(r.status, 404, "{}", r.text());
    let e = r.json();
    assert_eq!(e["error"]["code"], "model_not_found", "{e}");
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert!(e["error"]["message"].as_str().is_some_and(|m| m.contains("gpt-9")), "{e}");
    let post = srv.request(b"POST /v1/models HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(post.status, 405, "{}", post.text());
}

fn complete(srv: &TestServer, body: &Value) -> support::Response {
    let bytes = body.to_string();
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{bytes}",
        bytes.len()
    );
    srv.request(req.as_bytes())
}

#[test]
fn a_completion_is_a_stateless_turn_answered_in_openai_shape() {
    let srv = TestServer::gateway(json!({}));
    let alone =
        complete(&srv, &json!({"model": "builtin/echo", "messages": [{"role": "user", "content": "how are you"}]}));
    assert_eq!(alone.status, 200, "{}", alone.text());
    let a = alone.json();
    assert_eq!(a["object"], "chat.completion");
    assert!(a["id"].as_str().is_some_and(|id| id.starts_with("chatcmpl-")), "{a}");
    assert_eq!(a["model"], "builtin/echo");
    assert_eq!(a["choices"][0]["message"], json!({"role": "assistant", "content": "how are you", "refusal": null}));
    assert_eq!(a["choices"][0]["finish_reason"], "stop");
    let usage = &a["usage"];
    assert_eq!(
        usage["total_tokens"],
        usage["prompt_tokens"].as_u64().unwrap_or(0) + usage["completion_tokens"].as_u64().unwrap_or(0)
    );

    // The request's earlier messages are the turn's history: the built-in model counts every
    // word it was sent, so six more words of history are six more prompt tokens.
    let with_history = complete(
        &srv,
        &json!({"model": "builtin/echo", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}]},
            {"role": "assistant", "content": "hi there friend"},
            {"role": "user", "content": "how are you"},
        ]}),
    );
    assert_eq!(with_history.status, 200, "{}", with_history.text());
    let h = with_history.json();
    assert_eq!(h["choices"][0]["message"]["content"], "how are you");
    assert_eq!(
        h["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        a["usage"]["prompt_tokens"].as_u64().unwrap_or(0) + 6,
        "{h} vs {a}"
    );
}

#[test]
fn a_user_keeps_one_session_and_requests_without_one_do_not_share() {
    let srv = TestServer::gateway(json!({}));
    for text in ["first question", "second question"] {
        let r = complete(
            &srv,
            &json!({"model": "builtin/echo", "user": "alice", "messages": [{"role": "user", "content": text}]}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let history = srv.get("/api/chat/history?sessionKey=openai:alice").json();
    let contents: Vec<&str> =
        history["messages"].as_array().expect("messages").iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(contents, ["first question", "first question", "second question", "second question"], "{history}");
}

#[test]
fn bad_completion_requests_are_openai_errors() {
    let srv = TestServer::gateway(json!({}));
    let cases = [
        (json!({"model": "builtin/echo", "messages": [], }), "must not be empty"),
        (
            json!({"model": "builtin/echo", "messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": true}}),
            "stream_options",
        ),
        (json!({"model": "builtin/echo", "messages": [{"role": "assistant", "content": "x"}]}), "role user"),
        (
            json!({"model": "builtin/echo", "messages": [{"role": "wizard", "content": "x"}, {"role": "user", "content": "y"}]}),
            "wizard",
        ),
        (
            json!({"model": "builtin/echo", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
            "image_url",
        ),
        (
            json!({"model": "builtin/echo", "messages": [{"role": "user", "content": "x"}], "temperature": 2.5}),
            "temperature",
        ),
        (
            json!({"model": "builtin/echo", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}),
            "max_tokens",
        ),
        (json!({"messages": "not a list"}), "invalid request body"),
    ];
    for (body, needle) in cases {
        let r = complete(&srv, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        let e = r.json();
        assert_eq!(e["error"]["type"], "invalid_request_error", "{body}: {e}");
        assert!(e["error"]["message"].as_str().is_some_and(|m| m.contains(needle)), "{body}: {e}");
    }
    // An unknown model is OpenAI's 404 `model_not_found`, as on GET /v1/models/{id}.
    let unknown = complete(&srv, &json!({"model": "nowhere/none", "messages": [{"role": "user", "content": "x"}]}));
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    let e = unknown.json();
    assert_eq!(
        (e["error"]["code"].as_str(), e["error"]["type"].as_str()),
        (Some("model_not_found"), Some("invalid_request_error"))
    );
    assert!(e["error"]["message"].as_str().is_some_and(|m| m.contains("nowhere/none")), "{e}");
    let get = srv.get("/v1/chat/completions");
    assert_eq!(get.status, 405, "{}", get.text());
}

#[test]
fn sampling_parameters_reach_the_model() {
    // The built-in model stops after `max_tokens` words with finish `length`: the limit made it
    // through the turn to the provider. `max_completion_tokens` wins over the older name.
    let srv = TestServer::gateway(json!({}));
    let words = "one two three four five six";
    for (limits, want) in [
        (json!({"max_tokens": 2}), "one two"),
        (json!({"max_tokens": 5, "max_completion_tokens": 3}), "one two three"),
        (json!({"temperature": 0}), words),
    ] {
        let mut body = json!({"model": "builtin/echo", "messages": [{"role": "user", "content": words}]});
        if let (Some(b), Some(l)) = (body.as_object_mut(), limits.as_object()) {
            b.extend(l.clone());
        }
        let r = complete(&srv, &body);
        assert_eq!(r.status, 200, "{body}: {}", r.text());
        let a = r.json();
        assert_eq!(a["choices"][0]["message"]["content"], want, "{body}: {a}");
        let finish = if want == words { "stop" } else { "length" };
        assert_eq!(a["choices"][0]["finish_reason"], finish, "{body}: {a}");
    }
}

#[test]
fn refusals_decided_from_the_head_are_openai_errors_under_v1() {
    // An SDK parses `error.message` whatever refused the request: auth, size, method, path.
    let srv = TestServer::gateway(json!({ "auth_token": support::ADMIN_TOKEN, "limits": { "max_body_bytes": 1024 } }));
    let check = |r: &support::Response, status: u16, kind: &str| {
        assert_eq!(r.status, status, "{}", r.text());
        let e = r.json();
        assert_eq!(e["error"]["type"], kind, "{e}");
        assert!(e["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    };
    let no_token = srv.request(b"GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n");
    check(&no_token, 401, "authentication_error");
    assert_eq!(no_token.header("www-authenticate"), Some("Bearer"), "the header of the one mapping stays");
    let auth = format!("Authorization: Bearer {}\r\n", support::ADMIN_TOKEN);
    let wrong_method = srv.request(format!("DELETE /v1/models HTTP/1.1\r\nHost: t\r\n{auth}\r\n").as_bytes());
    check(&wrong_method, 405, "api_error");
    assert!(wrong_method.header("allow").is_some(), "{}", wrong_method.head);
    let too_big = srv.request(
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: 4096\r\n\r\n").as_bytes(),
    );
    check(&too_big, 413, "invalid_request_error");
    let nowhere = srv.request(format!("GET /v1/nowhere HTTP/1.1\r\nHost: t\r\n{auth}\r\n").as_bytes());
    check(&nowhere, 404, "invalid_request_error");
    // Outside /v1/ the errors keep Talon's own shape.
    let talon = srv.request(b"GET /api/version HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(talon.status, 401);
    assert!(talon.json()["error"].is_string(), "{}", talon.text());
}
