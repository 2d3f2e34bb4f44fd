//! Sans-IO glue from upstream bytes to [`StreamEvent`]s: the bounded SSE decoder
//! ([`crate::protocol::sse_decode`]) feeding one provider's chunk decoder, with the turn's
//! generated text bounded. The HTTP clients, the fuzz target and the bench all go through
//! [`UpstreamStream`], so what is fuzzed and measured is what runs.
//!
//! Guarantees: the events do not depend on how the bytes are split across
//! [`UpstreamStream::feed`] calls; the first error stops the stream and is returned again by
//! every later call; no input panics.

use super::anthropic_stream::AnthropicStream;
use super::error::StreamError;
use super::openai_stream::OpenAiStream;
use super::types::StreamEvent;
use crate::protocol::sse_decode::{SseDecoder, SseEvent, SseLimits};

/// Most generated text one streamed turn may produce. More: [`StreamError::OutputTooLarge`]
/// (the text before it was delivered). A model's `max_tokens` keeps real turns far below this;
/// it guards against an upstream that never stops.
pub const MAX_TURN_TEXT_BYTES: usize = 4 * 1024 * 1024;

/// A provider's chunk decoder: one SSE event's data in, [`StreamEvent`]s out.
pub trait ChunkDecoder {
    /// Decode one event's data.
    ///
    /// # Errors
    /// The format's [`StreamError`]s.
    fn on_data(&mut self, data: &[u8], emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError>;

    /// The body ended.
    ///
    /// # Errors
    /// [`StreamError::Truncated`] when the format's end was never seen.
    fn on_eof(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError>;

    /// Whether the format's end marker was seen (nothing more needs reading).
    fn is_ended(&self) -> bool;
}

impl ChunkDecoder for OpenAiStream {
    fn on_data(&mut self, data: &[u8], emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
        Self::on_data(self, data, emit)
    }
    fn on_eof(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
        Self::on_eof(self, emit)
    }
    fn is_ended(&self) -> bool {
        Self::is_ended(self)
    }
}

impl ChunkDecoder for AnthropicStream {
    fn on_data(&mut self, data: &[u8], emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
        Self::on_data(self, data, emit)
    }
    fn on_eof(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
        Self::on_eof(self, emit)
    }
    fn is_ended(&self) -> bool {
        Self::is_ended(self)
    }
}

/// An upstream event stream being decoded.
#[derive(Debug, Default)]
pub struct UpstreamStream<D> {
    sse: SseDecoder,
    decoder: D,
    text_bytes: usize,
    failed: Option<StreamError>,
}

impl<D: ChunkDecoder> UpstreamStream<D> {
    /// A stream decoded by `decoder`, with the default SSE limits.
    #[must_use]
    pub fn new(decoder: D) -> Self {
        Self::with_limits(decoder, SseLimits::default())
    }

    /// A stream decoded by `decoder` with the given SSE limits (the fuzz target uses small
    /// ones to reach the limit branches).
    #[must_use]
    pub fn with_limits(decoder: D, limits: SseLimits) -> Self {
        Self { sse: SseDecoder::with_limits(limits), decoder, text_bytes: 0, failed: None }
    }

    /// Consume the next bytes of the body.
    ///
    /// # Errors
    /// The first framing, decoding or size error; the events before it were delivered.
    pub fn feed(&mut self, bytes: &[u8], emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        // Past the end marker nothing is read, so what follows it (which the client may or
        // may not receive in the same read) can never change the result.
        if self.decoder.is_ended() {
            return Ok(());
        }
        let Self { sse, decoder, text_bytes, failed } = self;
        let mut on_event = |event: SseEvent<'_>| {
            if failed.is_some() || decoder.is_ended() {
                return;
            }
            if let Err(e) = decoder.on_data(event.data, &mut |e| bounded(text_bytes, emit, e)) {
                *failed = Some(e);
            } else if *text_bytes > MAX_TURN_TEXT_BYTES {
                *failed = Some(StreamError::OutputTooLarge { limit: MAX_TURN_TEXT_BYTES });
            }
        };
        if let Err(e) = sse.feed(bytes, &mut on_event)
            && !self.decoder.is_ended()
        {
            self.failed.get_or_insert(StreamError::Sse(e));
        }
        self.failed.clone().map_or(Ok(()), Err)
    }

    /// The body ended: finish the stream.
    ///
    /// # Errors
    /// An earlier error again, or [`StreamError::Truncated`] when the end marker never came.
    pub fn finish(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.decoder.is_ended() {
            return Ok(());
        }
        let result = self.decoder.on_eof(emit);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Whether the format's end marker was seen.
    #[must_use]
    pub fn is_ended(&self) -> bool {
        self.decoder.is_ended()
    }
}

/// Pass `event` on unless it takes the turn's text past [`MAX_TURN_TEXT_BYTES`].
fn bounded(text_bytes: &mut usize, emit: &mut dyn FnMut(StreamEvent<'_>), event: StreamEvent<'_>) {
    if *text_bytes > MAX_TURN_TEXT_BYTES {
        return;
    }
    if let StreamEvent::TextDelta(t) = event {
        *text_bytes = text_bytes.saturating_add(t.len());
        if *text_bytes > MAX_TURN_TEXT_BYTES {
            return;
        }
    }
    emit(event);
}
