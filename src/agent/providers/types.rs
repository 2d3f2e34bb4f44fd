//! The vocabulary every provider speaks: what goes into a turn (messages, tools, sampling
//! settings) and what comes out of it (text deltas, assembled tool calls, usage, a finish
//! reason), independent of any upstream's wire format.
//!
//! Guarantees: a turn's events arrive in one order on every provider: zero or more
//! [`StreamEvent::TextDelta`] and [`StreamEvent::ToolCall`] (each tool call complete, with its
//! whole argument text), then at most one [`StreamEvent::Usage`], then exactly one
//! [`StreamEvent::Finish`] on success. An error ends the stream with no `Finish`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person.
    User,
    /// The model (may carry tool calls).
    Assistant,
    /// The result of a tool call (carries `tool_call_id`).
    Tool,
}

/// One message of the conversation sent upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// The text (may be empty for an assistant message that only calls tools).
    pub content: String,
    /// Tool calls the assistant made in this message.
    pub tool_calls: Vec<ToolCall>,
    /// For [`Role::Tool`]: the id of the call this answers.
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message of `role` with text only.
    #[must_use]
    pub fn text(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into(), tool_calls: Vec::new(), tool_call_id: None }
    }

    /// A system message.
    #[must_use]
    pub fn system(content: impl Into<String>) -> Self {
        Self::text(Role::System, content)
    }

    /// A user message.
    #[must_use]
    pub fn user(content: impl Into<String>) -> Self {
        Self::text(Role::User, content)
    }

    /// An assistant message.
    #[must_use]
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::text(Role::Assistant, content)
    }

    /// The answer to tool call `call_id`.
    #[must_use]
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self { role: Role::Tool, content: content.into(), tool_calls: Vec::new(), tool_call_id: Some(call_id.into()) }
    }
}

/// One complete tool call: what the model asked to run (stored in the transcript as JSON in
/// this shape, and read back for the history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The upstream's id for the call (answered by a [`Role::Tool`] message).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON text, exactly as the model wrote them (`{}` when it wrote none).
    /// Not validated: a model can write broken JSON, and the runtime tells it so.
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Name the model uses to call it.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its arguments (an object schema).
    pub parameters: Value,
}

/// Everything one turn sends upstream, minus the model (chosen by the router).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TurnRequest {
    /// The conversation, oldest first. System messages may appear anywhere; providers that
    /// take the system prompt separately (Anthropic) collect them.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Most tokens to generate; `None` lets the provider decide (Anthropic requires one, so
    /// its client sends [`super::anthropic::DEFAULT_MAX_TOKENS`]).
    pub max_tokens: Option<u32>,
    /// Sampling temperature; `None` sends none.
    pub temperature: Option<f32>,
}

/// Token counts of one turn, as the upstream reported them (the built-in provider counts
/// whitespace-separated words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end or a stop sequence (OpenAI `stop`, Anthropic `end_turn`/`stop_sequence`).
    Stop,
    /// The token limit (OpenAI `length`, Anthropic `max_tokens`).
    Length,
    /// The model wants tools run (OpenAI `tool_calls`/`function_call`, Anthropic `tool_use`).
    ToolCalls,
    /// The upstream filtered or refused the output (OpenAI `content_filter`, Anthropic `refusal`).
    ContentFilter,
    /// Any other reason, as the upstream spelled it (at most [`MAX_REASON_BYTES`] of it).
    Other(String),
}

/// Longest upstream finish reason kept in [`FinishReason::Other`]; longer ones are cut, so an
/// upstream cannot make us carry a large string around.
pub const MAX_REASON_BYTES: usize = 64;

impl FinishReason {
    /// Map an OpenAI `finish_reason`.
    #[must_use]
    pub fn from_openai(reason: &str) -> Self {
        match reason {
            "stop" => Self::Stop,
            "length" => Self::Length,
            "tool_calls" | "function_call" => Self::ToolCalls,
            "content_filter" => Self::ContentFilter,
            other => Self::Other(truncate(other, MAX_REASON_BYTES).to_owned()),
        }
    }

    /// Map an Anthropic `stop_reason`.
    #[must_use]
    pub fn from_anthropic(reason: &str) -> Self {
        match reason {
            "end_turn" | "stop_sequence" => Self::Stop,
            "max_tokens" => Self::Length,
            "tool_use" => Self::ToolCalls,
            "refusal" => Self::ContentFilter,
            other => Self::Other(truncate(other, MAX_REASON_BYTES).to_owned()),
        }
    }

    /// The OpenAI spelling (what `/v1/chat/completions` answers with).
    #[must_use]
    pub fn as_openai(&self) -> &str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
            Self::Other(s) => s,
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
#[must_use]
pub fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    s.get(..end).unwrap_or_default()
}

/// What a streaming turn reports, in the order described in the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// More generated text.
    TextDelta(&'a str),
    /// One complete tool call.
    ToolCall(&'a ToolCall),
    /// Token counts (at most once, before `Finish`).
    Usage(Usage),
    /// The turn ended normally.
    Finish(&'a FinishReason),
}

/// What a turn produced, returned when it ends (a non-streaming call gets only this).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TurnSummary {
    /// The whole generated text.
    pub text: String,
    /// Every tool call, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Token counts, if the upstream reported them.
    pub usage: Option<Usage>,
    /// Why it stopped; `None` only on a summary that was never finished.
    pub finish: Option<FinishReason>,
}

impl TurnSummary {
    /// Record one event into the summary (what every provider does for its return value).
    pub fn record(&mut self, event: StreamEvent<'_>) {
        match event {
            StreamEvent::TextDelta(t) => self.text.push_str(t),
            StreamEvent::ToolCall(c) => self.tool_calls.push(c.clone()),
            StreamEvent::Usage(u) => self.usage = Some(u),
            StreamEvent::Finish(f) => self.finish = Some(f.clone()),
        }
    }
}

/// A model as `/v1/models` and `models.list` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// `provider/model`, e.g. `builtin/echo`.
    pub id: String,
    /// The provider's configured name.
    pub provider: String,
    /// Who owns it, OpenAI's `owned_by`: the provider name, or `talon-builtin` for built-ins.
    pub owned_by: String,
    /// Whether it runs offline inside the gateway (the built-in provider).
    pub builtin: bool,
}

/// Where a model id points: `provider/model`. The model part may itself contain `/`
/// (`openrouter/meta-llama/llama-3-8b`): only the first `/` separates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    /// The provider's configured name (`builtin`, `openai`, ...).
    pub provider: String,
    /// The model name the upstream knows.
    pub model: String,
}

impl ModelRef {
    /// Parse `provider/model`.
    ///
    /// # Errors
    /// No `/`, or an empty provider or model part; the message says which.
    pub fn parse(id: &str) -> Result<Self, String> {
        match id.split_once('/') {
            Some((p, m)) if !p.trim().is_empty() && !m.trim().is_empty() => {
                Ok(Self { provider: p.trim().to_owned(), model: m.trim().to_owned() })
            }
            _ => Err(format!(
                "{id:?} is not of the form provider/model (for example builtin/echo or openai/gpt-4o-mini)"
            )),
        }
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}
