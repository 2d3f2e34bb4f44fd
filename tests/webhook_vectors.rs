//! Replays `proto/webhooks/vectors.json` through the webhook verifiers: every published vector
//! (GitHub, Meta, Human, Slack, Standard Webhooks, LINE, Telegram, Discord, Lark, and the Lark
//! decryption vector) must be accepted and every
//! listed rejection (missing, empty, wrong prefix, wrong length, non-hex/base64, other body,
//! truncated, stale, future, non-numeric timestamp) must fail with exactly its named reason.

use serde::Deserialize;
use std::collections::BTreeMap;

use talon::webhook::{Algorithm, VerifyError, comis, discord, hmac_hex, lark, line, slack, standard, telegram};

const VECTORS: &str = include_str!("../proto/webhooks/vectors.json");

#[derive(Deserialize)]
struct Vector {
    name: String,
    scheme: String,
    secret: String,
    headers: BTreeMap<String, String>,
    body: String,
    expect: String,
    now: Option<u64>,
    config: Option<ComisCfg>,
    plaintext: Option<String>,
}

#[derive(Deserialize)]
struct ComisCfg {
    algorithm: String,
    prefix: Option<String>,
    max_age_secs: Option<u64>,
    require_timestamp: Option<bool>,
}

fn run(v: &Vector) -> Result<(), VerifyError> {
    let h = |name: &str| v.headers.get(name).map(String::as_bytes);
    let body = v.body.as_bytes();
    let secret = v.secret.as_bytes();
    let now = || v.now.unwrap_or_else(|| panic!("{}: timestamped scheme needs `now`", v.name));
    match v.scheme.as_str() {
        "human_hex" => hmac_hex::verify_bare(body, h("x-signature"), secret),
        "hub_sha256" => hmac_hex::verify_sha256_prefixed(body, h("x-hub-signature-256"), secret),
        "slack" => slack::verify(body, h("x-slack-signature"), h("x-slack-request-timestamp"), secret, now()),
        "standard" => {
            standard::verify(body, h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"), &v.secret, now())
        }
        "line" => line::verify(body, h("x-line-signature"), secret),
        "telegram" => telegram::verify(h("x-telegram-bot-api-secret-token"), secret),
        "lark" => lark::verify_signature(
            body,
            h("x-lark-signature"),
            h("x-lark-request-timestamp"),
            h("x-lark-request-nonce"),
            secret,
            now(),
        ),
        "discord" => {
            let key = discord::DiscordKey::from_hex(&v.secret)?;
            discord::verify(body, h("x-signature-ed25519"), h("x-signature-timestamp"), &key, now())
        }
        "comis" => {
            let c = v.config.as_ref().unwrap_or_else(|| panic!("{}: comis needs config", v.name));
            let mut cfg = comis::ComisConfig::new(secret);
            cfg.algorithm = match c.algorithm.as_str() {
                "sha256" => Algorithm::Sha256,
                "sha384" => Algorithm::Sha384,
                "sha512" => Algorithm::Sha512,
                other => panic!("{}: unknown algorithm {other}", v.name),
            };
            cfg.prefix = c.prefix.as_deref().map(str::as_bytes);
            cfg.max_age_secs = c.max_age_secs.unwrap_or(cfg.max_age_secs);
            cfg.require_timestamp = c.require_timestamp.unwrap_or(false);
            comis::verify(body, h("x-webhook-signature"), h("x-webhook-timestamp"), &cfg, now())
        }
        other => panic!("{}: unknown scheme {other}", v.name),
    }
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(VECTORS).expect("proto/webhooks/vectors.json parses")
}

#[test]
fn every_vector_has_its_expected_outcome() {
    let mut failures = Vec::new();
    for v in vectors() {
        if v.scheme == "lark_decrypt" {
            let got = match lark::decrypt(v.body.as_bytes(), v.secret.as_bytes()) {
                Ok(plain) if Some(plain.as_slice()) == v.plaintext.as_ref().map(String::as_bytes) => "ok".to_owned(),
                Ok(plain) => format!("ok but plaintext {:?}", String::from_utf8_lossy(&plain)),
                Err(e) => e.code().to_owned(),
            };
            if got != v.expect {
                failures.push(format!("{}: expected {}, got {got}", v.name, v.expect));
            }
            continue;
        }
        let got = match run(&v) {
            Ok(()) => "ok",
            Err(e) => e.code(),
        };
        if got != v.expect {
            failures.push(format!("{}: expected {}, got {got}", v.name, v.expect));
        }
    }
    assert!(failures.is_empty(), "{} vector(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// The rejection kinds testing.md §5 item 5 lists (plus stale/future for timestamped schemes)
/// must each be present for every scheme they apply to, so trimming the file cannot drop one.
#[test]
fn every_scheme_covers_the_listed_rejections() {
    let vs = vectors();
    let has = |scheme: &str, expect: &str| vs.iter().any(|v| v.scheme == scheme && v.expect == expect);
    let all = ["human_hex", "hub_sha256", "slack", "standard", "line", "telegram", "comis", "discord", "lark"];
    for s in all {
        for e in ["ok", "missing_header", "empty_signature", "mismatch"] {
            assert!(has(s, e), "{s} has no `{e}` vector");
        }
    }
    for s in ["human_hex", "hub_sha256", "slack", "standard", "line", "comis", "discord", "lark"] {
        assert!(has(s, "wrong_length"), "{s} has no wrong-length/truncated vector");
        let encoding = if matches!(s, "standard" | "line") { "not_base64" } else { "not_hex" };
        assert!(has(s, encoding), "{s} has no `{encoding}` vector");
    }
    for s in ["hub_sha256", "slack", "standard", "comis"] {
        assert!(has(s, "wrong_prefix"), "{s} has no wrong-prefix vector");
    }
    for s in ["slack", "standard", "comis", "discord", "lark"] {
        for e in ["stale_timestamp", "future_timestamp", "bad_timestamp"] {
            assert!(has(s, e), "{s} has no `{e}` vector");
        }
    }
    for name in ["truncated"] {
        for s in ["hub_sha256", "human_hex", "slack", "standard", "line", "telegram", "discord", "lark"] {
            assert!(vs.iter().any(|v| v.scheme == s && v.name.contains(name)), "{s} has no {name} vector");
        }
    }
}
