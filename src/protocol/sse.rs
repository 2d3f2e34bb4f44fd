//! Server-Sent Events wire format, sans-IO: an encoder for the server and a WHATWG parser for tests.
//!
//! Guarantees of the encoder: every `encode_*` call appends exactly one complete block that ends
//! in a blank line, so blocks can be concatenated in any order and a block written after any
//! other block starts on a fresh line. No input byte can end a block early or start a field:
//! data and comment text are split on every line break (`\r\n`, `\r`, `\n`) into one line each,
//! and an event name loses its CR, LF and NUL characters (see [`encode_event`]). Fields are
//! written in the order Hono's `writeSSE` (which Comis uses) writes them: `event`, `data`, `id`,
//! so our bytes match Comis's for the same event, and a caller can append the `id:` line last.
//!
//! [`StreamParser`] / [`parse_stream`] implement the "interpreting an event stream" rules of the
//! WHATWG HTML standard (§9.2.6) over bytes; they exist so tests and the fuzz target can check
//! what an `EventSource` would see. They never panic on any input.

use crate::protocol::http1::response::push_u64;

/// The event name [`encode_ping`] uses: `EventSource.onmessage` ignores it, and a client that
/// wants to can listen for `ping` (as Comis's dashboard does).
pub const PING_EVENT: &str = "ping";

/// Append one event: `event: NAME\n`, one `data: LINE\n` per line of `data`, `id: N\n`, then a
/// blank line.
///
/// - `data` is split on every `\r\n`, `\r` and `\n`; a client joins the lines back with `\n`,
///   so what it sees is `data` with line breaks normalised to `\n`. A lone trailing line break
///   therefore yields a trailing empty `data:` line, which a client keeps as a trailing `\n`.
///   Empty data is written as one `data: ` line (the space is removed by every parser), so the
///   event is still dispatched, with empty `data`.
/// - `event`: CR, LF and NUL are dropped from the name (they cannot be represented in an SSE
///   field, and would otherwise let a name inject fields). A name that is empty after that, or
///   `None`, writes no `event:` line, and a client sees the default type `message`.
/// - `id`: written as decimal; `None` writes no `id:` line (a client keeps its last event id).
pub fn encode_event(out: &mut Vec<u8>, id: Option<u64>, event: Option<&str>, data: &[u8]) {
    if let Some(name) = event {
        push_event_line(out, name);
    }
    push_data_lines(out, data);
    if let Some(id) = id {
        push_id_line(out, id);
    }
    out.push(b'\n');
}

/// Append `event: NAME\n` with CR, LF and NUL dropped from `name`; nothing if that leaves it empty.
pub(crate) fn push_event_line(out: &mut Vec<u8>, name: &str) {
    let clean = |b: &u8| !matches!(b, b'\r' | b'\n' | 0);
    if !name.bytes().any(|b| clean(&b)) {
        return;
    }
    out.extend_from_slice(b"event: ");
    if name.bytes().all(|b| clean(&b)) {
        out.extend_from_slice(name.as_bytes());
    } else {
        out.extend(name.bytes().filter(clean));
    }
    out.push(b'\n');
}

/// Append `id: N\n`.
pub(crate) fn push_id_line(out: &mut Vec<u8>, id: u64) {
    out.extend_from_slice(b"id: ");
    push_u64(out, id);
    out.push(b'\n');
}

/// Append `data: LINE\n` for every line of `data` (split on `\r\n`, `\r`, `\n`); at least one.
pub(crate) fn push_data_lines(out: &mut Vec<u8>, data: &[u8]) {
    push_lines(out, b"data: ", data);
}

/// Append `prefix LINE\n` for every line of `text` (split on `\r\n`, `\r`, `\n`); at least one.
fn push_lines(out: &mut Vec<u8>, prefix: &[u8], text: &[u8]) {
    let mut rest = text;
    loop {
        out.extend_from_slice(prefix);
        match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            None => {
                out.extend_from_slice(rest);
                out.push(b'\n');
                return;
            }
            Some(i) => {
                out.extend_from_slice(rest.get(..i).unwrap_or_default());
                out.push(b'\n');
                // A CR directly followed by LF is one line break, not two.
                let crlf = rest.get(i) == Some(&b'\r') && rest.get(i + 1) == Some(&b'\n');
                rest = rest.get(i + 1 + usize::from(crlf)..).unwrap_or_default();
            }
        }
    }
}

/// Append `retry: MS\n\n`: the client's reconnection delay. No event is dispatched for it.
pub fn encode_retry(out: &mut Vec<u8>, ms: u64) {
    out.extend_from_slice(b"retry: ");
    push_u64(out, ms);
    out.extend_from_slice(b"\n\n");
}

/// Append a comment block: one `: LINE\n` per line of `text` (split like event data, so the
/// text can never start a field), then a blank line. Clients ignore comments entirely; they are
/// useful as keep-alive padding that no `EventSource` listener ever sees.
pub fn encode_comment(out: &mut Vec<u8>, text: &str) {
    push_lines(out, b": ", text.as_bytes());
    out.push(b'\n');
}

/// Append the keep-alive event `event: ping\ndata: \n\n` (what Comis sends every 15 s). It has
/// no `id:` line, so it does not move the client's `Last-Event-ID`.
pub fn encode_ping(out: &mut Vec<u8>) {
    encode_event(out, None, Some(PING_EVENT), b"");
}

/// One event as an `EventSource` would dispatch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    /// The stream's last event id when this event was dispatched (`lastEventId`; sticky across
    /// events, empty if no `id:` was seen yet).
    pub id: String,
    /// The event type (`message` when the block had no or an empty `event:` field).
    pub event: String,
    /// The data lines joined with `\n`.
    pub data: Vec<u8>,
}

/// An incremental WHATWG event-stream parser: feed it bytes as they arrive, in any split.
///
/// Lines end at `\r\n`, `\r` or `\n` (a `\r` at the end of one chunk and `\n` at the start of
/// the next are one line break). An event that has not seen its blank line is never returned.
/// A leading UTF-8 byte order mark is skipped. Field values are kept as bytes; `event` and `id`
/// are converted to `String` lossily (what a UTF-8 decoder would show).
#[derive(Debug, Default)]
pub struct StreamParser {
    line: Vec<u8>,
    after_cr: bool,
    started: bool,
    data: Vec<u8>,
    event: Vec<u8>,
    last_id: Vec<u8>,
    retry: Option<u64>,
    comments: usize,
}

impl StreamParser {
    /// A parser at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Consume `bytes` and return the events they complete, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<ParsedEvent> {
        let mut events = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.process_line(&line, &mut events);
                    // Keep the allocation for the next line.
                    self.line = line;
                    self.line.clear();
                }
                _ => self.line.push(b),
            }
        }
        events
    }

    fn process_line(&mut self, line: &[u8], events: &mut Vec<ParsedEvent>) {
        let mut line = line;
        if !self.started {
            self.started = true;
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line.first() == Some(&b':') {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = line.get(i + 1..).unwrap_or_default();
                (line.get(..i).unwrap_or_default(), value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => value.clone_into(&mut self.event),
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"id" if !value.contains(&0) => value.clone_into(&mut self.last_id),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // Digits only, so the only failure is overflow; a browser would clamp too.
                self.retry = Some(std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX));
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<ParsedEvent>) {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.last() == Some(&b'\n') {
            data.pop();
        }
        let event = if event.is_empty() { "message".to_owned() } else { String::from_utf8_lossy(&event).into_owned() };
        events.push(ParsedEvent { id: String::from_utf8_lossy(&self.last_id).into_owned(), event, data });
    }

    /// The last `retry:` value seen, if any.
    #[must_use]
    pub const fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// How many comment lines were seen.
    #[must_use]
    pub const fn comments(&self) -> usize {
        self.comments
    }

    /// The last event id buffer (what a reconnect would send as `Last-Event-ID`).
    #[must_use]
    pub fn last_event_id(&self) -> String {
        String::from_utf8_lossy(&self.last_id).into_owned()
    }
}

/// Parse a whole stream at once; an unterminated final event is dropped, as a client drops it
/// when the connection ends.
#[must_use]
pub fn parse_stream(bytes: &[u8]) -> Vec<ParsedEvent> {
    StreamParser::new().feed(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (id, event name, data, expected) rows.
    type Case<'a, T> = (Option<u64>, Option<&'a str>, &'a [u8], T);

    fn event(id: Option<u64>, name: Option<&str>, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_event(&mut out, id, name, data);
        out
    }

    fn parsed(id: &str, event: &str, data: &[u8]) -> ParsedEvent {
        ParsedEvent { id: id.to_owned(), event: event.to_owned(), data: data.to_vec() }
    }

    #[test]
    fn encode_event_wire_bytes() {
        let cases: &[Case<&[u8]>] = &[
            (Some(1), Some("message:sent"), b"{\"a\":1}", b"event: message:sent\ndata: {\"a\":1}\nid: 1\n\n"),
            (None, None, b"x", b"data: x\n\n"),
            (None, None, b"", b"data: \n\n"),
            (Some(0), None, b"", b"data: \nid: 0\n\n"),
            (Some(u64::MAX), None, b"a", b"data: a\nid: 18446744073709551615\n\n"),
            (None, None, b"a\nb", b"data: a\ndata: b\n\n"),
            (None, None, b"a\rb", b"data: a\ndata: b\n\n"),
            (None, None, b"a\r\nb", b"data: a\ndata: b\n\n"),
            (None, None, b"a\n\rb", b"data: a\ndata: \ndata: b\n\n"),
            (None, None, b"a\r\r\nb", b"data: a\ndata: \ndata: b\n\n"),
            (None, None, b"\n", b"data: \ndata: \n\n"),
            (None, None, b"a\n", b"data: a\ndata: \n\n"),
            (None, None, b"\r\n\r\n", b"data: \ndata: \ndata: \n\n"),
            (None, None, b" lead", b"data:  lead\n\n"),
            (None, None, b"id: 9\n\nevent: x", b"data: id: 9\ndata: \ndata: event: x\n\n"),
            (None, Some("a\r\nb"), b"x", b"event: ab\ndata: x\n\n"),
            (None, Some("x\ndata: evil"), b"x", b"event: xdata: evil\ndata: x\n\n"),
            (None, Some("\r\n\0"), b"x", b"data: x\n\n"),
            (None, Some(""), b"x", b"data: x\n\n"),
            (None, Some("a\0b"), b"x", b"event: ab\ndata: x\n\n"),
        ];
        for &(id, name, data, want) in cases {
            let got = event(id, name, data);
            assert_eq!(
                got,
                want,
                "{id:?} {name:?} {:?}: got {:?}",
                String::from_utf8_lossy(data),
                String::from_utf8_lossy(&got)
            );
        }
    }

    #[test]
    fn encoded_events_round_trip() {
        let cases: &[Case<ParsedEvent>] = &[
            (Some(7), Some("session:created"), b"{}", parsed("7", "session:created", b"{}")),
            (None, None, b"", parsed("", "message", b"")),
            (None, None, b"a\r\nb\rc\nd", parsed("", "message", b"a\nb\nc\nd")),
            (None, None, b"\n", parsed("", "message", b"\n")),
            (None, None, b"a\r", parsed("", "message", b"a\n")),
            (None, None, b"\r\n\r\n", parsed("", "message", b"\n\n")),
            (None, None, b" two  spaces ", parsed("", "message", b" two  spaces ")),
            (None, None, b":not a comment", parsed("", "message", b":not a comment")),
            (Some(3), Some("x\ny"), b"\n\nid: 99\n\n", parsed("3", "xy", b"\n\nid: 99\n\n")),
            (None, Some("\n"), b"d", parsed("", "message", b"d")),
            (None, Some(" spaced"), b"d", parsed("", " spaced", b"d")),
            (None, None, b"\xff\xfe\x00", parsed("", "message", b"\xff\xfe\x00")),
        ];
        for (id, name, data, want) in cases {
            let bytes = event(*id, *name, data);
            assert_eq!(parse_stream(&bytes), vec![want.clone()], "{:?}", String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn retry_comment_and_ping() {
        let mut out = Vec::new();
        encode_retry(&mut out, 3000);
        assert_eq!(out, b"retry: 3000\n\n");
        out.clear();
        encode_comment(&mut out, "hi");
        assert_eq!(out, b": hi\n\n");
        out.clear();
        encode_comment(&mut out, "a\r\ndata: x\n\nevent: y");
        assert_eq!(out, b": a\n: data: x\n: \n: event: y\n\n");
        out.clear();
        encode_comment(&mut out, "");
        assert_eq!(out, b": \n\n");
        out.clear();
        encode_ping(&mut out);
        assert_eq!(out, b"event: ping\ndata: \n\n");

        let mut stream = Vec::new();
        encode_retry(&mut stream, 3000);
        encode_event(&mut stream, Some(41), Some("a:b"), b"1");
        encode_comment(&mut stream, "x\ndata: injected\n\n");
        encode_ping(&mut stream);
        encode_event(&mut stream, None, None, b"2");
        let mut p = StreamParser::new();
        let events = p.feed(&stream);
        assert_eq!(events, [parsed("41", "a:b", b"1"), parsed("41", "ping", b""), parsed("41", "message", b"2")]);
        assert_eq!(p.retry(), Some(3000));
        assert_eq!(p.comments(), 4);
        assert_eq!(p.last_event_id(), "41");
    }

    #[test]
    fn parser_follows_whatwg_rules() {
        let msg = |data: &[u8]| parsed("", "message", data);
        let cases: Vec<(&[u8], Vec<ParsedEvent>)> = vec![
            (b"data: a\n\n", vec![msg(b"a")]),
            (b"data:a\n\n", vec![msg(b"a")]),
            (b"data\n\n", vec![msg(b"")]),
            (b"data:  a\n\n", vec![msg(b" a")]),
            (b"event: x\n\n", vec![]),
            (b"data: a", vec![]),
            (b"data: a\n", vec![]),
            (b"data: a\r\rdata: b\r\n\r\n", vec![msg(b"a"), msg(b"b")]),
            (b"\xEF\xBB\xBFdata: bom\n\n", vec![msg(b"bom")]),
            (b"id: 1\0\ndata: x\n\n", vec![msg(b"x")]),
            (b"id: 5\ndata: x\n\nid\ndata: y\n\n", vec![parsed("5", "message", b"x"), msg(b"y")]),
            (b"foo: bar\ndata: x\n\n", vec![msg(b"x")]),
            (b"retry: 1x\ndata: x\n\n", vec![msg(b"x")]),
            (b"DATA: x\n\ndata: y\n\n", vec![msg(b"y")]),
            (b"event: e\n\ndata: after empty block\n\n", vec![msg(b"after empty block")]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_stream(input), want, "{:?}", String::from_utf8_lossy(input));
        }
        let mut p = StreamParser::new();
        p.feed(b"retry: 1x\n\nretry: 250\n\n");
        assert_eq!(p.retry(), Some(250));
    }

    #[test]
    fn parser_accepts_any_split() {
        let mut stream = Vec::new();
        encode_event(&mut stream, Some(1), Some("a"), b"x\r\ny");
        stream.extend_from_slice(b"data: crlf\r\n\r\n");
        encode_event(&mut stream, Some(2), None, b"z");
        let whole = parse_stream(&stream);
        assert_eq!(whole.len(), 3);
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            let mut p = StreamParser::new();
            let mut got = p.feed(a);
            got.extend(p.feed(b));
            assert_eq!(got, whole, "split at {cut}");
        }
        let mut p = StreamParser::new();
        let bytewise: Vec<_> = stream.iter().flat_map(|b| p.feed(std::slice::from_ref(b))).collect();
        assert_eq!(bytewise, whole);
    }
}
