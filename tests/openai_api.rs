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
