//! The properties the fuzz targets check, shared with `tests/fuzz_corpus.rs` (which includes
//! this file with `#[path]`), so `cargo test` on stable replays the corpora through exactly the
//! checks `cargo fuzz` runs. Every check panics on a violation; nothing else may panic.

mod chat_request;
mod embeddings;
mod outbound_response;
mod provider_stream;
mod webhook_body;

use std::collections::HashMap;

pub use chat_request::check_chat_request;
pub use embeddings::check_embeddings;
pub use outbound_response::check_outbound_response;
pub use provider_stream::check_provider_stream;
use serde_json::value::RawValue;
use talon::protocol::http1::{BodyDecoder, BodyFraming, HeadLimits, ParseError, Progress, RequestHead, parse_head};
use talon::protocol::jsonrpc::{
    Call, DecodeError, Dialect, ErrorBody, Inbound, Rejected, decode, decode_str, encode_error,
    encode_event as encode_rpc_event, encode_notification, encode_result,
};
use talon::protocol::sse::{StreamParser, encode_comment, encode_event, encode_ping, parse_stream};
pub use webhook_body::{check_webhook_body, split_webhook_body_input};

/// Tight limits, so the fuzzer reaches every size-limit branch with short inputs.
pub const SMALL_LIMITS: HeadLimits = HeadLimits { max_request_line_bytes: 64, max_header_bytes: 256, max_headers: 4 };

/// Body limits for the body targets: (max_body, max_trailer_bytes). The first is small enough
/// that `BodyTooLarge` and `TrailersTooLarge` are reachable in a few bytes.
pub const BODY_LIMITS: [(u64, usize); 2] = [(64, 16), (1 << 20, 8192)];

/// Longest input also decoded one byte per call (the cost is one call per byte).
const BYTEWISE_MAX: usize = 4096;

/// `parse_head` must never panic; a head it returns must fit in the input and the limits;
/// `Ok(None)` (need more bytes) is only allowed while the input is within `max_header_bytes`;
/// the head alone and any prefix of it must parse consistently; and anything accepted under
/// tight limits must be accepted identically under the default ones.
pub fn check_head(data: &[u8]) {
    let default = HeadLimits::default();
    let small = check_head_with(data, &SMALL_LIMITS);
    let full = check_head_with(data, &default);
    if let Some((head, n)) = small {
        let (full_head, full_n) = full.expect("accepted with small limits, rejected with default");
        assert_eq!(n, full_n, "head length depends on the limits");
        assert_eq!(summary(&head), summary(&full_head), "parsed head depends on the limits");
    }
}

/// One pass of [`check_head`] under `limits`; returns the head when it parsed.
fn check_head_with(data: &[u8], limits: &HeadLimits) -> Option<(RequestHead, usize)> {
    match parse_head(data, limits) {
        Ok(Some((head, n))) => {
            assert!(n > 0 && n <= data.len(), "head length {n} outside 1..={}", data.len());
            assert!(n <= limits.max_header_bytes, "head of {n} bytes passed max_header_bytes");
            assert!(head.header_count() <= limits.max_headers, "more headers than max_headers");
            exercise(&head);
            if head.framing == BodyFraming::Chunked {
                assert!(head.header("transfer-encoding").is_some(), "chunked without Transfer-Encoding");
                assert!(head.header("content-length").is_none(), "chunked together with Content-Length");
            }
            // The head is self-delimiting: parsing exactly its bytes gives the same head...
            let head_bytes = data.get(..n).unwrap_or_default();
            match parse_head(head_bytes, limits) {
                Ok(Some((again, m))) => {
                    assert_eq!(m, n, "head re-parsed alone has another length");
                    assert_eq!(summary(&again), summary(&head), "head re-parsed alone differs");
                }
                other => panic!("head re-parsed alone gave {other:?}"),
            }
            // ...and a strict prefix of it only ever asks for more bytes (a client that sends
            // its head in two segments must never be rejected for it). One data-derived cut.
            let cut = usize::from(data.first().copied().unwrap_or_default()) * n / 256;
            let prefix = data.get(..cut).unwrap_or_default();
            match parse_head(prefix, limits) {
                Ok(None) => {}
                other => panic!("prefix of {cut}/{n} bytes of a valid head gave {other:?}"),
            }
            Some((head, n))
        }
        Ok(None) => {
            assert!(
                data.len() <= limits.max_header_bytes,
                "asked for more bytes after {} > max_header_bytes {}",
                data.len(),
                limits.max_header_bytes
            );
            None
        }
        Err(e) => {
            assert!(!e.message().is_empty());
            assert!(!e.to_string().is_empty());
            None
        }
    }
}

/// Call every accessor once: none may panic, and their answers must be consistent.
fn exercise(head: &RequestHead) {
    let target = head.target();
    let path = head.path();
    assert!(!target.is_empty(), "empty request target accepted");
    assert!(path.len() <= target.len(), "path longer than the target");
    if let Some(q) = head.query() {
        assert!(q.len() < target.len(), "query longer than the target");
    }
    assert!(!head.method_str().is_empty(), "empty method accepted");
    let mut n = 0;
    for (name, value) in head.headers() {
        assert!(!name.is_empty(), "empty header name accepted");
        assert!(!value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0), "CR, LF or NUL in an accepted value");
        n += 1;
    }
    assert_eq!(n, head.header_count());
}

/// The parts of a head that must not depend on how or under which limits it was parsed.
fn summary(head: &RequestHead) -> impl PartialEq + std::fmt::Debug {
    (
        head.method,
        head.version,
        head.framing,
        head.keep_alive,
        head.expect_continue,
        head.upgrade,
        head.target().to_owned(),
        head.headers().map(|(n, v)| (n.to_owned(), v.to_vec())).collect::<Vec<_>>(),
    )
}

/// Input layout for the body target: byte 0 picks the split point, byte 1 the limits and the
/// framing (even: chunked, odd: Content-Length of a data-derived size), the rest is the body.
/// The decoder must never panic, never report more consumed bytes than it was given, never
/// stop short of the input without being done, never exceed `max_body`, and decoding whole,
/// split in two at the chosen point, and one byte per call must agree exactly on the result,
/// the bytes consumed and the decoded output.
pub fn check_chunked(data: &[u8]) {
    let (Some(&split_sel), Some(&mode)) = (data.first(), data.get(1)) else { return };
    let input = data.get(2..).unwrap_or_default();
    let (max_body, max_trailer) = BODY_LIMITS[usize::from(mode >> 1) % BODY_LIMITS.len()];
    let new_decoder = || -> Option<BodyDecoder> {
        if mode & 1 == 0 {
            Some(BodyDecoder::chunked(max_body, max_trailer))
        } else {
            // A length from the tail of the input, so it can be under, at or over max_body.
            let len = u64::from(input.last().copied().unwrap_or_default()) % (max_body.min(255) + 2);
            match BodyDecoder::length(len, max_body) {
                Ok(d) => Some(d),
                Err(e) => {
                    assert_eq!(e, ParseError::BodyTooLarge);
                    assert!(len > max_body, "length {len} within max_body {max_body} refused");
                    None
                }
            }
        }
    };
    let Some(mut whole_dec) = new_decoder() else { return };
    let mut whole_out = Vec::new();
    let whole = whole_dec.decode(input, &mut whole_out);
    check_progress(&whole, input.len());
    assert!(whole_out.len() as u64 <= max_body, "decoded {} bytes past max_body {max_body}", whole_out.len());
    if let (Ok(p), BodyDecoder::Chunked(c)) = (&whole, &whole_dec) {
        assert!(whole_out.len() as u64 <= c.decoded_len());
        if p.done {
            assert_eq!(whole_out.len() as u64, c.decoded_len(), "decoded_len disagrees with the output");
        }
    }

    let cut = usize::from(split_sel) * input.len() / 255;
    let mut split_dec = new_decoder().expect("decoder was constructible a moment ago");
    let mut split_out = Vec::new();
    let split = feed(
        &mut split_dec,
        &[input.get(..cut).unwrap_or_default(), input.get(cut..).unwrap_or_default()],
        &mut split_out,
    );
    assert_eq!(whole, split, "whole vs split at {cut}/{}: result differs", input.len());
    assert_eq!(whole_out, split_out, "whole vs split at {cut}/{}: output differs", input.len());

    if input.len() <= BYTEWISE_MAX {
        let mut byte_dec = new_decoder().expect("decoder was constructible a moment ago");
        let mut byte_out = Vec::new();
        let pieces: Vec<&[u8]> = input.chunks(1).collect();
        let bytewise = feed(&mut byte_dec, &pieces, &mut byte_out);
        assert_eq!(whole, bytewise, "whole vs bytewise: result differs");
        assert_eq!(whole_out, byte_out, "whole vs bytewise: output differs");
    }
}

/// `Ok(not done)` means every byte was used; `Ok(done)` never claims more than it was given.
fn check_progress(r: &Result<Progress, ParseError>, len: usize) {
    if let Ok(p) = r {
        assert!(p.consumed <= len, "consumed {} of {len}", p.consumed);
        if !p.done {
            assert_eq!(p.consumed, len, "stopped at {} of {len} without being done", p.consumed);
        }
    }
}

/// Feed `pieces` in order, as a connection would, until done or an error; the total consumed
/// counts across pieces, as one call over their concatenation would.
fn feed(dec: &mut BodyDecoder, pieces: &[&[u8]], out: &mut Vec<u8>) -> Result<Progress, ParseError> {
    let mut consumed = 0;
    let mut last = Progress { consumed: 0, done: false };
    // No pieces is one call with nothing, as `decode(&[])` on the whole (empty) input.
    let pieces = if pieces.is_empty() { &[&[][..]][..] } else { pieces };
    for piece in pieces {
        let p = dec.decode(piece, out);
        check_progress(&p, piece.len());
        let p = p?;
        consumed += p.consumed;
        last = Progress { consumed, done: p.done };
        if p.done {
            break;
        }
    }
    Ok(last)
}

/// Split an `sse_encode` input into (id, event name, data). Layout: byte 0 is flags (bit 0: the
/// id is present, bit 1: the name is present), bytes 1..9 the id (little-endian, zero-padded
/// when short), byte 9 the name length, then the name (lossy UTF-8) and the data (the rest).
#[must_use]
pub fn split_sse_input(data: &[u8]) -> (Option<u64>, Option<String>, &[u8]) {
    let flags = data.first().copied().unwrap_or_default();
    let mut id = [0u8; 8];
    for (dst, src) in id.iter_mut().zip(data.get(1..9).unwrap_or_default()) {
        *dst = *src;
    }
    let name_len = usize::from(data.get(9).copied().unwrap_or_default());
    let rest = data.get(10..).unwrap_or_default();
    let (name, payload) = rest.split_at(name_len.min(rest.len()));
    let id = (flags & 1 != 0).then(|| u64::from_le_bytes(id));
    let name = (flags & 2 != 0).then(|| String::from_utf8_lossy(name).into_owned());
    (id, name, payload)
}

/// `encode_event` followed by a WHATWG parse must give back exactly one event with the same
/// id, the data with its line breaks normalised to `\n`, and the name minus CR, LF and NUL
/// (`message` when nothing is left). The encoded block must contain no CR, end in its only
/// blank line and consist of `event: `, `data: ` and `id: ` lines alone; parsing it in two
/// pieces must agree with parsing it whole; the same data as a comment must dispatch nothing;
/// and a ping between two copies of the event must give three events.
pub fn check_sse_encode(data: &[u8]) {
    let (id, name, payload) = split_sse_input(data);
    let mut out = Vec::new();
    encode_event(&mut out, id, name.as_deref(), payload);

    assert!(!out.contains(&b'\r'), "CR on the wire");
    let body = out.strip_suffix(b"\n\n").expect("block does not end in a blank line");
    assert!(!body.windows(2).any(|w| w == b"\n\n"), "blank line inside the block");
    for line in body.split(|&b| b == b'\n') {
        assert!(
            line.starts_with(b"event: ") || line.starts_with(b"data: ") || line.starts_with(b"id: "),
            "unexpected line {:?}",
            String::from_utf8_lossy(line)
        );
    }

    let events = parse_stream(&out);
    let [event] = events.as_slice() else { panic!("{} events parsed, want 1", events.len()) };
    assert_eq!(event.id, id.map(|n| n.to_string()).unwrap_or_default(), "id changed");
    assert_eq!(event.data, normalise_line_breaks(payload), "data changed");
    assert!(!event.event.contains(['\r', '\n', '\0']), "CR, LF or NUL in the event name");
    let clean: String = name.unwrap_or_default().chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')).collect();
    assert_eq!(event.event, if clean.is_empty() { "message" } else { clean.as_str() }, "name changed");

    let cut = usize::from(data.first().copied().unwrap_or_default() >> 2) * out.len() / 64;
    let (a, b) = out.split_at(cut.min(out.len()));
    let mut p = StreamParser::new();
    let mut pieces = p.feed(a);
    pieces.extend(p.feed(b));
    assert_eq!(pieces, events, "split parse at {cut} differs");

    let mut comment = Vec::new();
    encode_comment(&mut comment, &String::from_utf8_lossy(payload));
    let mut p = StreamParser::new();
    assert!(p.feed(&comment).is_empty(), "a comment dispatched an event");

    let mut three = out.clone();
    encode_ping(&mut three);
    three.extend_from_slice(&out);
    let events = parse_stream(&three);
    assert_eq!(events.len(), 3, "event, ping, event parsed as {} events", events.len());
    assert_eq!(events.get(1).map(|e| e.event.as_str()), Some("ping"));
}

/// `\r\n` and lone `\r` become `\n`, as an SSE client sees data lines joined.
#[must_use]
pub fn normalise_line_breaks(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut it = data.iter().peekable();
    while let Some(&b) = it.next() {
        if b == b'\r' {
            if it.peek() == Some(&&b'\n') {
                it.next();
            }
            out.push(b'\n');
        } else {
            out.push(b);
        }
    }
    out
}

/// Batch limit for the JSON-RPC target: the production default, so the seeds' 51-element batch
/// hits `BatchTooLarge`.
pub const JSONRPC_MAX_BATCH: usize = 50;

/// `decode` must never panic and must agree with `decode_str` on UTF-8 input; every call it
/// returns must obey its dialect's rules (non-empty method; Frames: string/number id and object
/// params; JSON-RPC: string/number/null id, object/array params; batch elements are JSON-RPC);
/// batches hold 1..=max elements and a refused batch says why truthfully; and every reply
/// encoded from a call or rejection (result, error with the method or message as text and the
/// params as data, event, notification) must be valid JSON that echoes the id byte-for-byte.
pub fn check_jsonrpc(data: &[u8]) {
    let inbound = decode(data, JSONRPC_MAX_BATCH);
    match std::str::from_utf8(data) {
        Ok(text) => assert_eq!(decode_str(text, JSONRPC_MAX_BATCH), inbound, "decode and decode_str disagree"),
        Err(_) => {
            assert_eq!(inbound, Inbound::Single(Err(Rejected { dialect: None, id: None, error: DecodeError::NotUtf8 })))
        }
    }
    match &inbound {
        Inbound::Single(item) => check_rpc_item(item, false),
        Inbound::Batch(items) => {
            assert!(!items.is_empty() && items.len() <= JSONRPC_MAX_BATCH, "batch of {} accepted", items.len());
            for item in items {
                check_rpc_item(item, true);
            }
        }
        Inbound::BatchRejected(rejected) => {
            assert_eq!(rejected.dialect, Some(Dialect::JsonRpc));
            match rejected.error {
                DecodeError::EmptyBatch => {}
                DecodeError::BatchTooLarge { len, max } => {
                    assert!(len > max && max == JSONRPC_MAX_BATCH, "refused a batch of {len} with max {max}")
                }
                other => panic!("batch refused with {other:?}"),
            }
            check_rpc_item(&Err(*rejected), false);
        }
    }
}

fn check_rpc_item(item: &Result<Call<'_>, Rejected<'_>>, in_batch: bool) {
    let mut body = ErrorBody {
        code: -32600,
        frame_code: "INVALID_REQUEST",
        message: "",
        retryable: true,
        retry_after_ms: Some(1000),
        data: None,
    };
    match item {
        Ok(call) => {
            assert!(!call.method.is_empty(), "empty method accepted");
            let id_first = call.id.and_then(|id| id.get().bytes().next());
            let params_first = call.params.and_then(|p| p.get().bytes().next());
            match call.dialect {
                Dialect::Frames => {
                    assert!(!in_batch, "Frames call inside a batch");
                    assert!(matches!(id_first, Some(b'"' | b'-' | b'0'..=b'9')), "Frames id {:?}", call.id);
                    assert!(matches!(params_first, None | Some(b'{')), "Frames params {:?}", call.params);
                }
                Dialect::JsonRpc => {
                    assert!(matches!(id_first, None | Some(b'"' | b'-' | b'0'..=b'9' | b'n')), "id {:?}", call.id);
                    assert!(matches!(params_first, None | Some(b'{' | b'[')), "params {:?}", call.params);
                }
            }
            let mut out = Vec::new();
            encode_result(call.dialect, call.id, b"{}", &mut out);
            assert_reply(&out, call.id);
            // The method as message and code exercises the escaper with peer-chosen text.
            body.message = &call.method;
            body.frame_code = &call.method;
            body.data = call.params;
            out.clear();
            encode_error(call.dialect, call.id, &body, &mut out);
            assert_reply(&out, call.id);
            let params = call.params.map_or(&b"{}"[..], |p| p.get().as_bytes());
            out.clear();
            encode_rpc_event(&call.method, u64::MAX, params, &mut out);
            assert_json(&out);
            out.clear();
            encode_notification(&call.method, params, &mut out);
            assert_json(&out);
        }
        Err(rejected) => {
            let message = rejected.error.message();
            assert!(!message.is_empty(), "empty message for {:?}", rejected.error);
            if in_batch {
                assert_eq!(rejected.dialect, Some(Dialect::JsonRpc), "batch element in another dialect");
            }
            if let Some(id) = rejected.id {
                assert!(matches!(id.get().bytes().next(), Some(b'"' | b'-' | b'0'..=b'9' | b'n')), "id {id:?}");
            }
            body.message = &message;
            for dialect in [Dialect::Frames, Dialect::JsonRpc] {
                let mut out = Vec::new();
                encode_error(rejected.dialect.unwrap_or(dialect), rejected.id, &body, &mut out);
                assert_reply(&out, rejected.id);
            }
        }
    }
}

/// A reply is a JSON object whose `id` member is the request's id, byte-for-byte (`null` if none).
/// Members are read as raw values, so ids like `1e400` are compared as text, not refused.
fn assert_reply(out: &[u8], id: Option<&RawValue>) {
    let members: HashMap<String, Box<RawValue>> = match serde_json::from_slice(out) {
        Ok(m) => m,
        Err(e) => panic!("reply is not a JSON object ({e}): {}", String::from_utf8_lossy(out)),
    };
    let echoed = members.get("id").map(|v| v.get());
    assert_eq!(echoed, Some(id.map_or("null", RawValue::get)), "id not echoed: {}", String::from_utf8_lossy(out));
}

fn assert_json(out: &[u8]) {
    if let Err(e) = serde_json::from_slice::<&RawValue>(out) {
        panic!("output is not JSON ({e}): {}", String::from_utf8_lossy(out));
    }
}

/// Secrets the `webhook_verify` check configures (the published vectors' secrets, so seeds built
/// from those vectors reach the accepting path).
pub mod webhook_secrets {
    /// Human `X-Signature` and GitHub/Meta `X-Hub-Signature-256`.
    pub const HUB: &[u8] = b"It's a Secret to Everybody";
    /// Slack signing secret.
    pub const SLACK: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    /// Standard Webhooks secret.
    pub const STANDARD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    /// LINE channel secret.
    pub const LINE: &[u8] = b"channel_secret_example";
    /// Telegram secret token.
    pub const TELEGRAM: &[u8] = b"s3cr3t_Token-1";
    /// Comis HMAC secret.
    pub const COMIS: &[u8] = b"comis-secret-at-least-32-characters-long";
    /// Lark Encrypt Key (the Feishu documentation's).
    pub const LARK: &[u8] = b"test key";
    /// Discord application public key: RFC 8032 TEST 1.
    pub const DISCORD_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    /// Its secret key, used only by the oracle to produce the one signature it accepts.
    pub const DISCORD_SECRET: [u8; 32] = [
        0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49,
        0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
    ];
}

/// The fields a `webhook_verify` input encodes; see [`split_webhook_input`].
#[derive(Debug)]
pub struct WebhookInput<'a> {
    /// Signature (or token) header value; `None` = header absent.
    pub signature: Option<&'a [u8]>,
    /// Timestamp header value; `None` = header absent.
    pub timestamp: Option<&'a [u8]>,
    /// Standard Webhooks `webhook-id`; `None` = header absent.
    pub id: Option<&'a [u8]>,
    /// The verifiers' clock.
    pub now: u64,
    /// Raw body.
    pub body: &'a [u8],
}

/// Clock used when the input does not ask for one next to its timestamp.
pub const WEBHOOK_DEFAULT_NOW: u64 = 1_700_000_000;

/// Decodes `[flags][sig len][sig][ts len][ts][id len][id][body…]`. Flags bit 0/1/2: the
/// signature / timestamp / id header is present; bit 3: `now` = the timestamp's value plus
/// `(flags >> 4) * 43 - 320` seconds (so inputs land inside, on and outside the 300 s window),
/// else [`WEBHOOK_DEFAULT_NOW`]. Short inputs just yield shorter (or empty) fields.
#[must_use]
pub fn split_webhook_input(data: &[u8]) -> WebhookInput<'_> {
    let flags = data.first().copied().unwrap_or(0);
    let mut rest = data.get(1..).unwrap_or_default();
    let mut field = || {
        let len = usize::from(rest.first().copied().unwrap_or(0));
        let after = rest.get(1..).unwrap_or_default();
        let (value, tail) = after.split_at(len.min(after.len()));
        rest = tail;
        value
    };
    let (sig, ts, id) = (field(), field(), field());
    let body = rest;
    let timestamp = (flags & 2 != 0).then_some(ts);
    let now = match timestamp.and_then(|t| std::str::from_utf8(t).ok()?.parse::<u64>().ok()) {
        Some(t) if flags & 8 != 0 => t.saturating_add(u64::from(flags >> 4) * 43).saturating_sub(320),
        _ => WEBHOOK_DEFAULT_NOW,
    };
    WebhookInput {
        signature: (flags & 1 != 0).then_some(sig),
        timestamp,
        id: (flags & 4 != 0).then_some(id),
        now,
        body,
    }
}

/// Feeds one input to every webhook verifier: none may panic, and an acceptance must be
/// confirmed by an independent oracle (the `hmac`/`sha2`/`base64` crates used directly, the one
/// deterministic Ed25519 signature for Discord, re-encryption for Lark decryption, and the timestamp window recomputed), so no verifier ever accepts a signature that is not genuine.
/// Returns which verifiers accepted, by name, for the named-seed tests.
pub fn check_webhook(data: &[u8]) -> Vec<&'static str> {
    use talon::webhook::{Algorithm, comis, discord, hmac_hex, lark, line, slack, standard, telegram};
    use webhook_secrets as s;

    let input = split_webhook_input(data);
    let WebhookInput { signature, timestamp, id, now, body } = input;
    let sig = signature.unwrap_or_default();
    let mut accepted = Vec::new();

    if hmac_hex::verify_bare(body, signature, s::HUB).is_ok() {
        assert!(hex_eq(sig, &oracle_hmac(s::HUB, &[body], 256)), "human_hex accepted a wrong signature");
        accepted.push("human_hex");
    }
    if hmac_hex::verify_sha256_prefixed(body, signature, s::HUB).is_ok() {
        let hex = sig.strip_prefix(b"sha256=").expect("hub accepted without sha256=");
        assert!(hex_eq(hex, &oracle_hmac(s::HUB, &[body], 256)), "hub_sha256 accepted a wrong signature");
        accepted.push("hub_sha256");
    }
    if slack::verify(body, signature, timestamp, s::SLACK, now).is_ok() {
        let ts = timestamp.expect("slack accepted without a timestamp");
        assert!(in_window(ts, now, 300), "slack accepted a timestamp outside the window");
        let hex = sig.strip_prefix(b"v0=").expect("slack accepted without v0=");
        assert!(
            hex_eq(hex, &oracle_hmac(s::SLACK, &[b"v0:", ts, b":", body], 256)),
            "slack accepted a wrong signature"
        );
        accepted.push("slack");
    }
    if standard::verify(body, id, timestamp, signature, s::STANDARD, now).is_ok() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let ts = timestamp.expect("standard accepted without a timestamp");
        assert!(in_window(ts, now, 300), "standard accepted a timestamp outside the window");
        let key = b64.decode(s::STANDARD.trim_start_matches("whsec_")).expect("test secret is base64");
        let id = id.expect("standard accepted without an id");
        let want = format!("v1,{}", b64.encode(oracle_hmac(&key, &[id, b".", ts, b".", body], 256)));
        assert!(sig.split(|&c| c == b' ').any(|e| e == want.as_bytes()), "standard accepted no genuine entry");
        accepted.push("standard");
    }
    if line::verify(body, signature, s::LINE).is_ok() {
        use base64::Engine as _;
        let want = base64::engine::general_purpose::STANDARD.encode(oracle_hmac(s::LINE, &[body], 256));
        assert_eq!(sig, want.as_bytes(), "line accepted a wrong signature");
        accepted.push("line");
    }
    if telegram::verify(signature, s::TELEGRAM).is_ok() {
        assert_eq!(sig, s::TELEGRAM, "telegram accepted a wrong token");
        accepted.push("telegram");
    }
    /// (name, algorithm, oracle digest bits, prefix, timestamp required)
    type ComisVariant = (&'static str, Algorithm, u16, Option<&'static [u8]>, bool);
    // Lark: the id field is the nonce.
    if lark::verify_signature(body, signature, timestamp, id, s::LARK, now).is_ok() {
        use sha2::Digest as _;
        let ts = timestamp.expect("lark accepted without a timestamp");
        assert!(in_window(ts, now, 300), "lark accepted a timestamp outside the window");
        let nonce = id.expect("lark accepted without a nonce");
        let want = sha2::Sha256::digest([ts, nonce, s::LARK, body].concat());
        assert!(hex_eq(sig, &want), "lark accepted a wrong signature");
        accepted.push("lark");
    }
    // The body doubles as a Lark `encrypt` field: decryption must not panic, and whatever it
    // returns must encrypt back to the same ciphertext under the same key and IV.
    if let Ok(plain) = lark::decrypt(body, s::LARK) {
        use base64::Engine as _;
        use cbc::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
        use sha2::Digest as _;
        let raw = base64::engine::general_purpose::STANDARD.decode(body).expect("decrypt accepted non-base64");
        let (iv, ciphertext) = raw.split_at(16);
        let key = sha2::Sha256::digest(s::LARK);
        let enc = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, iv).expect("fixed key and IV sizes");
        let mut buf = plain.clone();
        buf.resize(plain.len() + 16, 0);
        let again = enc.encrypt_padded_mut::<Pkcs7>(&mut buf, plain.len()).expect("buffer has a block spare");
        assert_eq!(again, ciphertext, "lark decrypt is not the inverse of encrypt");
    }
    let discord_key = discord::DiscordKey::from_hex(s::DISCORD_PUBLIC).expect("RFC 8032 key parses");
    if discord::verify(body, signature, timestamp, &discord_key, now).is_ok() {
        use ed25519_dalek::Signer as _;
        let ts = timestamp.expect("discord accepted without a timestamp");
        assert!(in_window(ts, now, 300), "discord accepted a timestamp outside the window");
        // Ed25519 signing is deterministic: without the secret key nobody can make another
        // valid signature, so the fuzzer can only ever present this one.
        let genuine = ed25519_dalek::SigningKey::from_bytes(&s::DISCORD_SECRET).sign(&[ts, body].concat());
        assert!(hex_eq(sig, &genuine.to_bytes()), "discord accepted a signature it did not make");
        accepted.push("discord");
    }
    let comis_variants: [ComisVariant; 4] = [
        ("comis_sha256", Algorithm::Sha256, 256, None, false),
        ("comis_sha384", Algorithm::Sha384, 384, None, false),
        ("comis_sha512_prefixed", Algorithm::Sha512, 512, Some(b"sha512="), false),
        ("comis_sha256_ts_required", Algorithm::Sha256, 256, None, true),
    ];
    for (name, algorithm, bits, prefix, require_timestamp) in comis_variants {
        let mut cfg = comis::ComisConfig::new(s::COMIS);
        cfg.algorithm = algorithm;
        cfg.prefix = prefix;
        cfg.require_timestamp = require_timestamp;
        if comis::verify(body, signature, timestamp, &cfg, now).is_ok() {
            if let Some(ts) = timestamp {
                assert!(in_window(ts, now, 300), "{name} accepted a timestamp outside the window");
            }
            assert!(!require_timestamp || timestamp.is_some(), "{name} accepted without a required timestamp");
            let hex = match prefix {
                Some(p) => sig.strip_prefix(p).expect("comis accepted without its prefix"),
                None => sig,
            };
            assert!(hex_eq(hex, &oracle_hmac(s::COMIS, &[body], bits)), "{name} accepted a wrong signature");
            accepted.push(name);
        }
    }
    accepted
}

/// HMAC-SHA-`bits` computed with the `hmac` crate directly (the oracle, not talon's helper).
fn oracle_hmac(key: &[u8], parts: &[&[u8]], bits: u16) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match bits {
        256 => run::<Hmac<sha2::Sha256>>(key, parts),
        384 => run::<Hmac<sha2::Sha384>>(key, parts),
        _ => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// Hex text (either case) equals `bytes`.
fn hex_eq(text: &[u8], bytes: &[u8]) -> bool {
    let want: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    text.eq_ignore_ascii_case(want.as_bytes())
}

/// `ts` is all digits and within `window` seconds of `now`.
fn in_window(ts: &[u8], now: u64, window: u64) -> bool {
    !ts.is_empty()
        && ts.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(ts).ok().and_then(|t| t.parse::<u64>().ok()).is_some_and(|t| t.abs_diff(now) <= window)
}
