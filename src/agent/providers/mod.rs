//! LLM providers: one streaming turn against an upstream model, behind one trait.
//!
//! - [`Provider`]: the turn API every provider implements (streaming and not).
//! - [`openai::OpenAiProvider`] (OpenAI-compatible chat completions) and
//!   [`anthropic::AnthropicProvider`] (Anthropic Messages): real clients on `ureq`.
//! - [`echo::EchoProvider`]: `builtin/echo`, offline and deterministic.
//! - [`router::Router`]: resolves a model id, runs the turn, falls back in order, and reports
//!   provider health through an [`router::EventSink`].
//! - Sans-IO decoding: [`stream::UpstreamStream`] drives the SSE decoder of
//!   [`crate::protocol::sse_decode`] into [`openai_stream`] or [`anthropic_stream`].
//!
//! Guarantees: see [`types`] for the order of a turn's events; [`abort`] for how quickly a
//! turn stops; [`http`] for retries and what is never logged.

pub mod abort;
pub mod anthropic;
pub mod anthropic_stream;
pub mod echo;
pub mod error;
pub mod http;
pub mod openai;
pub mod openai_stream;
pub mod retry;
pub mod router;
pub mod stream;
pub mod types;

#[cfg(test)]
mod tests;

pub use abort::{AbortHandle, TurnControl, WaitEnd};
pub use error::{HttpErrorKind, ProviderError, StreamError, TimeoutKind};
pub use router::{EventSink, RoutedTurn, Router, TurnFailure};
pub use types::{
    FinishReason, Message, ModelInfo, ModelRef, Role, StreamEvent, ToolCall, ToolSpec, TurnRequest, TurnSummary, Usage,
};

/// One model provider. Implementations are shared between agent threads (`Send + Sync`) and
/// block the calling thread for the whole turn.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The configured name (`builtin`, `openai`, ...): the part before `/` in a model id.
    fn name(&self) -> &str;

    /// The models it lists (for `/v1/models` and for resolving a bare model name).
    fn models(&self) -> Vec<ModelInfo>;

    /// Run one turn of `model`, streaming: `emit` receives the events in the order of
    /// [`types`], and the summary of the same events is returned.
    ///
    /// # Errors
    /// [`ProviderError`]; events already emitted stay emitted.
    fn stream(
        &self,
        model: &str,
        request: &TurnRequest,
        ctl: &TurnControl,
        emit: &mut dyn FnMut(StreamEvent<'_>),
    ) -> Result<TurnSummary, ProviderError>;

    /// Run one turn of `model` without streaming (one response body).
    ///
    /// # Errors
    /// [`ProviderError`].
    fn complete(&self, model: &str, request: &TurnRequest, ctl: &TurnControl) -> Result<TurnSummary, ProviderError>;
}

/// Pass every event to `emit` and record it into `summary`.
pub(crate) fn recording<'a>(
    summary: &'a mut TurnSummary,
    emit: &'a mut dyn FnMut(StreamEvent<'_>),
) -> impl FnMut(StreamEvent<'_>) + 'a {
    move |event| {
        summary.record(event);
        emit(event);
    }
}
