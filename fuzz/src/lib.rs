//! The properties the fuzz targets check, shared with `tests/fuzz_corpus.rs` (which includes
//! this file with `#[path]`), so `cargo test` on stable replays the corpora through exactly the
//! checks `cargo fuzz` runs. Every check panics on a violation; nothing else may panic.

use talon::protocol::http1::{BodyDecoder, BodyFraming, HeadLimits, ParseError, Progress, RequestHead, parse_head};
use talon::protocol::sse::{StreamParser, encode_comment, encode_event, encode_ping, parse_stream};

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
