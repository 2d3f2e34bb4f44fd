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
//! - It calls tools, so the tool loop is testable offline: every line of the last user message
//!   that reads `/tool <name> <json arguments>` becomes one tool call (ids `call_1`, `call_2`,
//!   … in line order; arguments passed on verbatim, `{}` when none), finish `tool_calls`, with
//!   no text. When the conversation ends with tool results, it answers (streamed like an echo)
//!   with one line per result: `<name> returned: <result text>`. The tool need not exist: the
//!   runtime answers an unknown one with an error, which the echo then repeats.

use std::time::Duration;

use super::abort::TurnControl;
use super::error::ProviderError;
use super::types::{FinishReason, Message, ModelInfo, Role, StreamEvent, ToolCall, TurnRequest, TurnSummary, Usage};
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
        let user = request.messages.iter().rev().find(|m| m.role == Role::User).map_or("", |m| m.content.as_str());
        let input_tokens = request.messages.iter().map(|m| words(&m.content)).fold(0u64, u64::saturating_add);
        let answered = tool_answer(&request.messages);
        if answered.is_none() {
            let calls = tool_calls_asked(user);
            if !calls.is_empty() {
                for call in &calls {
                    ctl.check()?;
                    emit(StreamEvent::ToolCall(call));
                }
                let output_tokens = u64::try_from(calls.len()).unwrap_or(u64::MAX);
                emit(StreamEvent::Usage(Usage { input_tokens, output_tokens }));
                emit(StreamEvent::Finish(&FinishReason::ToolCalls));
                return Ok(());
            }
        }
        let text = answered.as_deref().unwrap_or(user);
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
        emit(StreamEvent::Usage(Usage { input_tokens, output_tokens }));
        emit(StreamEvent::Finish(&finish));
        Ok(())
    }
}

/// The calls a user message asks for: one per line `/tool <name> <json arguments>`.
fn tool_calls_asked(text: &str) -> Vec<ToolCall> {
    text.lines()
        .filter_map(|line| line.trim_start().strip_prefix("/tool "))
        .filter_map(|rest| {
            let rest = rest.trim();
            let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let args = args.trim();
            (!name.is_empty())
                .then(|| (name.to_owned(), if args.is_empty() { "{}".to_owned() } else { args.to_owned() }))
        })
        .enumerate()
        .map(|(i, (name, arguments))| ToolCall { id: format!("call_{}", i + 1), name, arguments })
        .collect()
}

/// When the conversation ends with tool results: `<name> returned: <text>`, one line each.
fn tool_answer(messages: &[Message]) -> Option<String> {
    let results: Vec<&Message> = messages.iter().rev().take_while(|m| m.role == Role::Tool).collect();
    if results.is_empty() {
        return None;
    }
    let calls = messages.iter().rev().find(|m| m.role == Role::Assistant).map_or(&[][..], |m| m.tool_calls.as_slice());
    let lines: Vec<String> = results
        .iter()
        .rev()
        .map(|r| {
            let id = r.tool_call_id.as_deref().unwrap_or_default();
            let name = calls.iter().find(|c| c.id == id).map_or("a tool", |c| c.name.as_str());
            format!("{name} returned: {}", r.content)
        })
        .collect();
    Some(lines.join("\n"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(messages: Vec<Message>) -> TurnSummary {
        let request = TurnRequest { messages, ..TurnRequest::default() };
        let ctl = TurnControl::new(Duration::from_secs(5));
        EchoProvider::new().stream(ECHO_MODEL, &request, &ctl, &mut |_| {}).unwrap_or_default()
    }

    #[test]
    fn tool_lines_become_calls_and_results_become_the_answer() {
        let asked = run(vec![Message::user("please\n/tool current_time {\"format\":\"unix\"}\n /tool nope")]);
        assert_eq!(asked.finish, Some(FinishReason::ToolCalls));
        assert!(asked.text.is_empty());
        let names: Vec<(&str, &str, &str)> =
            asked.tool_calls.iter().map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str())).collect();
        assert_eq!(names, [("call_1", "current_time", "{\"format\":\"unix\"}"), ("call_2", "nope", "{}")]);

        let mut assistant = Message::assistant("");
        assistant.tool_calls = asked.tool_calls;
        let answer = run(vec![
            Message::user("/tool current_time {}"),
            assistant,
            Message::tool_result("call_1", "12:00"),
            Message::tool_result("call_2", "error: no such tool"),
        ]);
        assert_eq!(answer.finish, Some(FinishReason::Stop));
        assert_eq!(answer.text, "current_time returned: 12:00\nnope returned: error: no such tool");
        assert!(answer.tool_calls.is_empty(), "an answer after tool results calls nothing");
        assert_eq!(run(vec![Message::user("/tool")]).text, "/tool", "no name: an ordinary echo");
    }
}
