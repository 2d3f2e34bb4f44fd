//! What can go wrong in a provider turn, in two layers: [`StreamError`] for the sans-IO
//! decoders (a malformed or hostile stream), [`ProviderError`] for a whole turn (HTTP status,
//! connection, timeout, abort, routing).
//!
//! Guarantees: no error carries an API key (clients scrub their key out of upstream messages
//! before building one); upstream text kept in an error is cut to [`MAX_UPSTREAM_MESSAGE_BYTES`];
//! every variant has a short stable code ([`ProviderError::code`]) for events and logs.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::types::truncate;
use crate::protocol::sse_decode::SseError;

/// Longest upstream error message kept (from an error body or an in-stream error event).
/// Longer messages are cut at a character boundary.
pub const MAX_UPSTREAM_MESSAGE_BYTES: usize = 512;

/// Longest serde/JSON detail kept for a malformed chunk.
const MAX_DETAIL_BYTES: usize = 160;

/// A stream that could not be decoded. Ends the turn; nothing after it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// The event-stream framing passed a limit.
    Sse(SseError),
    /// A chunk's data is not the JSON the format defines (the detail says where).
    MalformedChunk {
        /// The JSON error, cut to a short length.
        detail: String,
    },
    /// The upstream sent an error inside the stream (OpenAI `{"error":…}`, Anthropic `error`).
    Upstream {
        /// The upstream's error type (`overloaded_error`, `server_error`, ...), if it gave one.
        kind: String,
        /// Its message, cut to [`MAX_UPSTREAM_MESSAGE_BYTES`].
        message: String,
    },
    /// The stream ended before the format's end marker (no finish reason, no `[DONE]`, no
    /// `message_stop`), or in the middle of an event.
    Truncated,
    /// More tool calls than [`super::openai_stream::MAX_TOOL_CALLS`] in one turn.
    TooManyToolCalls {
        /// The limit.
        limit: usize,
    },
    /// One tool call's argument text passed [`super::openai_stream::MAX_TOOL_ARGUMENT_BYTES`].
    ToolArgumentsTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The turn's generated text passed [`super::stream::MAX_TURN_TEXT_BYTES`].
    OutputTooLarge {
        /// The limit.
        limit: usize,
    },
}

impl StreamError {
    /// A short stable code (the `error` of `proto/providers/streams.json`).
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Sse(SseError::LineTooLong { .. }) => "sse_line_too_long",
            Self::Sse(SseError::EventTooLarge { .. }) => "sse_event_too_large",
            Self::MalformedChunk { .. } => "malformed_chunk",
            Self::Upstream { .. } => "upstream",
            Self::Truncated => "truncated",
            Self::TooManyToolCalls { .. } => "too_many_tool_calls",
            Self::ToolArgumentsTooLarge { .. } => "tool_arguments_too_large",
            Self::OutputTooLarge { .. } => "output_too_large",
        }
    }

    /// A malformed-chunk error from a JSON error.
    #[must_use]
    pub fn malformed(e: &serde_json::Error) -> Self {
        Self::MalformedChunk { detail: truncate(&e.to_string(), MAX_DETAIL_BYTES).to_owned() }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sse(e) => write!(f, "upstream stream framing: {e}"),
            Self::MalformedChunk { detail } => write!(f, "malformed upstream stream chunk: {detail}"),
            Self::Upstream { kind, message } if kind.is_empty() => write!(f, "upstream error in stream: {message}"),
            Self::Upstream { kind, message } => write!(f, "upstream error in stream ({kind}): {message}"),
            Self::Truncated => f.write_str("upstream stream ended before its end marker"),
            Self::TooManyToolCalls { limit } => write!(f, "more than {limit} tool calls in one turn"),
            Self::ToolArgumentsTooLarge { limit } => write!(f, "tool call arguments larger than {limit} bytes"),
            Self::OutputTooLarge { limit } => write!(f, "turn output larger than {limit} bytes"),
        }
    }
}

impl From<SseError> for StreamError {
    fn from(e: SseError) -> Self {
        Self::Sse(e)
    }
}

/// Which deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// The turn's overall deadline (`agent.turn_timeout_ms`). No time is left for a fallback.
    Turn,
    /// Connecting (`providers.<name>.connect_timeout_ms`).
    Connect,
    /// Waiting for the response head (`providers.<name>.response_timeout_ms`).
    Response,
}

/// How an upstream HTTP status is classed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpErrorKind {
    /// 401, 403: the key is missing, wrong or lacks access.
    Auth,
    /// 429: rate limited or out of quota.
    RateLimited,
    /// 500, 502, 503, 504, 529 and other 5xx: the upstream is failing or overloaded.
    Unavailable,
    /// 400, 404, 409, 413, 422 and other 4xx: the request (model name, context length,
    /// parameters) was refused.
    Refused,
}

impl HttpErrorKind {
    /// The class of `status` (a non-success status).
    #[must_use]
    pub const fn of(status: u16) -> Self {
        match status {
            401 | 403 => Self::Auth,
            429 => Self::RateLimited,
            500..=599 => Self::Unavailable,
            _ => Self::Refused,
        }
    }

    /// Whether a request refused this way may succeed if sent again unchanged.
    #[must_use]
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable)
    }
}

/// Why a turn failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// The caller aborted the turn.
    Aborted,
    /// A deadline passed.
    Timeout(TimeoutKind),
    /// No connection could be made, or it broke before a response (DNS, refused, TLS, reset).
    Connect {
        /// What the transport said.
        detail: String,
    },
    /// The upstream answered with a non-success status (after any retries).
    Http {
        /// The status code.
        status: u16,
        /// Its class.
        kind: HttpErrorKind,
        /// The upstream's error message (OpenAI/Anthropic `error.message`, else the start of
        /// the body), cut to [`MAX_UPSTREAM_MESSAGE_BYTES`].
        message: String,
        /// What the upstream asked us to wait (`Retry-After`, `retry-after-ms`), if anything.
        retry_after: Option<Duration>,
    },
    /// The connection failed while the body was being read.
    Read {
        /// What the transport said.
        detail: String,
    },
    /// The body could not be decoded.
    Stream(StreamError),
    /// The model id names no configured provider, or the provider does not serve it.
    UnknownModel(String),
}

impl ProviderError {
    /// A short stable code for events, logs and metrics.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Aborted => "aborted",
            Self::Timeout(TimeoutKind::Turn) => "turn_timeout",
            Self::Timeout(TimeoutKind::Connect) => "connect_timeout",
            Self::Timeout(TimeoutKind::Response) => "response_timeout",
            Self::Connect { .. } => "connect_failed",
            Self::Http { kind: HttpErrorKind::Auth, .. } => "upstream_auth",
            Self::Http { kind: HttpErrorKind::RateLimited, .. } => "upstream_rate_limited",
            Self::Http { kind: HttpErrorKind::Unavailable, .. } => "upstream_unavailable",
            Self::Http { kind: HttpErrorKind::Refused, .. } => "upstream_refused",
            Self::Read { .. } => "read_failed",
            Self::Stream(StreamError::Upstream { .. }) => "upstream_stream_error",
            Self::Stream(_) => "malformed_stream",
            Self::UnknownModel(_) => "unknown_model",
        }
    }

    /// Whether the router may try the next model after this error (when nothing was streamed
    /// yet). Not after an abort (the caller wants the turn over) nor after the turn deadline
    /// (no time is left).
    #[must_use]
    pub const fn allows_fallback(&self) -> bool {
        !matches!(self, Self::Aborted | Self::Timeout(TimeoutKind::Turn))
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Aborted => f.write_str("turn aborted"),
            Self::Timeout(TimeoutKind::Turn) => f.write_str("turn timed out (agent.turn_timeout_ms)"),
            Self::Timeout(TimeoutKind::Connect) => f.write_str("timed out connecting to the upstream"),
            Self::Timeout(TimeoutKind::Response) => f.write_str("timed out waiting for the upstream's response"),
            Self::Connect { detail } => write!(f, "cannot reach the upstream: {detail}"),
            Self::Http { status, message, .. } => write!(f, "upstream answered {status}: {message}"),
            Self::Read { detail } => write!(f, "upstream connection failed mid-response: {detail}"),
            Self::Stream(e) => e.fmt(f),
            Self::UnknownModel(m) => write!(f, "unknown model {m:?}"),
        }
    }
}

impl std::error::Error for ProviderError {}

impl From<StreamError> for ProviderError {
    fn from(e: StreamError) -> Self {
        Self::Stream(e)
    }
}

/// The error shape OpenAI and Anthropic share: `{"error": {"message": …, "type": …}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

/// `error` of [`ErrorBody`]; OpenAI-compatible servers also send a bare string.
#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorDetail {
    Object {
        #[serde(default)]
        message: Option<String>,
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        code: Option<serde_json::Value>,
    },
    Text(String),
}

/// The message of an upstream error body: `error.message` (with its type or code in front
/// when present), or the start of the body as text when it is not that JSON shape.
#[must_use]
pub fn upstream_message(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error: ErrorDetail::Text(t) }) => t,
        Ok(ErrorBody { error: ErrorDetail::Object { message, kind, code } }) => {
            let label = kind.or_else(|| code.and_then(|c| c.as_str().map(str::to_owned)));
            match (label, message) {
                (Some(l), Some(m)) => format!("{l}: {m}"),
                (None, Some(m)) => m,
                (Some(l), None) => l,
                (None, None) => String::new(),
            }
        }
        Err(_) => String::from_utf8_lossy(body.get(..MAX_UPSTREAM_MESSAGE_BYTES).unwrap_or(body)).trim().to_owned(),
    };
    truncate(&text, MAX_UPSTREAM_MESSAGE_BYTES).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_messages() {
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
                "requests: Rate limit reached",
            ),
            (br#"{"error":{"message":"bad model","type":null,"code":"model_not_found"}}"#, "model_not_found: bad model"),
            (br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, "overloaded_error: Overloaded"),
            (br#"{"error":"plain text error"}"#, "plain text error"),
            (b"<html>502 Bad Gateway</html>\n", "<html>502 Bad Gateway</html>"),
            (b"", ""),
        ];
        for (body, want) in cases {
            assert_eq!(upstream_message(body), *want, "{}", String::from_utf8_lossy(body));
        }
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "é".repeat(600));
        assert!(upstream_message(long.as_bytes()).len() <= MAX_UPSTREAM_MESSAGE_BYTES);
    }

    #[test]
    fn status_classes() {
        for (status, kind) in [
            (401, HttpErrorKind::Auth),
            (403, HttpErrorKind::Auth),
            (429, HttpErrorKind::RateLimited),
            (500, HttpErrorKind::Unavailable),
            (529, HttpErrorKind::Unavailable),
            (400, HttpErrorKind::Refused),
            (404, HttpErrorKind::Refused),
        ] {
            assert_eq!(HttpErrorKind::of(status), kind, "{status}");
        }
    }
}
