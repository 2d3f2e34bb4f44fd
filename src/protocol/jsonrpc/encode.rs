//! Encoding replies, events and notifications for both dialects, straight into a byte buffer.
//!
//! Guarantees: every function appends exactly one JSON text to `out` (never clears it, so one
//! buffer can be reused); every string argument is JSON-escaped (quotes, backslashes and all
//! control characters); ids are copied byte-for-byte from the request; payloads are copied
//! verbatim and must be one valid JSON value, except that an empty payload is written as `null`
//! so a forgotten body cannot produce invalid JSON. Integers use the HTTP layer's `push_u64`.

use serde_json::value::RawValue;

use super::{Dialect, ErrorBody};
use crate::protocol::http1::response::push_u64;

/// Write a success reply: Frames `{"type":"res","id":…,"ok":true,"payload":…}`, JSON-RPC
/// `{"jsonrpc":"2.0","result":…,"id":…}`. `id` `None` is written as `null`.
pub fn encode_result(dialect: Dialect, id: Option<&RawValue>, payload_json: &[u8], out: &mut Vec<u8>) {
    match dialect {
        Dialect::Frames => {
            out.extend_from_slice(b"{\"type\":\"res\",\"id\":");
            push_id(out, id);
            out.extend_from_slice(b",\"ok\":true,\"payload\":");
            push_json(out, payload_json);
            out.push(b'}');
        }
        Dialect::JsonRpc => {
            out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"result\":");
            push_json(out, payload_json);
            out.extend_from_slice(b",\"id\":");
            push_id(out, id);
            out.push(b'}');
        }
    }
}

/// Write an error reply. Frames: `{"type":"res","id":…,"ok":false,"error":{"code":<frame_code>,
/// "message":…,"retryable":…[,"retryAfterMs":N][,"details":<data>]}}`. JSON-RPC:
/// `{"jsonrpc":"2.0","error":{"code":<code>,"message":…[,"data":<data>]},"id":…}`.
/// `id` `None` is written as `null`.
pub fn encode_error(dialect: Dialect, id: Option<&RawValue>, err: &ErrorBody<'_>, out: &mut Vec<u8>) {
    match dialect {
        Dialect::Frames => {
            out.extend_from_slice(b"{\"type\":\"res\",\"id\":");
            push_id(out, id);
            out.extend_from_slice(b",\"ok\":false,\"error\":{\"code\":");
            push_str(out, err.frame_code);
            out.extend_from_slice(b",\"message\":");
            push_str(out, err.message);
            out.extend_from_slice(if err.retryable { b",\"retryable\":true" } else { b",\"retryable\":false" });
            if let Some(ms) = err.retry_after_ms {
                out.extend_from_slice(b",\"retryAfterMs\":");
                push_u64(out, ms);
            }
            if let Some(data) = err.data {
                out.extend_from_slice(b",\"details\":");
                push_json(out, data.get().as_bytes());
            }
            out.extend_from_slice(b"}}");
        }
        Dialect::JsonRpc => {
            out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":");
            push_i32(out, err.code);
            out.extend_from_slice(b",\"message\":");
            push_str(out, err.message);
            if let Some(data) = err.data {
                out.extend_from_slice(b",\"data\":");
                push_json(out, data.get().as_bytes());
            }
            out.extend_from_slice(b"},\"id\":");
            push_id(out, id);
            out.push(b'}');
        }
    }
}

/// Write a Frames server push: `{"type":"event","event":…,"payload":…,"seq":N}`.
pub fn encode_event(event: &str, seq: u64, payload_json: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"type\":\"event\",\"event\":");
    push_str(out, event);
    out.extend_from_slice(b",\"payload\":");
    push_json(out, payload_json);
    out.extend_from_slice(b",\"seq\":");
    push_u64(out, seq);
    out.push(b'}');
}

/// Write a JSON-RPC server notification: `{"jsonrpc":"2.0","method":…,"params":…}`.
pub fn encode_notification(method: &str, params_json: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":");
    push_str(out, method);
    out.extend_from_slice(b",\"params\":");
    push_json(out, params_json);
    out.push(b'}');
}

/// Write a JSON-RPC batch reply `[a,b,c]` from already encoded replies. An empty `items`
/// writes `[]`, which JSON-RPC forbids as a reply: when every call was a notification, the
/// caller sends nothing instead.
pub fn encode_batch<T: AsRef<[u8]>>(items: &[T], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.as_ref());
    }
    out.push(b']');
}

fn push_id(out: &mut Vec<u8>, id: Option<&RawValue>) {
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
}

fn push_json(out: &mut Vec<u8>, json: &[u8]) {
    out.extend_from_slice(if json.is_empty() { b"null" } else { json });
}

fn push_i32(out: &mut Vec<u8>, n: i32) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, u64::from(n.unsigned_abs()));
}

/// Escapes for bytes below 0x20; 0 means "use \u00XX".
const SHORT_ESCAPE: [u8; 32] =
    [0, 0, 0, 0, 0, 0, 0, 0, b'b', b't', b'n', 0, b'f', b'r', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Write `s` as a quoted JSON string. Only ASCII bytes ever need escaping and UTF-8 continuation
/// bytes are all >= 0x80, so a byte scan copies multi-byte characters through untouched.
pub(super) fn push_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        start = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => match SHORT_ESCAPE.get(usize::from(b)).copied().unwrap_or(0) {
                0 => {
                    let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
                    let lo = HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0');
                    out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hi, lo]);
                }
                short => out.extend_from_slice(&[b'\\', short]),
            },
        }
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}
