//! `builtin/echo`: the offline provider. It streams the last user message back, token by
//! token, so the gateway works with no configuration and tests need no network.
//!
//! Guarantees:
//! - Deterministic: the same request gives the same events. A token is a run of whitespace
//!   followed by a run of non-whitespace (`"hi  there"` → `"hi"`, `"  there"`), so the deltas
//!   concatenate to exactly the echoed text.
//! - Usage counts whitespace-separated words: input = words of every message sent, output =
//!   words echoed. `max_tokens` cuts the echo at that many words (finish `length`).
//! - The abort flag and the deadline are checked before every token, and the optional delay
//!   between tokens ([`EchoProvider::with_token_delay`]) is an abortable wait.
//! - It is labelled as built-in and offline wherever it is listed (`owned_by: talon-builtin`).

use std::time::Duration;

use super::abort::TurnControl;
use super::error::ProviderError;
use super::types::{FinishReason, ModelInfo, Role, StreamEvent, TurnRequest, TurnSummary, Usage};
use super::{Provider, recording};
use crate::config::agent::BUILTIN_PROVIDER;

/// The one model of the built-in provider.
pub const ECHO_MODEL: &str = "echo";

/// `owned_by` of built-in models.
pub const BUILTIN_OWNER: &str = "talon-builtin";

/// The offline echo provider.
#[derive(Debug, Clone, Default)]
pub struct EchoProvider {
    token_delay: Duration,
}

impl EchoProvider {
    /// An echo that streams as fast as the caller reads.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An echo that waits `delay` before each token (to exercise slow streams and abort).
    #[must_use]
    pub const fn with_token_delay(delay: Duration) -> Self {
        Self { token_delay: delay }
    }

    fn run(
        &self,
        model: &str,
        request: &TurnRequest,
        ctl: &TurnControl,
        emit: &mut dyn FnMut(StreamEvent<'_>),
    ) -> Result<(), ProviderError> {
        if model != ECHO_MODEL {
            return Err(ProviderError::UnknownModel(format!("{BUILTIN_PROVIDER}/{model}")));
        }
        let text = request.messages.iter().rev().find(|m| m.role == Role::User).map_or("", |m| m.content.as_str());
        let limit = request.max_tokens.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let mut output_tokens = 0u64;
        let mut finish = FinishReason::Stop;
        for (count, token) in tokens(text).enumerate() {
            if count >= limit {
                finish = FinishReason::Length;
                break;
            }
            ctl.check()?;
            if !self.token_delay.is_zero() && ctl.abort.sleep(self.token_delay.min(ctl.remaining())) {
                return Err(ProviderError::Aborted);
            }
            ctl.check()?;
            emit(StreamEvent::TextDelta(token));
            output_tokens = output_tokens.saturating_add(1);
        }
        let input_tokens = request.messages.iter().map(|m| words(&m.content)).fold(0u64, u64::saturating_add);
        emit(StreamEvent::Usage(Usage { input_tokens, output_tokens }));
        emit(StreamEvent::Finish(&finish));
        Ok(())
    }
}

/// Whitespace-separated words in `text`.
fn words(text: &str) -> u64 {
    u64::try_from(text.split_whitespace().count()).unwrap_or(u64::MAX)
}

/// The tokens of `text`: each is leading whitespace plus one word; they concatenate to `text`.
/// Trailing whitespace is the last token on its own.
pub fn tokens(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let word_start = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
        let after = rest.get(word_start..).unwrap_or_default();
        let word_len = after.find(char::is_whitespace).unwrap_or(after.len());
        let (token, tail) = rest.split_at(word_start.saturating_add(word_len).min(rest.len()));
        rest = tail;
        Some(token)
    })
}

impl Provider for EchoProvider {
    fn name(&self) -> &str {
        BUILTIN_PROVIDER
    }

    fn models(&self) -> Vec<ModelInfo> {
        vec![ModelInfo {
            id: format!("{BUILTIN_PROVIDER}/{ECHO_MODEL}"),
            provider: BUILTIN_PROVIDER.to_owned(),
            owned_by: BUILTIN_OWNER.to_owned(),
            builtin: true,
        }]
    }

    fn stream(
        &self,
        model: &str,
        request: &TurnRequest,
        ctl: &TurnControl,
        emit: &mut dyn FnMut(StreamEvent<'_>),
    ) -> Result<TurnSummary, ProviderError> {
        let mut summary = TurnSummary::default();
        self.run(model, request, ctl, &mut recording(&mut summary, emit))?;
        Ok(summary)
    }

    fn complete(&self, model: &str, request: &TurnRequest, ctl: &TurnControl) -> Result<TurnSummary, ProviderError> {
        // No delay for a whole answer: the delay only shapes streaming.
        let mut summary = TurnSummary::default();
        Self::new().run(model, request, ctl, &mut |e| summary.record(e))?;
        Ok(summary)
    }
}
