//! Anthropic Messages decoding, sans-IO: the streamed events (`message_start`,
//! `content_block_start` / `_delta` / `_stop`, `message_delta`, `message_stop`, `ping`,
//! `error`) and the non-streaming message body, into [`StreamEvent`]s.
//!
//! Guarantees:
//! - The event is identified by its data's `type` field (which Anthropic always sends and
//!   which equals the SSE `event:` name), so a proxy that drops `event:` lines changes nothing.
//!   Unknown event and delta types are ignored, as Anthropic's versioning policy asks.
//! - A `tool_use` block is reported as one [`StreamEvent::ToolCall`] when the block stops:
//!   its `input_json_delta` fragments concatenated, or the block's starting `input` when no
//!   fragment came. Bounds are those of [`super::openai_stream::ToolCallAssembler`].
//! - Usage: input tokens are `input_tokens` plus the cache creation and cache read counts of
//!   `message_start` (what the prompt cost in total); output tokens are the last cumulative
//!   `output_tokens` (`message_delta` carries the final one). Usage and finish are reported at
//!   `message_stop`; a stream that ends without it is [`StreamError::Truncated`].

use std::borrow::Cow;

use serde::Deserialize;

use super::error::{MAX_UPSTREAM_MESSAGE_BYTES, StreamError};
use super::openai_stream::ToolCallAssembler;
use super::types::{FinishReason, StreamEvent, Usage, truncate};

/// Longest error type kept from an `error` event.
const MAX_ERROR_KIND_BYTES: usize = 64;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: MessageStart,
    },
    ContentBlockStart {
        index: u32,
        #[serde(borrow)]
        content_block: Block<'a>,
    },
    ContentBlockDelta {
        index: u32,
        #[serde(borrow)]
        delta: BlockDelta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        #[serde(borrow, default)]
        delta: Option<MessageDeltaBody<'a>>,
        #[serde(default)]
        usage: Option<UsageWire>,
    },
    MessageStop,
    Ping,
    Error {
        #[serde(borrow)]
        error: ErrorWire<'a>,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct MessageStart {
    #[serde(default)]
    usage: Option<UsageWire>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        #[serde(borrow, default)]
        text: Cow<'a, str>,
    },
    ToolUse {
        #[serde(borrow)]
        id: Cow<'a, str>,
        #[serde(borrow)]
        name: Cow<'a, str>,
        /// A `Value`, not a `RawValue`: the enum is internally tagged, so serde buffers the
        /// fields and a `RawValue` cannot be read from that buffer.
        #[serde(default)]
        input: Option<serde_json::Value>,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta<'a> {
    TextDelta {
        #[serde(borrow)]
        text: Cow<'a, str>,
    },
    InputJsonDelta {
        #[serde(borrow)]
        partial_json: Cow<'a, str>,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDeltaBody<'a> {
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct UsageWire {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl UsageWire {
    /// Total prompt tokens, if this object reports any.
    fn input(&self) -> Option<u64> {
        let parts = [self.input_tokens, self.cache_creation_input_tokens, self.cache_read_input_tokens];
        parts.iter().any(Option::is_some).then(|| parts.iter().flatten().fold(0u64, |a, b| a.saturating_add(*b)))
    }
}

#[derive(Deserialize)]
struct ErrorWire<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    message: Cow<'a, str>,
}

/// Decoder state for one streamed message.
#[derive(Debug, Default)]
pub struct AnthropicStream {
    tools: ToolCallAssembler,
    /// Indices of open `tool_use` blocks and their starting `input` JSON.
    tool_blocks: Vec<(u32, String)>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    ended: bool,
}

impl AnthropicStream {
    /// A decoder at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode one SSE event's data.
    ///
    /// # Errors
    /// Malformed JSON, an `error` event, or a tool-call bound passed.
    pub fn on_data(&mut self, data: &[u8], emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
        if self.ended {
            return Ok(());
        }
        let event: Event<'_> = serde_json::from_slice(data).map_err(|e| StreamError::malformed(&e))?;
        match event {
            Event::MessageStart { message } => {
                if let Some(u) = message.usage {
                    self.merge_usage(u);
                }
            }
            Event::ContentBlockStart { index, content_block } => match content_block {
                Block::Text { text } if !text.is_empty() => emit(StreamEvent::TextDelta(&text)),
                Block::ToolUse { id, name, input } => {
                    self.tools.apply(Some(index), Some(&id), Some(&name), None)?;
                    let input = input.map(|v| v.to_string()).unwrap_or_default();
                    self.tool_blocks.push((index, input));
                }
                Block::Text { .. } | Block::Other => {}
            },
            Event::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } if !text.is_empty() => emit(StreamEvent::TextDelta(&text)),
                BlockDelta::InputJsonDelta { partial_json } if self.is_tool_block(index) => {
                    self.tools.apply(Some(index), None, None, Some(&partial_json))?;
                }
                BlockDelta::TextDelta { .. } | BlockDelta::InputJsonDelta { .. } | BlockDelta::Other => {}
            },
            Event::ContentBlockStop { index } => {
                if let Some(call) = self.close_tool_block(index) {
                    emit(StreamEvent::ToolCall(&call));
                }
            }
            Event::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.and_then(|d| d.stop_reason) {
                    self.finish = Some(FinishReason::from_anthropic(&reason));
                }
                if let Some(u) = usage {
                    self.merge_usage(u);
                }
            }
            Event::MessageStop => self.end(emit),
            Event::Error { error } => {
                return Err(StreamError::Upstream {
                    kind: truncate(&error.kind, MAX_ERROR_KIND_BYTES).to_owned(),
                    message: truncate(&error.message, MAX_UPSTREAM_MESSAGE_BYTES).to_owned(),
                });
            }
            Event::Ping | Event::Unknown => {}
        }
        Ok(())
    }

    /// The stream's bytes ended.
    ///
    /// # Errors
    /// [`StreamError::Truncated`] if `message_stop` never came.
    pub fn on_eof(&mut self, _emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
        if self.ended { Ok(()) } else { Err(StreamError::Truncated) }
    }

    /// Whether `message_stop` was seen.
    #[must_use]
    pub const fn is_ended(&self) -> bool {
        self.ended
    }

    fn is_tool_block(&self, index: u32) -> bool {
        self.tool_blocks.iter().any(|(i, _)| *i == index)
    }

    fn close_tool_block(&mut self, index: u32) -> Option<crate::agent::providers::ToolCall> {
        let position = self.tool_blocks.iter().position(|(i, _)| *i == index)?;
        let (_, start_input) = self.tool_blocks.remove(position);
        // `{}` is what Anthropic sends as the start input of every streamed tool_use block;
        // the real input follows as fragments.
        self.tools.set_default_arguments(index, &start_input);
        self.tools.take_index(index)
    }

    fn merge_usage(&mut self, wire: UsageWire) {
        let usage = self.usage.get_or_insert_with(Usage::default);
        if let Some(input) = wire.input() {
            usage.input_tokens = input;
        }
        if let Some(output) = wire.output_tokens {
            usage.output_tokens = output;
        }
    }

    fn end(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        self.ended = true;
        // Blocks the upstream never closed are still reported: their fragments are all there.
        let open: Vec<u32> = self.tool_blocks.iter().map(|(i, _)| *i).collect();
        for index in open {
            if let Some(call) = self.close_tool_block(index) {
                emit(StreamEvent::ToolCall(&call));
            }
        }
        if let Some(usage) = self.usage {
            emit(StreamEvent::Usage(usage));
        }
        let finish = self.finish.take().unwrap_or(FinishReason::Stop);
        emit(StreamEvent::Finish(&finish));
    }
}

/// A whole non-streaming Messages response.
#[derive(Deserialize)]
struct MessageBody<'a> {
    #[serde(borrow, default)]
    content: Vec<Block<'a>>,
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<UsageWire>,
}

/// Decode a non-streaming Messages response into the same events a stream would give.
///
/// # Errors
/// Malformed JSON or a tool-call bound passed.
pub fn decode_message(body: &[u8], emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
    let message: MessageBody<'_> = serde_json::from_slice(body).map_err(|e| StreamError::malformed(&e))?;
    let mut tools = ToolCallAssembler::default();
    for (position, block) in message.content.iter().enumerate() {
        let index = u32::try_from(position).unwrap_or(u32::MAX);
        match block {
            Block::Text { text } if !text.is_empty() => emit(StreamEvent::TextDelta(text)),
            Block::ToolUse { id, name, input } => {
                let input = input.as_ref().map_or_else(|| "{}".to_owned(), serde_json::Value::to_string);
                tools.apply(Some(index), Some(id), Some(name), Some(&input))?;
            }
            Block::Text { .. } | Block::Other => {}
        }
    }
    for call in tools.take() {
        emit(StreamEvent::ToolCall(&call));
    }
    if let Some(wire) = message.usage {
        let usage = Usage { input_tokens: wire.input().unwrap_or(0), output_tokens: wire.output_tokens.unwrap_or(0) };
        emit(StreamEvent::Usage(usage));
    }
    let finish = message.stop_reason.as_deref().map_or(FinishReason::Stop, FinishReason::from_anthropic);
    emit(StreamEvent::Finish(&finish));
    Ok(())
}
