//! The `provider_stream` check: arbitrary upstream bytes through the bounded SSE decoder and the
//! OpenAI or Anthropic chunk decoder (`talon::agent::providers::stream::UpstreamStream`), with
//! the order and bounds the provider layer promises.

use talon::agent::providers::StreamEvent;
use talon::agent::providers::anthropic_stream::AnthropicStream;
use talon::agent::providers::openai_stream::{MAX_TOOL_ARGUMENT_BYTES, MAX_TOOL_CALLS, OpenAiStream};
use talon::agent::providers::stream::{ChunkDecoder, MAX_TURN_TEXT_BYTES, UpstreamStream};
use talon::protocol::sse_decode::SseLimits;

/// Small framing limits, so the fuzzer reaches `LineTooLong` and `EventTooLarge` quickly.
const SMALL_SSE_LIMITS: SseLimits = SseLimits { max_line_bytes: 96, max_event_bytes: 160 };

/// One event as a comparable value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Text(String),
    Tool(String, String, String),
    Usage(u64, u64),
    Finish(String),
}

/// Splits `[flags][split][stream…]`: flags bit 0 picks Anthropic (else OpenAI), bit 1 the small
/// SSE limits; `split` (0-255) is where, as a fraction of the stream, the second feed starts.
#[must_use]
fn split_provider_input(data: &[u8]) -> (bool, bool, usize, &[u8]) {
    let flags = data.first().copied().unwrap_or(0);
    let split = usize::from(data.get(1).copied().unwrap_or(0));
    let stream = data.get(2..).unwrap_or_default();
    (flags & 1 == 1, flags & 2 == 2, stream.len() * split / 255, stream)
}

fn run<D: ChunkDecoder>(make: fn() -> D, limits: SseLimits, pieces: &[&[u8]]) -> (Vec<Seen>, Result<(), &'static str>) {
    let mut stream = UpstreamStream::with_limits(make(), limits);
    let mut seen = Vec::new();
    let mut push = |e: StreamEvent<'_>| {
        seen.push(match e {
            StreamEvent::TextDelta(t) => Seen::Text(t.to_owned()),
            StreamEvent::ToolCall(c) => Seen::Tool(c.id.clone(), c.name.clone(), c.arguments.clone()),
            StreamEvent::Usage(u) => Seen::Usage(u.input_tokens, u.output_tokens),
            StreamEvent::Finish(f) => Seen::Finish(f.as_openai().to_owned()),
        });
    };
    for piece in pieces {
        if let Err(e) = stream.feed(piece, &mut push) {
            return (seen, Err(e.code()));
        }
    }
    let end = stream.finish(&mut push).map_err(|e| e.code());
    (seen, end)
}

/// Decoding must never panic; the result must not depend on where the bytes are split; the
/// events must come in the promised order (text and tool calls, at most one usage, then one
/// finish that is last, and no finish on an error); tool calls and text stay within bounds.
pub fn check_provider_stream(data: &[u8]) {
    let (anthropic, small, split, stream) = split_provider_input(data);
    let limits = if small { SMALL_SSE_LIMITS } else { SseLimits::default() };
    let (a, b) = stream.split_at(split.min(stream.len()));
    let (whole, halves) = if anthropic {
        (run(AnthropicStream::new, limits, &[stream]), run(AnthropicStream::new, limits, &[a, b]))
    } else {
        (run(OpenAiStream::new, limits, &[stream]), run(OpenAiStream::new, limits, &[a, b]))
    };
    assert_eq!(whole, halves, "result depends on the split at {split}");
    let (events, result) = whole;
    let finishes = events.iter().filter(|e| matches!(e, Seen::Finish(_))).count();
    let usages = events.iter().filter(|e| matches!(e, Seen::Usage(..))).count();
    match result {
        Ok(()) => {
            assert_eq!(finishes, 1, "a finished stream reports exactly one finish");
            assert!(matches!(events.last(), Some(Seen::Finish(_))), "finish is not last: {events:?}");
        }
        Err(_) => assert_eq!(finishes, 0, "an error after a finish: {events:?}"),
    }
    assert!(usages <= 1, "usage reported {usages} times");
    if let Some(u) = events.iter().position(|e| matches!(e, Seen::Usage(..))) {
        assert!(events.iter().skip(u + 1).all(|e| matches!(e, Seen::Finish(_))), "content after usage: {events:?}");
    }
    let tools: Vec<&Seen> = events.iter().filter(|e| matches!(e, Seen::Tool(..))).collect();
    assert!(tools.len() <= MAX_TOOL_CALLS, "{} tool calls", tools.len());
    for t in tools {
        if let Seen::Tool(id, _, arguments) = t {
            assert!(!id.is_empty() && !arguments.is_empty(), "tool call without id or arguments: {t:?}");
            assert!(arguments.len() <= MAX_TOOL_ARGUMENT_BYTES.max(2));
        }
    }
    let text: usize = events.iter().map(|e| if let Seen::Text(t) = e { t.len() } else { 0 }).sum();
    assert!(text <= MAX_TURN_TEXT_BYTES, "{text} bytes of text");
    if small {
        for e in &events {
            if let Seen::Text(t) = e {
                assert!(t.len() <= SMALL_SSE_LIMITS.max_event_bytes, "text longer than the event bound");
            }
        }
    }
}
