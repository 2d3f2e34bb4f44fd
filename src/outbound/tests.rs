//! The request builders and response classifiers against the vectors in `proto/outbound/`,
//! plus the target checks of [`Target::from_parts`].

use std::time::Duration;

use serde_json::Value;

use super::request::{Creds, Row, build, classify, scrub};
use super::target::Target;
use super::{OutResponse, Verdict, idempotency_uuid, lark};
use crate::webhook::Channel;

fn load(name: &str) -> Value {
    let path = format!("{}/proto/outbound/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// `UUID(id,created_ms)` in a vector stands for the row's idempotency key.
fn expand(text: &str) -> String {
    let Some(start) = text.find("UUID(") else { return text.to_owned() };
    let end = start + text[start..].find(')').expect("closing paren");
    let (id, created) = text[start + 5..end].split_once(',').expect("UUID(id,created_ms)");
    let uuid = idempotency_uuid(id.parse().expect("id"), created.parse().expect("created_ms"));
    format!("{}{uuid}{}", &text[..start], expand(&text[end + 1..]))
}

fn expand_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(expand(s)),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), expand_value(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(expand_value).collect()),
        other => other.clone(),
    }
}

fn check_request(name: &str, got: &super::OutRequest, expect: &Value) {
    let expect = expand_value(expect);
    assert_eq!(got.method, expect["method"].as_str().expect("method"), "{name}");
    assert_eq!(got.url, expect["url"].as_str().expect("url"), "{name}");
    let headers: Value = got
        .headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into();
    assert_eq!(headers, expect["headers"], "{name}: headers");
    let body: Value = serde_json::from_slice(&got.body).expect("body is JSON");
    assert_eq!(body, expect["body"], "{name}: body");
}

#[test]
fn request_vectors() {
    let doc = load("requests.json");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 12);
    let mut channels_seen = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let target: Target = serde_json::from_value(case["target"].clone()).expect(name);
        channels_seen.insert(target.channel().name());
        let creds = Creds {
            api_base: s(&case["creds"], "api_base").expect("api_base"),
            token: s(&case["creds"], "token"),
            account: s(&case["creds"], "account"),
        };
        let row = Row {
            id: case["row"]["id"].as_i64().expect("id"),
            created_ms: case["row"]["created_ms"].as_u64().expect("created_ms"),
            text: case["text"].as_str().expect("text"),
        };
        let lark_token = s(case, "lark_token");
        let built = build(&target, row, &creds, lark_token.as_deref());
        match (case.get("expect"), case.get("expect_error")) {
            (Some(expect), None) => check_request(name, &built.expect(name), expect),
            (None, Some(err)) => assert_eq!(built.err().as_deref(), err.as_str(), "{name}"),
            _ => panic!("{name}: exactly one of expect / expect_error"),
        }
    }
    assert_eq!(channels_seen.len(), Channel::NATIVE.len(), "every channel has vectors");
    let t = &doc["lark_token_request"];
    let req = lark::token_request(
        t["api_base"].as_str().expect("base"),
        t["app_id"].as_str().expect("id"),
        t["app_secret"].as_str().expect("secret"),
    );
    check_request("lark token", &req, &t["expect"]);
}

fn response_of(case: &Value) -> (u16, Option<String>, Vec<u8>) {
    let status = u16::try_from(case["status"].as_u64().expect("status")).expect("u16");
    let body = match (case.get("body"), case.get("body_text")) {
        (Some(v), None) => v.to_string().into_bytes(),
        (None, Some(t)) => t.as_str().expect("body_text").as_bytes().to_vec(),
        _ => panic!("body or body_text"),
    };
    (status, s(case, "retry_after"), body)
}

fn check_verdict(name: &str, got: &Verdict, expect: &Value) {
    match (got, expect) {
        (Verdict::Sent, Value::String(s)) if s == "sent" => {}
        (Verdict::Retry { after, error }, Value::Object(m)) if m.contains_key("retry_ms") => {
            let want = m["retry_ms"].as_u64().map(Duration::from_millis);
            assert_eq!(*after, want, "{name}: retry delay");
            let part = m["error"].as_str().expect("error");
            assert!(error.contains(part), "{name}: {error:?} lacks {part:?}");
        }
        (Verdict::Failed { error }, Value::Object(m)) if m.contains_key("failed") => {
            let part = m["failed"].as_str().expect("failed");
            assert!(error.contains(part), "{name}: {error:?} lacks {part:?}");
        }
        _ => panic!("{name}: got {got:?}, want {expect}"),
    }
}

#[test]
fn response_vectors() {
    let doc = load("responses.json");
    let cases = doc["cases"].as_array().expect("cases");
    let mut channels_seen = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let target: Target = serde_json::from_value(case["target"].clone()).expect(name);
        channels_seen.insert(target.channel().name());
        let (status, retry_after, body) = response_of(case);
        let response = OutResponse { status, retry_after: retry_after.as_deref(), body: &body };
        check_verdict(name, &classify(&target, &response), &case["expect"]);
    }
    assert_eq!(channels_seen.len(), Channel::NATIVE.len(), "every channel has vectors");
    for case in doc["lark_token_cases"].as_array().expect("lark_token_cases") {
        let name = case["name"].as_str().expect("name");
        let (status, retry_after, body) = response_of(case);
        let response = OutResponse { status, retry_after: retry_after.as_deref(), body: &body };
        match (lark::parse_token(&response), &case["expect"]) {
            (Ok((token, usable)), want) if want.get("token").is_some() => {
                assert_eq!(Some(token.as_str()), want["token"].as_str(), "{name}");
                assert_eq!(Some(usable.as_secs()), want["usable_s"].as_u64(), "{name}");
            }
            (Err(verdict), want) => check_verdict(name, &verdict, want),
            (got, want) => panic!("{name}: got {got:?}, want {want}"),
        }
    }
}

#[test]
fn lark_token_rejection_is_recognised() {
    let body = br#"{"code":99991663,"msg":"Invalid access token"}"#;
    assert!(lark::token_rejected(&OutResponse { status: 400, retry_after: None, body }));
    let body = br#"{"code":0}"#;
    assert!(!lark::token_rejected(&OutResponse { status: 200, retry_after: None, body }));
}

#[test]
fn targets_from_parts() {
    let ok = |c, t, r| Target::from_parts(c, t, r).expect("valid target");
    let err = |c, t, r| Target::from_parts(c, t, r).expect_err("refused").0;
    assert_eq!(
        ok(Channel::Telegram, "-100123", Some("7")),
        Target::Telegram { chat_id: "-100123".into(), reply_to_message_id: Some(7) }
    );
    assert!(err(Channel::Telegram, "1", Some("abc")).contains("not a message id"));
    assert!(err(Channel::Telegram, "", None).contains("empty"));
    assert!(err(Channel::Telegram, "1/../x", None).contains("URL path"));
    assert_eq!(
        ok(Channel::Slack, "C1", Some("1.2")),
        Target::Slack { channel: "C1".into(), thread_ts: Some("1.2".into()) }
    );
    assert_eq!(
        ok(Channel::Discord, "", Some("tok")),
        Target::Discord { channel_id: None, interaction_token: Some("tok".into()) }
    );
    assert!(err(Channel::Discord, "", None).contains("channel id or an interaction token"));
    assert_eq!(ok(Channel::Line, "", Some("rt")), Target::Line { to: None, reply_token: Some("rt".into()) });
    assert!(err(Channel::Line, " ", None).contains("reply token"));
    assert!(err(Channel::Generic, "x", None).contains("no send API"));
    let long = "9".repeat(2000);
    assert!(err(Channel::WhatsApp, &long, None).contains("longer than"));
    assert!(err(Channel::Slack, "C1\n", Some("a\u{0}b")).contains("control"));
    // Stored form round-trips; a foreign one is an error, not a panic.
    for t in [ok(Channel::Lark, "oc_1", Some("om_2")), ok(Channel::WhatsApp, "155", None)] {
        assert_eq!(Target::parse(&t.to_json()), Ok(t));
    }
    assert!(Target::parse("{\"kind\":\"fax\"}").is_err());
    assert!(Target::parse("not json").is_err());
}

#[test]
fn secrets_are_scrubbed_and_uuids_are_stable_v4() {
    assert_eq!(scrub("GET /bot123:ABC/sendMessage failed".into(), &["123:ABC"]), "GET /bot***/sendMessage failed");
    let creds = Creds { api_base: "x".into(), token: Some("sekrit".into()), account: None };
    assert!(!format!("{creds:?}").contains("sekrit"));
    let a = idempotency_uuid(12, 1_700_000_000_000);
    assert_eq!(a, idempotency_uuid(12, 1_700_000_000_000));
    assert_ne!(a, idempotency_uuid(13, 1_700_000_000_000));
    assert_ne!(a, idempotency_uuid(12, 1_700_000_000_001));
    let groups: Vec<&str> = a.split('-').collect();
    assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), vec![8, 4, 4, 4, 12]);
    assert!(groups[2].starts_with('4'));
    assert!(matches!(groups[3].chars().next(), Some('8' | '9' | 'a' | 'b')));
}
