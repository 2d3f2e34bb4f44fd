//! OpenAI chat-completions decoding, sans-IO: streamed `chat.completion.chunk` events (the data
//! of each SSE event) and the non-streaming `chat.completion` body, into [`StreamEvent`]s.
//!
//! Guarantees:
//! - Tool calls are assembled from their fragments by `index` (id and name from the first
//!   fragment, argument text concatenated) and reported whole, in index order, once the
//!   choice's `finish_reason` arrives (or the stream ends after it). Servers that omit `index`
//!   are handled: a fragment with a new `id` starts a call, one without continues the last.
//! - Bounded: at most [`MAX_TOOL_CALLS`] calls of at most [`MAX_TOOL_ARGUMENT_BYTES`] each.
//! - Only choice 0 is read (Talon never asks for `n > 1`); other choices are ignored.
//! - The usage chunk (`stream_options.include_usage`: empty `choices`, `usage` set) may come
//!   after the finish chunk; usage and finish are reported at `[DONE]`, or at the end of the
//!   stream if the server sends no `[DONE]` but did send a finish reason. A stream that ends
//!   with neither is [`StreamError::Truncated`].
//! - An `{"error": …}` chunk ends the stream with [`StreamError::Upstream`].

use std::borrow::Cow;

use serde::Deserialize;

use super::error::{MAX_UPSTREAM_MESSAGE_BYTES, StreamError};
use super::types::{FinishReason, StreamEvent, ToolCall, Usage, truncate};

/// Most tool calls in one turn. One more is [`StreamError::TooManyToolCalls`].
pub const MAX_TOOL_CALLS: usize = 64;

/// Largest argument text of one tool call. More is [`StreamError::ToolArgumentsTooLarge`].
pub const MAX_TOOL_ARGUMENT_BYTES: usize = 1024 * 1024;

/// Longest tool call id or name kept; longer ones are an error like oversized arguments, since
/// no real upstream sends them.
const MAX_TOOL_NAME_BYTES: usize = 256;

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    usage: Option<UsageWire>,
    #[serde(borrow, default)]
    error: Option<ErrorWire<'a>>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(default)]
    index: u32,
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

#[derive(Deserialize)]
struct ToolCallDelta<'a> {
    #[serde(default)]
    index: Option<u32>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    function: Option<FunctionWire<'a>>,
}

#[derive(Deserialize)]
struct FunctionWire<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arguments: Option<Cow<'a, str>>,
}

/// OpenAI's usage object (also sent by llama.cpp, vLLM, Ollama).
#[derive(Deserialize)]
struct UsageWire {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl From<UsageWire> for Usage {
    fn from(u: UsageWire) -> Self {
        Self { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorWire<'a> {
    Object {
        #[serde(borrow, default)]
        message: Option<Cow<'a, str>>,
        #[serde(borrow, default, rename = "type")]
        kind: Option<Cow<'a, str>>,
    },
    Text(#[serde(borrow)] Cow<'a, str>),
}

impl ErrorWire<'_> {
    fn into_error(self) -> StreamError {
        let (kind, message) = match self {
            Self::Object { message, kind } => (kind.unwrap_or_default(), message.unwrap_or_default()),
            Self::Text(t) => (Cow::Borrowed(""), t),
        };
        StreamError::Upstream {
            kind: truncate(&kind, MAX_TOOL_NAME_BYTES).to_owned(),
            message: truncate(&message, MAX_UPSTREAM_MESSAGE_BYTES).to_owned(),
        }
    }
}

/// One tool call being assembled.
#[derive(Debug)]
struct Slot {
    /// The upstream's `index`, or the arrival order when it sent none.
    index: u32,
    call: ToolCall,
}

/// Assembles tool calls from fragments (shared by the OpenAI and Anthropic decoders).
#[derive(Debug, Default)]
pub struct ToolCallAssembler {
    slots: Vec<Slot>,
}

impl ToolCallAssembler {
    /// Apply one fragment. `index` `None` means the server does not number its calls.
    ///
    /// # Errors
    /// Passing [`MAX_TOOL_CALLS`], [`MAX_TOOL_ARGUMENT_BYTES`] or the name length bound.
    pub fn apply(
        &mut self,
        index: Option<u32>,
        id: Option<&str>,
        name: Option<&str>,
        arguments: Option<&str>,
    ) -> Result<(), StreamError> {
        let position = match index {
            Some(i) => self.slots.iter().position(|s| s.index == i),
            // Unnumbered: a new id starts a call; anything else continues the last one.
            None => match (id, self.slots.last()) {
                (Some(id), Some(last)) if !id.is_empty() && last.call.id != id => None,
                (_, Some(_)) => self.slots.len().checked_sub(1),
                (_, None) => None,
            },
        };
        let position = match position {
            Some(p) => p,
            None => {
                if self.slots.len() >= MAX_TOOL_CALLS {
                    return Err(StreamError::TooManyToolCalls { limit: MAX_TOOL_CALLS });
                }
                let index = index.unwrap_or_else(|| u32::try_from(self.slots.len()).unwrap_or(u32::MAX));
                self.slots.push(Slot { index, call: ToolCall::default_empty() });
                self.slots.len().saturating_sub(1)
            }
        };
        let Some(slot) = self.slots.get_mut(position) else { return Ok(()) };
        let call = &mut slot.call;
        if let Some(id) = id.filter(|s| !s.is_empty())
            && call.id.is_empty()
        {
            if id.len() > MAX_TOOL_NAME_BYTES {
                return Err(StreamError::ToolArgumentsTooLarge { limit: MAX_TOOL_NAME_BYTES });
            }
            id.clone_into(&mut call.id);
        }
        // Some servers repeat the whole name in every fragment; others could split it.
        if let Some(name) = name.filter(|s| !s.is_empty() && *s != call.name) {
            if call.name.len().saturating_add(name.len()) > MAX_TOOL_NAME_BYTES {
                return Err(StreamError::ToolArgumentsTooLarge { limit: MAX_TOOL_NAME_BYTES });
            }
            call.name.push_str(name);
        }
        if let Some(arguments) = arguments {
            if call.arguments.len().saturating_add(arguments.len()) > MAX_TOOL_ARGUMENT_BYTES {
                return Err(StreamError::ToolArgumentsTooLarge { limit: MAX_TOOL_ARGUMENT_BYTES });
            }
            call.arguments.push_str(arguments);
        }
        Ok(())
    }

    /// Replace a call's argument text (Anthropic's `tool_use` block may carry its whole input
    /// at the start instead of as fragments).
    pub(crate) fn set_default_arguments(&mut self, index: u32, arguments: &str) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.index == index)
            && slot.call.arguments.is_empty()
        {
            arguments.clone_into(&mut slot.call.arguments);
        }
    }

    /// Take the finished calls in index order (see [`finalize`]).
    pub fn take(&mut self) -> Vec<ToolCall> {
        let mut slots = std::mem::take(&mut self.slots);
        slots.sort_by_key(|s| s.index);
        slots.into_iter().map(finalize).collect()
    }

    /// Take only the call with upstream index `index` (Anthropic closes blocks one by one).
    pub(crate) fn take_index(&mut self, index: u32) -> Option<ToolCall> {
        let position = self.slots.iter().position(|s| s.index == index)?;
        Some(finalize(self.slots.remove(position)))
    }

    /// Whether no call is being assembled.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// A finished call: one without an id gets `call_<index>`, one without arguments gets `{}`.
fn finalize(mut slot: Slot) -> ToolCall {
    if slot.call.id.is_empty() {
        slot.call.id = format!("call_{}", slot.index);
    }
    if slot.call.arguments.trim().is_empty() {
        slot.call.arguments = "{}".to_owned();
    }
    slot.call
}

impl ToolCall {
    fn default_empty() -> Self {
        Self { id: String::new(), name: String::new(), arguments: String::new() }
    }
}

/// Decoder state for one streamed chat completion.
#[derive(Debug, Default)]
pub struct OpenAiStream {
    tools: ToolCallAssembler,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    /// `[DONE]` was seen, or the end was reported: later events are ignored.
    ended: bool,
}

impl OpenAiStream {
    /// A decoder at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode one SSE event's data.
    ///
    /// # Errors
    /// Malformed JSON, an error chunk, or a tool-call bound passed.
    pub fn on_data(&mut self, data: &[u8], emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
        if self.ended {
            return Ok(());
        }
        if data == b"[DONE]" {
            return self.end(emit);
        }
        let chunk: Chunk<'_> = serde_json::from_slice(data).map_err(|e| StreamError::malformed(&e))?;
        if let Some(error) = chunk.error {
            return Err(error.into_error());
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into());
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.as_deref().filter(|t| !t.is_empty()) {
                    emit(StreamEvent::TextDelta(text));
                }
                for call in delta.tool_calls.into_iter().flatten() {
                    let (name, arguments) = match &call.function {
                        Some(f) => (f.name.as_deref(), f.arguments.as_deref()),
                        None => (None, None),
                    };
                    self.tools.apply(call.index, call.id.as_deref(), name, arguments)?;
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(FinishReason::from_openai(&reason));
                // The calls are complete once the choice finished; report them now so a
                // caller sees them before waiting for the usage chunk.
                for call in self.tools.take() {
                    emit(StreamEvent::ToolCall(&call));
                }
            }
        }
        Ok(())
    }

    /// The stream's bytes ended (EOF). Reports usage and finish if the stream had a finish
    /// reason and was not already ended by `[DONE]`.
    ///
    /// # Errors
    /// [`StreamError::Truncated`] if no finish reason arrived.
    pub fn on_eof(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
        if self.ended {
            return Ok(());
        }
        if self.finish.is_none() {
            return Err(StreamError::Truncated);
        }
        self.end(emit)
    }

    /// Whether the stream reached its end marker.
    #[must_use]
    pub const fn is_ended(&self) -> bool {
        self.ended
    }

    /// Report the remaining tool calls, usage and finish. `[DONE]` without a finish reason
    /// (some servers do this) finishes as `tool_calls` when calls are pending, else `stop`.
    fn end(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
        let calls = self.tools.take();
        let fallback = if calls.is_empty() { FinishReason::Stop } else { FinishReason::ToolCalls };
        let finish = self.finish.take().unwrap_or(fallback);
        for call in &calls {
            emit(StreamEvent::ToolCall(call));
        }
        self.report_end(&finish, emit);
        Ok(())
    }

    fn report_end(&mut self, finish: &FinishReason, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        self.ended = true;
        if let Some(usage) = self.usage {
            emit(StreamEvent::Usage(usage));
        }
        emit(StreamEvent::Finish(finish));
    }
}

/// A whole non-streaming `chat.completion` body.
#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(borrow, default)]
    choices: Vec<CompletionChoice<'a>>,
    #[serde(default)]
    usage: Option<UsageWire>,
    #[serde(borrow, default)]
    error: Option<ErrorWire<'a>>,
}

#[derive(Deserialize)]
struct CompletionChoice<'a> {
    #[serde(default)]
    index: u32,
    #[serde(borrow)]
    message: CompletionMessage<'a>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CompletionMessage<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_calls: Vec<ToolCallDelta<'a>>,
}

/// Decode a non-streaming completion into the same events a stream would give.
///
/// # Errors
/// Malformed JSON, no choice 0, an error object, or a tool-call bound passed.
pub fn decode_completion(body: &[u8], emit: &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError> {
    let completion: Completion<'_> = serde_json::from_slice(body).map_err(|e| StreamError::malformed(&e))?;
    if let Some(error) = completion.error {
        return Err(error.into_error());
    }
    let choice = completion
        .choices
        .into_iter()
        .find(|c| c.index == 0)
        .ok_or_else(|| StreamError::MalformedChunk { detail: "completion has no choice 0".to_owned() })?;
    if let Some(text) = choice.message.content.as_deref().filter(|t| !t.is_empty()) {
        emit(StreamEvent::TextDelta(text));
    }
    let mut tools = ToolCallAssembler::default();
    for (position, call) in choice.message.tool_calls.iter().enumerate() {
        let (name, arguments) = match &call.function {
            Some(f) => (f.name.as_deref(), f.arguments.as_deref()),
            None => (None, None),
        };
        // Whole calls, one per entry: number them by position.
        let index = Some(u32::try_from(position).unwrap_or(u32::MAX));
        tools.apply(index, call.id.as_deref(), name, arguments)?;
    }
    let calls = tools.take();
    for call in &calls {
        emit(StreamEvent::ToolCall(call));
    }
    if let Some(usage) = completion.usage {
        emit(StreamEvent::Usage(usage.into()));
    }
    let finish = match choice.finish_reason.as_deref() {
        Some(r) => FinishReason::from_openai(r),
        None if calls.is_empty() => FinishReason::Stop,
        None => FinishReason::ToolCalls,
    };
    emit(StreamEvent::Finish(&finish));
    Ok(())
}
