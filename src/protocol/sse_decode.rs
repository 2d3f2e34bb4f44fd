//! Server-Sent Events decoder for upstream streams (what an LLM provider sends us), sans-IO and
//! bounded.
//!
//! It follows the "interpreting an event stream" rules of the WHATWG HTML standard (§9.2.6): lines
//! end at `\r\n`, `\r` or `\n` (also when the CR and the LF arrive in different reads), a line
//! starting with `:` is a comment, `field: value` loses one leading space of the value, `data`
//! lines of one event are joined with `\n`, a blank line dispatches the event, a block without
//! any `data` line dispatches nothing, and a leading UTF-8 byte order mark is skipped.
//!
//! Guarantees:
//! - Memory is bounded: a line longer than [`SseLimits::max_line_bytes`] or an event whose data
//!   passes [`SseLimits::max_event_bytes`] is an error ([`SseError`]), never a growing buffer.
//!   After an error the decoder refuses all further input with the same error.
//! - The result does not depend on how the input is split across [`SseDecoder::feed`] calls.
//! - It never panics on any input (fuzzed by `fuzz/fuzz_targets/provider_stream.rs`).
//!
//! The encoder for our own streams is [`super::sse`]; its `StreamParser` is an unbounded
//! test-only parser, this one is the production decoder.

/// Default for [`SseLimits::max_line_bytes`]: 512 KiB. One upstream chunk is one `data:` line;
/// real chunks are under a few KiB, and a provider that sends a whole large tool call in one
/// chunk stays far below this.
pub const DEFAULT_MAX_LINE_BYTES: usize = 512 * 1024;

/// Default for [`SseLimits::max_event_bytes`]: 1 MiB of joined `data` per event.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Skipped once at the start of a stream, as a browser does.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How much one stream may make the decoder hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseLimits {
    /// Longest line (without its line break). Longer: [`SseError::LineTooLong`], and the
    /// decoder stops.
    pub max_line_bytes: usize,
    /// Most bytes of joined `data` in one event. More: [`SseError::EventTooLarge`], and the
    /// decoder stops.
    pub max_event_bytes: usize,
}

impl Default for SseLimits {
    fn default() -> Self {
        Self { max_line_bytes: DEFAULT_MAX_LINE_BYTES, max_event_bytes: DEFAULT_MAX_EVENT_BYTES }
    }
}

/// Why the decoder stopped. Small and `Copy`, like the other protocol errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseError {
    /// A line passed [`SseLimits::max_line_bytes`].
    LineTooLong {
        /// The limit that was passed.
        limit: usize,
    },
    /// An event's data passed [`SseLimits::max_event_bytes`].
    EventTooLarge {
        /// The limit that was passed.
        limit: usize,
    },
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::LineTooLong { limit } => write!(f, "event-stream line longer than {limit} bytes"),
            Self::EventTooLarge { limit } => write!(f, "event-stream event data larger than {limit} bytes"),
        }
    }
}

impl std::error::Error for SseError {}

/// One dispatched event, borrowed from the decoder until the callback returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field of the block; empty when absent (a browser would call it `message`).
    pub event: &'a [u8],
    /// The `data` lines joined with `\n`.
    pub data: &'a [u8],
    /// The stream's last `id:` (sticky across events); empty if none was seen.
    pub id: &'a [u8],
}

impl SseEvent<'_> {
    /// Whether this is OpenAI's end-of-stream sentinel, `data: [DONE]`.
    #[must_use]
    pub fn is_done_sentinel(&self) -> bool {
        self.data == b"[DONE]"
    }
}

/// An incremental, bounded event-stream decoder. Feed it bytes as they arrive.
#[derive(Debug, Default)]
pub struct SseDecoder {
    limits: SseLimits,
    /// The unfinished line carried over from the previous feed.
    partial: Vec<u8>,
    /// The previous feed ended in `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
    /// The first line was processed (the byte order mark is only skipped on the first line,
    /// which may arrive in pieces).
    started: bool,
    event: Vec<u8>,
    data: Vec<u8>,
    /// A `data` field was seen in the current block (data may still be empty).
    has_data: bool,
    last_id: Vec<u8>,
    failed: Option<SseError>,
}

impl SseDecoder {
    /// A decoder with the default limits.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder with the given limits.
    #[must_use]
    pub fn with_limits(limits: SseLimits) -> Self {
        Self { limits, ..Self::default() }
    }

    /// Consume `input`, calling `on_event` for every event it completes, in order.
    ///
    /// # Errors
    /// A limit was passed ([`SseError`]); events completed before it were delivered. Every later
    /// call returns the same error without reading its input.
    pub fn feed(&mut self, input: &[u8], on_event: &mut dyn FnMut(SseEvent<'_>)) -> Result<(), SseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let result = self.feed_inner(input, on_event);
        if let Err(e) = result {
            self.failed = Some(e);
            // Release what the failed stream made us hold.
            self.partial = Vec::new();
            self.data = Vec::new();
        }
        result
    }

    fn feed_inner(&mut self, input: &[u8], on_event: &mut dyn FnMut(SseEvent<'_>)) -> Result<(), SseError> {
        let mut rest = input;
        if self.after_cr {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (line, after) = rest.split_at(end);
            let is_cr = after.first() == Some(&b'\r');
            rest = after.get(1..).unwrap_or_default();
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = rest.get(1..).unwrap_or_default(),
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            if self.partial.is_empty() {
                self.check_line(line.len())?;
                self.process_line(line, on_event)?;
            } else {
                self.check_line(self.partial.len().saturating_add(line.len()))?;
                let mut joined = std::mem::take(&mut self.partial);
                joined.extend_from_slice(line);
                let outcome = self.process_line(&joined, on_event);
                // Keep the allocation for the next partial line.
                joined.clear();
                self.partial = joined;
                outcome?;
            }
        }
        if !rest.is_empty() {
            self.check_line(self.partial.len().saturating_add(rest.len()))?;
            self.partial.extend_from_slice(rest);
        }
        Ok(())
    }

    fn check_line(&self, len: usize) -> Result<(), SseError> {
        if len > self.limits.max_line_bytes {
            return Err(SseError::LineTooLong { limit: self.limits.max_line_bytes });
        }
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], on_event: &mut dyn FnMut(SseEvent<'_>)) -> Result<(), SseError> {
        let mut line = line;
        if !self.started {
            line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
        }
        self.started = true;
        if line.is_empty() {
            self.dispatch(on_event);
            return Ok(());
        }
        if line.first() == Some(&b':') {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = line.get(i + 1..).unwrap_or_default();
                (line.get(..i).unwrap_or_default(), value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                // The joined data gains the value and, unless it is the first line, one `\n`.
                let extra = value.len().saturating_add(usize::from(self.has_data));
                if self.data.len().saturating_add(extra) > self.limits.max_event_bytes {
                    return Err(SseError::EventTooLarge { limit: self.limits.max_event_bytes });
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => value.clone_into(&mut self.event),
            b"id" if !value.contains(&0) => value.clone_into(&mut self.last_id),
            // `retry` only matters to a reconnecting browser; unknown fields are ignored.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, on_event: &mut dyn FnMut(SseEvent<'_>)) {
        if self.has_data {
            on_event(SseEvent { event: &self.event, data: &self.data, id: &self.last_id });
        }
        self.has_data = false;
        self.data.clear();
        self.event.clear();
    }

    /// Whether data of an undispatched event, or an unfinished line, is waiting for more input.
    /// At the end of a stream this means the upstream stopped in the middle of an event, which a
    /// browser would silently drop; callers that need every event treat it as a truncated stream.
    /// A trailing comment or `event:` line without data does not count.
    #[must_use]
    pub fn has_pending(&self) -> bool {
        self.has_data || !self.partial.is_empty()
    }

    /// The limits this decoder enforces.
    #[must_use]
    pub const fn limits(&self) -> SseLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(decoder: &mut SseDecoder, pieces: &[&[u8]]) -> (Vec<(String, String, String)>, Option<SseError>) {
        let mut events = Vec::new();
        let mut error = None;
        for piece in pieces {
            let mut push = |e: SseEvent<'_>| {
                let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                events.push((s(e.event), s(e.data), s(e.id)));
            };
            if let Err(e) = decoder.feed(piece, &mut push) {
                error = Some(e);
                break;
            }
        }
        (events, error)
    }

    fn error_name(e: SseError) -> &'static str {
        match e {
            SseError::LineTooLong { .. } => "line_too_long",
            SseError::EventTooLarge { .. } => "event_too_large",
        }
    }

    type Outcome = (Vec<(String, String, String)>, Option<&'static str>, bool);

    fn run(limits: SseLimits, pieces: &[&[u8]]) -> Outcome {
        let mut d = SseDecoder::with_limits(limits);
        let (events, error) = decode_all(&mut d, pieces);
        (events, error.map(error_name), d.has_pending())
    }

    /// Every case of `proto/providers/sse_frames.json`, fed whole, split in two at every byte,
    /// and one byte at a time: the same events, error and pending state each way.
    #[test]
    fn proto_vectors_in_any_split() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../proto/providers/sse_frames.json")).unwrap_or_default();
        let cases = doc["cases"].as_array().cloned().unwrap_or_default();
        assert!(cases.len() >= 20, "proto/providers/sse_frames.json has {} cases", cases.len());
        for case in cases {
            let name = case["name"].as_str().unwrap_or("?");
            let input = case["input"].as_str().unwrap_or_default().as_bytes();
            let limit = |k: &str, d: usize| case["limits"][k].as_u64().map_or(d, |v| usize::try_from(v).unwrap_or(d));
            let limits = SseLimits {
                max_line_bytes: limit("max_line_bytes", DEFAULT_MAX_LINE_BYTES),
                max_event_bytes: limit("max_event_bytes", DEFAULT_MAX_EVENT_BYTES),
            };
            let want_events: Vec<(String, String, String)> = case["events"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                    (s("event"), s("data"), s("id"))
                })
                .collect();
            let want: Outcome = (
                want_events,
                case["error"].as_str().map(|e| match e {
                    "line_too_long" => "line_too_long",
                    _ => "event_too_large",
                }),
                case["pending"].as_bool().unwrap_or(false),
            );
            let whole = run(limits, &[input]);
            assert_eq!(whole.0, want.0, "{name}: events");
            assert_eq!(whole.1, want.1, "{name}: error");
            if want.1.is_none() {
                assert_eq!(whole.2, want.2, "{name}: pending");
            }
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                assert_eq!(run(limits, &[a, b]).0, whole.0, "{name}: split at {cut}");
                assert_eq!(run(limits, &[a, b]).1, whole.1, "{name}: split at {cut}");
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            let bytewise = run(limits, &bytes);
            assert_eq!((bytewise.0, bytewise.1), (whole.0, whole.1), "{name}: bytewise");
        }
    }

    #[test]
    fn errors_are_sticky_and_limits_are_exact() {
        let limits = SseLimits { max_line_bytes: 8, max_event_bytes: 8 };
        let mut d = SseDecoder::with_limits(limits);
        // "data: 12" is exactly 8 bytes: allowed.
        let (events, err) = decode_all(&mut d, &[b"data: 12\n\n"]);
        assert_eq!((events.len(), err), (1, None));
        let (_, err) = decode_all(&mut d, &[b"data: 123\n"]);
        assert_eq!(err, Some(SseError::LineTooLong { limit: 8 }));
        let (_, err) = decode_all(&mut d, &[b"data: x\n\n"]);
        assert_eq!(err, Some(SseError::LineTooLong { limit: 8 }), "sticky");

        let mut d = SseDecoder::with_limits(SseLimits { max_line_bytes: 64, max_event_bytes: 5 });
        let (_, err) = decode_all(&mut d, &[b"data: ab\ndata: cd\n"]);
        assert_eq!(err, None, "ab\\ncd is 5 bytes");
        let (_, err) = decode_all(&mut d, &[b"data: e\n"]);
        assert_eq!(err, Some(SseError::EventTooLarge { limit: 5 }));

        // A partial line is bounded too, before its line break arrives.
        let mut d = SseDecoder::with_limits(SseLimits { max_line_bytes: 4, max_event_bytes: 64 });
        let (_, err) = decode_all(&mut d, &[b"dat", b"a: x"]);
        assert_eq!(err, Some(SseError::LineTooLong { limit: 4 }));
    }

    #[test]
    fn pending_tracks_unfinished_events() {
        let mut d = SseDecoder::new();
        assert!(!d.has_pending());
        let _ = decode_all(&mut d, &[b"data: a"]);
        assert!(d.has_pending());
        let _ = decode_all(&mut d, &[b"\n"]);
        assert!(d.has_pending());
        let (events, _) = decode_all(&mut d, &[b"\n"]);
        assert_eq!(events.len(), 1);
        assert!(!d.has_pending());
        let _ = decode_all(&mut d, &[b": keep-alive\nevent: x\n"]);
        assert!(!d.has_pending());
    }
}
