//! What goes into the agent runtime (a [`ChatRequest`]) and what comes out of a turn (the
//! [`TurnEvent`]s a caller's [`TurnSink`] receives), plus the limits on requests, run ids and
//! the price of a turn.
//!
//! Guarantees: a request that passes [`ChatRequest::validate`] has a session key and message
//! within [`MAX_SESSION_KEY_BYTES`] and [`MAX_MESSAGE_BYTES`]; a sink sees exactly one
//! `Started` (unless the turn was aborted while waiting), then deltas and tool calls, then
//! exactly one of `Final`, `Aborted` or `Error`, which comes only after the turn's end is
//! durable in the store.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::agent::providers::{AbortHandle, FinishReason, ToolCall, Usage};
use crate::config::agent::PriceConfig;
use crate::error::GatewayError;
use crate::store::SessionOrigin;

/// Longest session key accepted (bytes).
pub const MAX_SESSION_KEY_BYTES: usize = 256;

/// Longest user message accepted (bytes); larger ones are refused with 400.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Longest idempotency key accepted (bytes).
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 256;

/// The session a request without a key goes to (the seeds' `main`).
pub const DEFAULT_SESSION_KEY: &str = "main";

/// The one agent this build runs; `default` is accepted as its other name (Comis's).
pub const DEFAULT_AGENT_ID: &str = "main";

/// One message for the agent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The session it belongs to (empty: [`DEFAULT_SESSION_KEY`]).
    pub session_key: String,
    /// The user's text.
    pub message: String,
    /// The agent (`None`: the default).
    pub agent_id: Option<String>,
    /// The model for this turn (`None`: the session's, else `agent.default_model`).
    pub model: Option<String>,
    /// A repeat of the same key in the same session returns the first run.
    pub idempotency_key: Option<String>,
    /// Where a new session's messages come from.
    pub origin: SessionOrigin,
    /// The conversation before `message`, when the caller sends it whole (the OpenAI-compatible
    /// API is stateless): used instead of the session's stored history. `None`: the stored one.
    pub history: Option<Vec<crate::agent::providers::Message>>,
    /// Sampling parameters the caller set for this turn (the OpenAI-compatible API passes
    /// them through); unset ones are left to the upstream's defaults.
    pub sampling: Sampling,
    /// A channel turn: where its reply goes and which inbox row it settles, written in the
    /// turn's end-of-turn transaction (`None`: the caller takes the reply from the sink).
    pub reply: Option<crate::channel_turns::ReplyRoute>,
}

/// Per-turn sampling parameters, passed to the provider as given.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sampling {
    /// Most tokens to generate (OpenAI `max_tokens` / `max_completion_tokens`, Responses
    /// `max_output_tokens`).
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 to [`MAX_TEMPERATURE`].
    pub temperature: Option<f32>,
}

/// Highest temperature accepted (OpenAI's range is 0 to 2); higher is refused with 400.
pub const MAX_TEMPERATURE: f32 = 2.0;

impl ChatRequest {
    /// Normalise and check the request.
    ///
    /// # Errors
    /// 400 with what is wrong: empty or oversized message, oversized key, unknown agent.
    pub fn validate(&mut self) -> Result<(), GatewayError> {
        if self.session_key.trim().is_empty() {
            DEFAULT_SESSION_KEY.clone_into(&mut self.session_key);
        }
        if self.session_key.len() > MAX_SESSION_KEY_BYTES {
            return Err(GatewayError::InvalidParams(format!(
                "sessionKey is longer than {MAX_SESSION_KEY_BYTES} bytes"
            )));
        }
        if self.message.trim().is_empty() {
            return Err(GatewayError::InvalidParams("message is required and must not be empty".into()));
        }
        if self.message.len() > MAX_MESSAGE_BYTES {
            return Err(GatewayError::InvalidParams(format!("message is longer than {MAX_MESSAGE_BYTES} bytes")));
        }
        if self.idempotency_key.as_ref().is_some_and(|k| k.len() > MAX_IDEMPOTENCY_KEY_BYTES) {
            return Err(GatewayError::InvalidParams(format!(
                "idempotencyKey is longer than {MAX_IDEMPOTENCY_KEY_BYTES} bytes"
            )));
        }
        self.idempotency_key = self.idempotency_key.take().filter(|k| !k.is_empty());
        if let Some(t) = self.sampling.temperature
            && !(0.0..=MAX_TEMPERATURE).contains(&t)
        {
            return Err(GatewayError::InvalidParams(format!("temperature must be between 0 and {MAX_TEMPERATURE}")));
        }
        if self.sampling.max_tokens == Some(0) {
            return Err(GatewayError::InvalidParams("max_tokens must be at least 1".into()));
        }
        match self.agent_id.as_deref() {
            None | Some("" | DEFAULT_AGENT_ID | "default") => self.agent_id = None,
            Some(other) => return Err(GatewayError::AgentNotFound(other.chars().take(64).collect())),
        }
        Ok(())
    }
}

/// What [`super::Runtime::submit`] answers at once.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The turn's run id (the original one for a repeated idempotency key).
    pub run_id: String,
    /// The session key.
    pub session_key: String,
    /// The turn waits behind another turn of the same session.
    pub queued: bool,
    /// The idempotency key was seen before: nothing new was started, and the sink is unused.
    pub duplicate: bool,
    /// Stops this turn (running or waiting), as `chat.abort` would: a caller that stops
    /// listening (a streaming client that went away) aborts through it. For a duplicate it
    /// belongs to nothing and aborting it does nothing.
    pub abort: AbortHandle,
}

/// The end of a successful turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnResult {
    /// The whole reply.
    pub text: String,
    /// Token counts (zeros when the upstream reported none).
    pub usage: Usage,
    /// Why the model stopped.
    pub finish: FinishReason,
    /// US dollars, from `agent.prices`.
    pub cost_usd: f64,
    /// The model that answered (`provider/model`).
    pub model: String,
}

/// One thing that happened in a turn, as a caller's sink sees it (on the agent thread).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TurnEvent<'a> {
    /// The turn is running on `model`.
    Started {
        /// Run id.
        run_id: &'a str,
        /// Session key.
        session_key: &'a str,
        /// `provider/model`.
        model: &'a str,
    },
    /// More reply text.
    Delta {
        /// The new text.
        text: &'a str,
    },
    /// The model called a tool.
    ToolCall(&'a ToolCall),
    /// The turn ended normally.
    Final(&'a TurnResult),
    /// The turn was aborted; `partial` is what had streamed.
    Aborted {
        /// The text streamed before the abort.
        partial: &'a str,
    },
    /// The turn failed.
    Error {
        /// Short code (`turn_timeout`, `upstream_unavailable`, `store`, ...).
        kind: &'a str,
        /// What went wrong.
        message: &'a str,
    },
}

impl TurnEvent<'_> {
    /// Whether this is the turn's last event (`Final`, `Aborted` or `Error`).
    #[must_use]
    pub const fn is_end(&self) -> bool {
        matches!(self, Self::Final(_) | Self::Aborted { .. } | Self::Error { .. })
    }
}

/// Where a turn's events go. Runs on the agent thread: it must not block for long.
pub type TurnSink = Box<dyn FnMut(TurnEvent<'_>) + Send>;

/// A sink that drops everything (the bus still gets the turn's `chat` events).
#[must_use]
pub fn no_sink() -> TurnSink {
    Box::new(|_| {})
}

/// The cost of `usage` at `price` (per million tokens).
#[must_use]
pub fn cost_usd(price: Option<&PriceConfig>, usage: Usage) -> f64 {
    let Some(p) = price else { return 0.0 };
    // Token counts far below 2^52 convert exactly.
    #[allow(clippy::cast_precision_loss)]
    let (input, output) = (usage.input_tokens as f64, usage.output_tokens as f64);
    (input * p.input_per_mtok + output * p.output_per_mtok) / 1_000_000.0
}

/// A new unique id with `prefix`: the time, a per-process counter and a per-process random
/// salt (from the standard library's randomly keyed hasher), so ids never repeat across
/// restarts either.
#[must_use]
pub fn new_id(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let salt = *SALT.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        h.write_u32(std::process::id());
        h.finish()
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:x}{:08x}{:04x}", crate::app::unix_ms(), salt & 0xffff_ffff, n & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_defaults_and_refusals() {
        let mut r = ChatRequest { message: "hi".into(), agent_id: Some("default".into()), ..ChatRequest::default() };
        r.validate().expect("valid");
        assert_eq!((r.session_key.as_str(), r.agent_id), (DEFAULT_SESSION_KEY, None));
        let mut empty = ChatRequest { message: "  ".into(), ..ChatRequest::default() };
        assert!(matches!(empty.validate(), Err(GatewayError::InvalidParams(m)) if m.contains("message")));
        let mut big = ChatRequest { message: "x".repeat(MAX_MESSAGE_BYTES + 1), ..ChatRequest::default() };
        assert!(big.validate().is_err());
        let mut agent = ChatRequest { message: "x".into(), agent_id: Some("nope".into()), ..ChatRequest::default() };
        assert_eq!(agent.validate(), Err(GatewayError::AgentNotFound("nope".into())));
    }

    #[test]
    fn cost_is_per_million_tokens() {
        let price = PriceConfig { input_per_mtok: 0.15, output_per_mtok: 0.6 };
        let usage = Usage { input_tokens: 1_000_000, output_tokens: 500_000 };
        assert!((cost_usd(Some(&price), usage) - 0.45).abs() < 1e-12);
        assert!(cost_usd(None, usage).abs() < f64::EPSILON);
    }

    #[test]
    fn ids_do_not_repeat() {
        let ids: std::collections::BTreeSet<String> = (0..1000).map(|_| new_id("run_")).collect();
        assert_eq!(ids.len(), 1000);
    }
}
