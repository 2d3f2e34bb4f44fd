//! Decoder tests driven by the shared vectors in `proto/jsonrpc/exchanges.json` (see the README
//! next to it for the case format), and encoder tests that check every output parses as JSON,
//! has exactly the expected bytes, and echoes ids byte-for-byte.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value;
use serde_json::value::RawValue;

use super::*;

const EXCHANGES: &str = include_str!("../../../proto/jsonrpc/exchanges.json");

fn cases() -> Vec<Value> {
    match serde_json::from_str(EXCHANGES) {
        Ok(Value::Array(cases)) => cases,
        other => panic!("exchanges.json is not an array: {other:?}"),
    }
}

fn name(case: &Value) -> &str {
    case.get("name").and_then(Value::as_str).unwrap_or("<unnamed>")
}

/// A byte string given as `key` (text), `key_bytes` (array of bytes) or `key_repeat` (array of
/// `[piece, times]`, concatenated), so deep nesting needs no megabyte literal.
fn bytes_of(case: &Value, key: &str) -> Option<Vec<u8>> {
    if let Some(s) = case.get(key).and_then(Value::as_str) {
        return Some(s.as_bytes().to_vec());
    }
    if let Some(list) = case.get(format!("{key}_bytes")).and_then(Value::as_array) {
        return Some(list.iter().map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()).expect("a byte")).collect());
    }
    let pieces = case.get(format!("{key}_repeat"))?.as_array().expect("repeat list");
    let mut out = Vec::new();
    for piece in pieces {
        let (Some(text), Some(times)) = (piece.get(0).and_then(Value::as_str), piece.get(1).and_then(Value::as_u64))
        else {
            panic!("{}: bad repeat piece {piece}", name(case));
        };
        out.extend(text.as_bytes().repeat(usize::try_from(times).expect("repeat count")));
    }
    Some(out)
}

fn dialect_of(case: &Value) -> Option<Dialect> {
    match case.get("dialect").and_then(Value::as_str) {
        Some("frames") => Some(Dialect::Frames),
        Some("jsonrpc") => Some(Dialect::JsonRpc),
        None => None,
        Some(other) => panic!("{}: unknown dialect {other}", name(case)),
    }
}

fn variant(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::Parse => "Parse",
        DecodeError::NotUtf8 => "NotUtf8",
        DecodeError::InvalidRequest(_) => "InvalidRequest",
        DecodeError::EmptyBatch => "EmptyBatch",
        DecodeError::BatchTooLarge { .. } => "BatchTooLarge",
    }
}

fn raw_text(raw: Option<&RawValue>) -> Option<&str> {
    raw.map(RawValue::get)
}

fn check_rejected(ctx: &str, want: &Value, got: &Rejected<'_>) {
    assert_eq!(got.dialect, dialect_of(want), "{ctx}: dialect");
    assert_eq!(Some(variant(&got.error)), want.get("error").and_then(Value::as_str), "{ctx}: error variant");
    assert_eq!(raw_text(got.id), want.get("id").and_then(Value::as_str), "{ctx}: id");
    if let Some(msg) = want.get("message").and_then(Value::as_str) {
        assert!(got.error.message().contains(msg), "{ctx}: message {:?} lacks {msg:?}", got.error.message());
    }
}

fn check_item(ctx: &str, want: &Value, got: &Result<Call<'_>, Rejected<'_>>) {
    match (want.get("expect").and_then(Value::as_str), got) {
        (Some("call"), Ok(call)) => {
            assert_eq!(Some(call.dialect), dialect_of(want), "{ctx}: dialect");
            assert_eq!(raw_text(call.id), want.get("id").and_then(Value::as_str), "{ctx}: id");
            assert_eq!(Some(call.method.as_ref()), want.get("method").and_then(Value::as_str), "{ctx}: method");
            let params = call.params.map(|p| p.get().as_bytes().to_vec());
            assert_eq!(params, bytes_of(want, "params"), "{ctx}: params");
        }
        (Some("rejected"), Err(rejected)) => check_rejected(ctx, want, rejected),
        (expect, got) => panic!("{ctx}: expected {expect:?}, got {got:?}"),
    }
}

#[test]
fn exchanges_decode_as_recorded() {
    let cases = cases();
    assert!(cases.len() >= 70, "exchanges.json shrank to {} cases", cases.len());
    let mut names = std::collections::HashSet::new();
    for case in &cases {
        let n = name(case);
        assert!(names.insert(n.to_owned()), "duplicate case name {n}");
        let input = bytes_of(case, "input").unwrap_or_else(|| panic!("{n}: no input"));
        let max_batch = case.get("max_batch").and_then(Value::as_u64).map_or(DEFAULT_MAX_BATCH, |m| m as usize);
        let got = decode(&input, max_batch);
        match (case.get("expect").and_then(Value::as_str), &got) {
            (Some("call" | "rejected"), Inbound::Single(item)) => check_item(n, case, item),
            (Some("batch"), Inbound::Batch(items)) => {
                let want = case.get("items").and_then(Value::as_array).expect("batch case lists items");
                assert_eq!(items.len(), want.len(), "{n}: batch length");
                for (i, (w, g)) in want.iter().zip(items).enumerate() {
                    check_item(&format!("{n}[{i}]"), w, g);
                }
            }
            (Some("batch_rejected"), Inbound::BatchRejected(rejected)) => check_rejected(n, case, rejected),
            (expect, got) => panic!("{n}: expected {expect:?}, got {got:?}"),
        }
        // The `&str` entry point must agree with the byte one on every UTF-8 input.
        if let Ok(text) = std::str::from_utf8(&input) {
            assert_eq!(decode_str(text, max_batch), got, "{n}: decode_str disagrees");
        }
    }
}

/// Encode every decoded call's and rejection's replies; each must be JSON whose id is the
/// request's id byte-for-byte.
#[test]
fn replies_to_every_exchange_are_json_echoing_the_id() {
    let body = ErrorBody {
        code: -32600,
        frame_code: "INVALID_REQUEST",
        message: "bad \"request\"\n",
        retryable: false,
        retry_after_ms: None,
        data: None,
    };
    for case in cases() {
        let input = bytes_of(&case, "input").expect("input");
        let items = match decode(&input, DEFAULT_MAX_BATCH) {
            Inbound::Single(item) => vec![item],
            Inbound::Batch(items) => items,
            Inbound::BatchRejected(r) => vec![Err(r)],
        };
        for item in items {
            let (dialect, id) = match &item {
                Ok(call) => (call.dialect, call.id),
                Err(r) => (r.dialect.unwrap_or(Dialect::JsonRpc), r.id),
            };
            let mut outs = vec![Vec::new(), Vec::new()];
            encode_result(dialect, id, b"{\"ok\":1}", &mut outs[0]);
            encode_error(
                dialect,
                id,
                &ErrorBody { data: item.as_ref().ok().and_then(|c| c.params), ..body },
                &mut outs[1],
            );
            for out in outs {
                let ctx = format!("{}: {}", name(&case), String::from_utf8_lossy(&out));
                // A map of raw members keeps numbers like 1e400 as text instead of refusing them.
                let members: HashMap<String, Box<RawValue>> = serde_json::from_slice(&out).expect(&ctx);
                assert_eq!(members.get("id").map(|v| v.get()), Some(id.map_or("null", RawValue::get)), "{ctx}");
            }
        }
    }
}

#[test]
fn plain_method_is_borrowed_escaped_method_is_owned() {
    let Inbound::Single(Ok(call)) = decode(br#"{"jsonrpc":"2.0","id":1,"method":"system.ping"}"#, 50) else {
        panic!("ping must decode");
    };
    assert!(matches!(call.method, Cow::Borrowed("system.ping")));
    assert!(!call.is_notification());
    let Inbound::Single(Ok(call)) = decode(br#"{"jsonrpc":"2.0","method":"a\"b"}"#, 50) else {
        panic!("escaped method must decode");
    };
    assert!(matches!(&call.method, Cow::Owned(m) if m == "a\"b"));
    assert!(call.is_notification());
}

#[test]
fn decode_error_messages() {
    assert_eq!(DecodeError::BatchTooLarge { len: 51, max: 50 }.to_string(), "batch of 51 exceeds maximum of 50");
    for e in [DecodeError::Parse, DecodeError::NotUtf8, DecodeError::InvalidRequest("x"), DecodeError::EmptyBatch] {
        assert!(matches!(e.message(), Cow::Borrowed(m) if !m.is_empty()), "{e:?}");
    }
}

fn raw(s: &str) -> &RawValue {
    serde_json::from_str(s).expect("test id is JSON")
}

fn encoded(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    let text = String::from_utf8(out).expect("encoders write UTF-8");
    serde_json::from_str::<&RawValue>(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    text
}

#[test]
fn result_shapes() {
    let id = raw(r#""a\u00e9""#);
    assert_eq!(
        encoded(|o| encode_result(Dialect::Frames, Some(id), br#"{"x":[1]}"#, o)),
        r#"{"type":"res","id":"a\u00e9","ok":true,"payload":{"x":[1]}}"#
    );
    assert_eq!(
        encoded(|o| encode_result(Dialect::JsonRpc, Some(raw("1.50e+3")), b"\"pong\"", o)),
        r#"{"jsonrpc":"2.0","result":"pong","id":1.50e+3}"#
    );
    assert_eq!(
        encoded(|o| encode_result(Dialect::JsonRpc, None, b"", o)),
        r#"{"jsonrpc":"2.0","result":null,"id":null}"#
    );
    assert_eq!(
        encoded(|o| encode_result(Dialect::Frames, Some(raw("1e400")), b"true", o)),
        r#"{"type":"res","id":1e400,"ok":true,"payload":true}"#
    );
}

#[test]
fn error_shapes() {
    let base = ErrorBody {
        code: -32601,
        frame_code: "INVALID_REQUEST",
        message: "unknown method",
        retryable: false,
        retry_after_ms: None,
        data: None,
    };
    assert_eq!(
        encoded(|o| encode_error(Dialect::Frames, Some(raw(r#""7""#)), &base, o)),
        r#"{"type":"res","id":"7","ok":false,"error":{"code":"INVALID_REQUEST","message":"unknown method","retryable":false}}"#
    );
    let limited = ErrorBody { frame_code: "RATE_LIMITED", retryable: true, retry_after_ms: Some(1000), ..base };
    assert_eq!(
        encoded(|o| encode_error(Dialect::Frames, Some(raw("7")), &limited, o)),
        r#"{"type":"res","id":7,"ok":false,"error":{"code":"RATE_LIMITED","message":"unknown method","retryable":true,"retryAfterMs":1000}}"#
    );
    let data = raw(r#"{"method":"x"}"#);
    assert_eq!(
        encoded(|o| encode_error(Dialect::Frames, None, &ErrorBody { data: Some(data), ..base }, o)),
        r#"{"type":"res","id":null,"ok":false,"error":{"code":"INVALID_REQUEST","message":"unknown method","retryable":false,"details":{"method":"x"}}}"#
    );
    assert_eq!(
        encoded(|o| encode_error(Dialect::JsonRpc, Some(raw("1")), &ErrorBody { data: Some(data), ..base }, o)),
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"unknown method","data":{"method":"x"}},"id":1}"#
    );
    // retry fields are Frames-only; JSON-RPC carries them in `data` if the caller wants.
    assert_eq!(
        encoded(|o| encode_error(Dialect::JsonRpc, None, &limited, o)),
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"unknown method"},"id":null}"#
    );
    for code in [0, 1, -1, -32700, i32::MIN, i32::MAX] {
        let text = encoded(|o| encode_error(Dialect::JsonRpc, None, &ErrorBody { code, ..base }, o));
        let v: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["error"]["code"].as_i64(), Some(i64::from(code)), "{text}");
    }
}

#[test]
fn event_notification_and_batch_shapes() {
    assert_eq!(
        encoded(|o| encode_event("tick", 7, br#"{"ts":1}"#, o)),
        r#"{"type":"event","event":"tick","payload":{"ts":1},"seq":7}"#
    );
    assert_eq!(
        encoded(|o| encode_event("a\"b", u64::MAX, b"", o)),
        r#"{"type":"event","event":"a\"b","payload":null,"seq":18446744073709551615}"#
    );
    assert_eq!(
        encoded(|o| encode_notification("tick", b"[1,2]", o)),
        r#"{"jsonrpc":"2.0","method":"tick","params":[1,2]}"#
    );
    let items: Vec<Vec<u8>> = vec![b"1".to_vec(), b"{}".to_vec(), b"[]".to_vec()];
    assert_eq!(encoded(|o| encode_batch(&items, o)), "[1,{},[]]");
    assert_eq!(encoded(|o| encode_batch(&items[..1], o)), "[1]");
    assert_eq!(encoded(|o| encode_batch::<Vec<u8>>(&[], o)), "[]");
}

#[test]
fn encoders_append_and_never_clear() {
    let mut out = b"prefix".to_vec();
    encode_notification("m", b"{}", &mut out);
    assert!(out.starts_with(b"prefix{\"jsonrpc\""));
}

#[test]
fn every_ascii_control_and_unicode_string_round_trips() {
    let mut nasty: String = (0u8..=0x7f).map(char::from).collect();
    nasty.push_str("\u{2028}\u{2029}é😀\\\"\\u0000");
    let base =
        ErrorBody { code: 1, frame_code: &nasty, message: &nasty, retryable: false, retry_after_ms: None, data: None };
    for dialect in [Dialect::Frames, Dialect::JsonRpc] {
        let v: Value = serde_json::from_str(&encoded(|o| encode_error(dialect, None, &base, o))).expect("JSON");
        assert_eq!(v["error"]["message"].as_str(), Some(nasty.as_str()));
        if dialect == Dialect::Frames {
            assert_eq!(v["error"]["code"].as_str(), Some(nasty.as_str()));
        }
    }
    let v: Value = serde_json::from_str(&encoded(|o| encode_event(&nasty, 0, b"0", o))).expect("JSON");
    assert_eq!(v["event"].as_str(), Some(nasty.as_str()));
    let v: Value = serde_json::from_str(&encoded(|o| encode_notification(&nasty, b"{}", o))).expect("JSON");
    assert_eq!(v["method"].as_str(), Some(nasty.as_str()));
    // Short escapes where JSON has them, \u00XX otherwise.
    assert_eq!(
        encoded(|o| encode_notification("\n\t\u{1}\u{1f}", b"{}", o)),
        r#"{"jsonrpc":"2.0","method":"\n\t\u0001\u001f","params":{}}"#
    );
}
