//! Replays `proto/webhooks/payloads.json` through `webhook::delivery::classify` and
//! `webhook::normalize::normalize`: every realistic platform body (Telegram, Slack JSON and
//! form, Discord, WhatsApp, LINE, Lark v1/v2, Human, Comis) must classify to exactly its listed
//! class, dedup id, challenge or error (code and message), and normalize to exactly its listed
//! messages; and the file must keep covering the rejections each channel needs.

use serde::Deserialize;
use serde_json::Value;

use talon::webhook::Channel;
use talon::webhook::delivery::{Classified, MAX_ID_BYTES, classify};
use talon::webhook::normalize::normalize;

const PAYLOADS: &str = include_str!("../proto/webhooks/payloads.json");

#[derive(Deserialize)]
struct Case {
    name: String,
    channel: String,
    content_type: Option<String>,
    body: String,
    expect_class: String,
    expect_delivery_id: Option<String>,
    expect_challenge: Option<String>,
    #[serde(default)]
    expect_token: Option<String>,
    expect_error: Option<String>,
    expect_error_message: Option<String>,
    expect_messages: Option<Value>,
    expect_normalize_error: Option<String>,
}

fn cases() -> Vec<Case> {
    serde_json::from_str(PAYLOADS).expect("proto/webhooks/payloads.json parses")
}

fn channel(c: &Case) -> Channel {
    Channel::from_name(&c.channel).unwrap_or_else(|| panic!("{}: unknown channel {}", c.name, c.channel))
}

/// What classify returned, in the file's vocabulary.
fn describe(got: &Result<Classified, talon::webhook::delivery::BodyError>) -> (String, Option<String>, Option<String>) {
    match got {
        Ok(Classified::Deliver { delivery_id }) => ("deliver".into(), Some(delivery_id.clone()), None),
        Ok(Classified::SlackChallenge { challenge }) => ("slack_challenge".into(), Some(challenge.clone()), None),
        Ok(Classified::DiscordPing) => ("discord_ping".into(), None, None),
        Ok(Classified::LineVerify) => ("line_verify".into(), None, None),
        Ok(Classified::LarkChallenge { challenge, token }) => {
            ("lark_challenge".into(), Some(challenge.clone()), token.clone())
        }
        Err(e) => (format!("error:{}", e.code()), Some(e.to_string()), None),
    }
}

fn check(c: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail = |what: String| failures.push(format!("{}: {what}", c.name));
    let ch = channel(c);
    let got = classify(ch, c.content_type.as_deref(), c.body.as_bytes());
    let (class, detail, token) = describe(&got);
    let want_class = match &c.expect_error {
        Some(code) => format!("error:{code}"),
        None => c.expect_class.clone(),
    };
    if class != want_class {
        fail(format!("class {class} ({detail:?}), expected {want_class}"));
    }
    match c.expect_class.as_str() {
        "deliver" if detail != c.expect_delivery_id => {
            fail(format!("delivery id {detail:?}, expected {:?}", c.expect_delivery_id));
        }
        "slack_challenge" | "lark_challenge" if detail != c.expect_challenge => {
            fail(format!("challenge {detail:?}, expected {:?}", c.expect_challenge));
        }
        "lark_challenge" if token != c.expect_token => fail(format!("token {token:?}, expected {:?}", c.expect_token)),
        "error" if c.expect_error_message.is_some() && detail != c.expect_error_message => {
            fail(format!("message {detail:?}, expected {:?}", c.expect_error_message));
        }
        _ => {}
    }
    let normalized = normalize(ch, c.content_type.as_deref(), c.body.as_bytes());
    match (&normalized, &c.expect_messages, &c.expect_normalize_error) {
        (Ok(msgs), Some(want), _) => {
            let got = serde_json::to_value(msgs).expect("messages serialize");
            if &got != want {
                fail(format!("messages\n  got      {got}\n  expected {want}"));
            }
        }
        (Err(e), _, Some(code)) if e.code() == code => {}
        (Err(e), Some(_), _) | (Err(e), _, Some(_)) => fail(format!("normalize failed: {e}")),
        (Ok(msgs), _, Some(code)) => fail(format!("normalize gave {} message(s), expected error {code}", msgs.len())),
        _ => {}
    }
    failures
}

#[test]
fn every_payload_classifies_and_normalizes_as_listed() {
    let cases = cases();
    let failures: Vec<String> = cases.iter().flat_map(check).collect();
    assert!(failures.is_empty(), "{} of {} case(s) failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn names_are_unique() {
    let cases = cases();
    let names: std::collections::BTreeSet<_> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len());
}

/// Trimming the file must not drop a kind of case a channel needs.
#[test]
fn every_channel_covers_its_cases() {
    let cases = cases();
    let has = |ch: Channel, pred: &dyn Fn(&Case) -> bool| cases.iter().any(|c| c.channel == ch.name() && pred(c));
    for ch in Channel::ALL {
        let name = ch.name();
        assert!(
            has(ch, &|c| c.expect_class == "deliver" && c.expect_messages.is_some()),
            "{name}: no normalized delivery"
        );
        assert!(has(ch, &|c| c.expect_error.as_deref() == Some("empty")), "{name}: no empty-body case");
        if ch != Channel::Generic {
            for code in ["not_json", "not_object"] {
                let code_or_schema = |c: &Case| {
                    c.expect_error.as_deref() == Some(code)
                        || (code == "not_object"
                            && c.expect_error.as_deref() == Some("schema")
                            && c.name.contains("array"))
                };
                assert!(has(ch, &code_or_schema), "{name}: no {code} case");
            }
            assert!(has(ch, &|c| c.expect_error.as_deref() == Some("missing_field")
                || c.expect_error.as_deref() == Some("schema")));
        }
    }
    for ch in [Channel::Slack, Channel::Discord, Channel::WhatsApp, Channel::Line] {
        assert!(has(ch, &|c| c.name.contains("hashed")), "{}: no hashed-id case", ch.name());
    }
    for class in ["slack_challenge", "discord_ping", "line_verify", "lark_challenge"] {
        assert!(
            cases
                .iter()
                .any(|c| c.expect_class == class
                    && c.expect_messages.as_ref().is_some_and(|m| m == &Value::Array(vec![])))
        );
    }
    for field in ["event", "source", "data", "timestamp", "body"] {
        let want = format!("`{field}` must be");
        assert!(
            cases.iter().any(|c| c.expect_error.as_deref() == Some("schema")
                && c.expect_error_message.as_ref().is_some_and(|m| m.contains(&want))),
            "no Comis schema case for {field}"
        );
    }
    assert!(has(Channel::Telegram, &|c| c.name == "telegram_missing_update_id"));
}

/// Every delivery id in the file is bounded the way the inbox needs.
#[test]
fn delivery_ids_are_bounded() {
    for c in cases() {
        if let Ok(Classified::Deliver { delivery_id }) =
            classify(channel(&c), c.content_type.as_deref(), c.body.as_bytes())
        {
            assert!(!delivery_id.is_empty() && delivery_id.len() <= MAX_ID_BYTES, "{}", c.name);
            assert!(!delivery_id.chars().any(char::is_control), "{}", c.name);
        }
    }
}
