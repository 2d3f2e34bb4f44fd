//! The one place that maps an error to what a client sees: HTTP status, JSON body,
//! JSON-RPC code and WebSocket close code.
//!
//! Guarantees: every error body is JSON `{"error": <short code>, "message": <what was
//! wrong>}`; 429 and 503 carry `Retry-After`, 405 carries `Allow`, 401 carries
//! `WWW-Authenticate`. Errors that leave the connection's framing untrustworthy say so
//! through [`GatewayError::closes_connection`].

use std::time::Duration;

use crate::auth::Scope;
use crate::protocol::http1::{ParseError, Response};
use crate::protocol::jsonrpc::DecodeError;
use crate::protocol::websocket::UpgradeError;

/// `Retry-After` of a webhook refused because the store fail-stopped.
const STORE_FAILED_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Words for a refused signature (the code is in the metrics; people read this).
fn verify_message(e: crate::webhook::VerifyError) -> &'static str {
    use crate::webhook::{Header, VerifyError as V};
    match e {
        V::MissingHeader(Header::Signature) => "signature header missing",
        V::MissingHeader(Header::Timestamp) => "timestamp header missing",
        V::MissingHeader(Header::Id) => "message id (or nonce) header missing",
        V::EmptySignature => "signature header is empty",
        V::WrongPrefix => "signature lacks its scheme prefix (sha256=, v0=, v1,)",
        V::WrongLength => "signature has the wrong length",
        V::NotHex => "signature is not hexadecimal",
        V::NotBase64 => "signature is not base64",
        V::Mismatch => "signature does not match the body",
        V::StaleTimestamp => "timestamp is too old (more than 300 s)",
        V::FutureTimestamp => "timestamp is too far in the future",
        V::BadTimestamp => "timestamp is not a number of seconds",
        V::BadSecret => "the configured secret is unusable",
    }
}

/// An error that ends a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// The request could not be parsed or framed.
    Parse(ParseError),
    /// No route for the path.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed {
        /// The methods the route accepts, for the `Allow` header.
        allow: &'static str,
    },
    /// No credential, or a wrong one.
    Unauthorized {
        /// Which of the two.
        reason: &'static str,
    },
    /// Authenticated, but the token lacks the scope.
    InsufficientScope {
        /// The scope the route needs.
        required: Scope,
    },
    /// A browser request from an origin that is not allowed.
    OriginNotAllowed,
    /// The per-IP request rate limit is exhausted.
    RateLimited {
        /// When to retry.
        retry_after: Duration,
    },
    /// Too many failed authentications from this IP.
    AuthLockedOut {
        /// When the lockout ends.
        retry_after: Duration,
    },
    /// A bounded queue is full.
    Overloaded {
        /// Which queue.
        what: &'static str,
    },
    /// The request head did not complete within `header_timeout_ms`.
    HeaderTimeout,
    /// The body stalled longer than `body_idle_timeout_ms`.
    BodyTimeout,
    /// The server is shutting down and takes no new work.
    ShuttingDown,
    /// A bug or an unexpected failure on our side.
    Internal(String),
    /// A WebSocket route was asked for without a valid upgrade (or a bad one).
    Upgrade(crate::protocol::websocket::UpgradeError),
    /// A WebSocket message (or frame) over `gateway.ws.max_message_bytes`.
    MessageTooBig {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A peer that reads too slowly: its outbound queue passed its bound.
    SlowConsumer {
        /// The bound that was passed.
        max_bytes: u64,
    },
    /// A WebSocket peer that did not answer a ping within `pong_timeout_ms`.
    PongTimeout,
    /// The per-connection message rate limit (`gateway.ws.message_rate_limit`).
    MessageRateLimited {
        /// When the window allows the next message.
        retry_after: Duration,
    },
    /// An RPC frame that could not be decoded or is not a valid request.
    RpcDecode(crate::protocol::jsonrpc::DecodeError),
    /// An RPC method that does not exist here.
    UnknownMethod(String),
    /// RPC parameters that do not fit the method.
    InvalidParams(String),
    /// A binary WebSocket message where only JSON text is spoken.
    BinaryNotSupported,
    /// A WebSocket protocol violation (RFC 6455 §7.4.1, 1002).
    WsProtocol(String),
    /// A WebSocket text message that is not UTF-8 (1007).
    WsInvalidUtf8,
    /// A fragmented WebSocket message not completed within `limits.body_timeout_ms`.
    MessageTimeout,
    /// A webhook whose signature (or secret token, or timestamp) was refused.
    WebhookSignature(crate::webhook::VerifyError),
    /// A webhook with no signature where the endpoint needs one or a bearer token.
    WebhookUnsigned,
    /// A webhook body the channel cannot have sent (not JSON, no delivery id, ...).
    WebhookBody(String),
    /// A Comis `/hooks/webhook` body that fails the `{event, source, data, timestamp?}` schema.
    WebhookSchema(String),
    /// A channel handshake (`hub.verify_token`, Lark token) that does not match.
    WebhookChallenge(&'static str),
    /// A webhook path of a channel that is not enabled.
    ChannelDisabled(&'static str),
    /// The store stopped acknowledging after a failed commit or sync; nothing new is accepted.
    StoreFailed,
    /// No inbox entry with this id.
    InboxEntryNotFound(i64),
    /// A session already has `agent.max_queued_per_session` turns waiting behind its running one.
    SessionBusy {
        /// The session key.
        session: String,
        /// The bound that was reached.
        max: usize,
    },
    /// No session with this key.
    SessionNotFound(String),
    /// No running or waiting turn with this run id in the session.
    RunNotFound(String),
    /// No agent with this id.
    AgentNotFound(String),
    /// No configured model with this id (`provider/model`, or a model name one provider lists).
    ModelNotFound(String),
    /// No pending tool approval with this id (unknown, already resolved, or expired).
    ApprovalNotFound(String),
    /// An agent turn ended in an error (upstream, timeout, store); `kind` is its short code.
    AgentTurn {
        /// `turn_timeout`, `upstream_unavailable`, ... (see the provider error codes), or `store`.
        kind: String,
        /// What went wrong (never a key).
        message: String,
    },
    /// A forwarded (non-turn) upstream call failed, e.g. `/v1/embeddings`; `kind` is its short
    /// code (the provider error codes, or `bad_upstream_answer`).
    Upstream {
        /// `connect_failed`, `response_timeout`, `bad_upstream_answer`, ...
        kind: String,
        /// What went wrong (never a key).
        message: String,
    },
}

impl From<ParseError> for GatewayError {
    fn from(e: ParseError) -> Self {
        Self::Parse(e)
    }
}

impl GatewayError {
    /// The HTTP status code.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Parse(e) => match e {
                ParseError::RequestLineTooLong => 414,
                ParseError::HeadersTooLarge | ParseError::TooManyHeaders => 431,
                ParseError::UnsupportedTransferCoding | ParseError::ConnectNotSupported => 501,
                ParseError::UnsupportedExpectation => 417,
                ParseError::UnsupportedVersion => 505,
                ParseError::BodyTooLarge => 413,
                _ => 400,
            },
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Unauthorized { .. } => 401,
            Self::InsufficientScope { .. } | Self::OriginNotAllowed => 403,
            Self::RateLimited { .. } | Self::AuthLockedOut { .. } => 429,
            Self::Overloaded { .. } | Self::ShuttingDown => 503,
            Self::HeaderTimeout | Self::BodyTimeout => 408,
            Self::Internal(_) => 500,
            Self::Upgrade(UpgradeError::NotAnUpgrade | UpgradeError::UnsupportedVersion) => 426,
            Self::Upgrade(_) | Self::UnknownMethod(_) | Self::InvalidParams(_) | Self::BinaryNotSupported => 400,
            Self::MessageTooBig { .. } => 413,
            Self::RpcDecode(_) | Self::WsProtocol(_) | Self::WsInvalidUtf8 => 400,
            Self::SlowConsumer { .. } | Self::PongTimeout | Self::MessageTimeout => 408,
            Self::MessageRateLimited { .. } => 429,
            Self::WebhookSignature(crate::webhook::VerifyError::BadSecret) => 500,
            Self::WebhookSignature(_) | Self::WebhookUnsigned => 401,
            Self::WebhookBody(_) => 400,
            Self::WebhookSchema(_) => 422,
            Self::WebhookChallenge(_) => 403,
            Self::ChannelDisabled(_) | Self::InboxEntryNotFound(_) => 404,
            Self::StoreFailed | Self::SessionBusy { .. } => 503,
            Self::SessionNotFound(_)
            | Self::RunNotFound(_)
            | Self::AgentNotFound(_)
            | Self::ModelNotFound(_)
            | Self::ApprovalNotFound(_) => 404,
            Self::AgentTurn { kind, .. } if kind.ends_with("timeout") => 504,
            Self::AgentTurn { .. } => 502,
            Self::Upstream { kind, .. } if kind.ends_with("timeout") => 504,
            Self::Upstream { .. } => 502,
        }
    }

    /// A short machine-readable code for the `error` field.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self.http_status() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            408 => "request_timeout",
            413 => "payload_too_large",
            414 => "uri_too_long",
            417 => "expectation_failed",
            422 => "unprocessable_entity",
            426 => "upgrade_required",
            429 => "too_many_requests",
            431 => "headers_too_large",
            501 => "not_implemented",
            502 => "bad_gateway",
            504 => "gateway_timeout",
            503 => "unavailable",
            505 => "http_version_not_supported",
            _ => "internal_error",
        }
    }

    /// What was wrong, in words a client can act on.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::Parse(e) => e.message().to_owned(),
            Self::NotFound => "no route for this path".into(),
            Self::MethodNotAllowed { allow } => format!("method not allowed; allowed: {allow}"),
            Self::Unauthorized { reason } => (*reason).to_owned(),
            Self::InsufficientScope { required } => format!("token lacks the '{required}' scope"),
            Self::OriginNotAllowed => "origin is not in the allow-list (gateway.cors_origins)".into(),
            Self::RateLimited { .. } => "rate limit exceeded for this client".into(),
            Self::AuthLockedOut { .. } => "too many failed authentication attempts; locked out".into(),
            Self::Overloaded { what } => format!("{what} is full; retry later"),
            Self::HeaderTimeout => "request head not received within header_timeout_ms".into(),
            Self::BodyTimeout => {
                "request body stalled longer than body_idle_timeout_ms or took longer than body_timeout_ms".into()
            }
            Self::ShuttingDown => "server is shutting down".into(),
            Self::Internal(m) => format!("internal error: {m}"),
            Self::Upgrade(e) => e.message().to_owned(),
            Self::MessageTooBig { size, max } => format!("Message size {size} bytes exceeds maximum of {max}"),
            Self::SlowConsumer { max_bytes } => {
                format!("slow consumer: more than {max_bytes} bytes waiting to be read; closing")
            }
            Self::PongTimeout => "no pong within pong_timeout_ms; closing".into(),
            Self::MessageTimeout => "fragmented message not completed within body_timeout_ms; closing".into(),
            Self::MessageRateLimited { .. } => "Message rate limit exceeded".into(),
            Self::UnknownMethod(m) => format!("unknown method: {m}"),
            Self::RpcDecode(e) => e.message().into_owned(),
            Self::WsProtocol(m) => format!("protocol error: {m}"),
            Self::WsInvalidUtf8 => "invalid UTF-8 in a text message".into(),
            Self::InvalidParams(m) => format!("invalid params: {m}"),
            Self::BinaryNotSupported => "binary frames are not supported; send JSON text frames".into(),
            Self::WebhookSignature(e) => format!("webhook refused: {}", verify_message(*e)),
            Self::WebhookUnsigned => "webhook refused: no signature header, and unsigned deliveries need a bearer \
                                      token with the webhook scope"
                .into(),
            Self::WebhookBody(m) => format!("webhook body refused: {m}"),
            Self::WebhookSchema(m) => format!("webhook body does not match {{event, source, data, timestamp?}}: {m}"),
            Self::WebhookChallenge(m) => format!("webhook handshake refused: {m}"),
            Self::ChannelDisabled(name) => format!("channel {name} is not enabled (channels.{name}.enabled)"),
            Self::StoreFailed => {
                "the store failed to make a write durable and stopped accepting deliveries; see the log".into()
            }
            Self::InboxEntryNotFound(id) => format!("no inbox entry {id}"),
            Self::SessionBusy { session, max } => {
                format!("session {session:?} already has {max} turns waiting; retry when one has ended")
            }
            Self::SessionNotFound(key) => format!("no session {key:?}"),
            Self::RunNotFound(run) => format!("no running or waiting turn {run:?} in this session"),
            Self::AgentNotFound(id) => format!("no agent {id:?} (see GET /api/agents)"),
            Self::ModelNotFound(id) => format!("The model '{id}' does not exist (see GET /v1/models)"),
            Self::ApprovalNotFound(id) => {
                format!("no pending approval {id:?} (unknown, already resolved, or expired)")
            }
            Self::AgentTurn { kind, message } => format!("agent turn failed ({kind}): {message}"),
            Self::Upstream { kind, message } => format!("upstream call failed ({kind}): {message}"),
        }
    }

    /// The JSON-RPC 2.0 error code for the same condition.
    #[must_use]
    pub fn jsonrpc_code(&self) -> i32 {
        match self {
            Self::Parse(_) => -32700,
            Self::NotFound | Self::MethodNotAllowed { .. } => -32601,
            Self::Unauthorized { .. } | Self::OriginNotAllowed => -32001,
            Self::InsufficientScope { .. } => -32003,
            Self::RateLimited { .. } => -32000,
            Self::AuthLockedOut { .. } => -32005,
            Self::Overloaded { .. } | Self::ShuttingDown => -32004,
            Self::HeaderTimeout | Self::BodyTimeout | Self::Internal(_) => -32603,
            Self::Upgrade(_) | Self::MessageTooBig { .. } => -32600,
            Self::UnknownMethod(_) => -32601,
            Self::RpcDecode(DecodeError::Parse | DecodeError::NotUtf8) => -32700,
            Self::RpcDecode(_) | Self::WsProtocol(_) => -32600,
            Self::WsInvalidUtf8 => -32700,
            Self::InvalidParams(_) => -32602,
            Self::BinaryNotSupported => -32700,
            Self::SlowConsumer { .. } | Self::PongTimeout | Self::MessageTimeout => -32004,
            Self::MessageRateLimited { .. } => -32000,
            Self::WebhookSignature(_) | Self::WebhookUnsigned | Self::WebhookChallenge(_) => -32001,
            Self::WebhookBody(_) | Self::WebhookSchema(_) => -32602,
            Self::ChannelDisabled(_) | Self::InboxEntryNotFound(_) => -32602,
            Self::StoreFailed | Self::SessionBusy { .. } => -32004,
            Self::SessionNotFound(_)
            | Self::RunNotFound(_)
            | Self::AgentNotFound(_)
            | Self::ModelNotFound(_)
            | Self::ApprovalNotFound(_) => -32602,
            Self::AgentTurn { .. } | Self::Upstream { .. } => -32603,
        }
    }

    /// The string code of the `req`/`res` frame dialect (OpenClaw's `error.code` names where
    /// one fits, ours otherwise).
    #[must_use]
    pub fn frame_code(&self) -> &'static str {
        match self.jsonrpc_code() {
            -32700 | -32600 | -32602 => "INVALID_REQUEST",
            -32601 => "METHOD_NOT_FOUND",
            -32001 => "UNAUTHORIZED",
            -32003 => "FORBIDDEN",
            -32000 | -32005 => "RATE_LIMITED",
            -32004 => "UNAVAILABLE",
            _ => "INTERNAL",
        }
    }

    /// How long the client should wait before retrying, when that is known.
    #[must_use]
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.retry_after().map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1))
    }

    /// The WebSocket close code for the same condition.
    #[must_use]
    pub fn ws_close_code(&self) -> u16 {
        match self {
            Self::Parse(ParseError::BodyTooLarge) => 1009,
            Self::Parse(_) => 1002,
            Self::Unauthorized { .. }
            | Self::InsufficientScope { .. }
            | Self::OriginNotAllowed
            | Self::RateLimited { .. }
            | Self::AuthLockedOut { .. } => 1008,
            Self::Overloaded { .. } => 1013,
            Self::ShuttingDown => 1001,
            Self::NotFound | Self::MethodNotAllowed { .. } | Self::HeaderTimeout | Self::BodyTimeout => 1008,
            Self::Internal(_) => 1011,
            Self::MessageTooBig { .. } => 1009,
            Self::SlowConsumer { .. } | Self::PongTimeout | Self::MessageTimeout | Self::MessageRateLimited { .. } => {
                1008
            }
            Self::Upgrade(_) | Self::UnknownMethod(_) | Self::InvalidParams(_) => 1008,
            Self::BinaryNotSupported => 1003,
            Self::RpcDecode(_) | Self::WsInvalidUtf8 => 1007,
            Self::WsProtocol(_) => 1002,
            Self::WebhookSignature(_)
            | Self::WebhookUnsigned
            | Self::WebhookBody(_)
            | Self::WebhookSchema(_)
            | Self::WebhookChallenge(_)
            | Self::ChannelDisabled(_)
            | Self::InboxEntryNotFound(_) => 1008,
            Self::StoreFailed | Self::AgentTurn { .. } | Self::Upstream { .. } => 1011,
            Self::SessionBusy { .. } => 1013,
            Self::SessionNotFound(_)
            | Self::RunNotFound(_)
            | Self::AgentNotFound(_)
            | Self::ModelNotFound(_)
            | Self::ApprovalNotFound(_) => 1008,
        }
    }

    /// The connection must close after this response (framing can no longer be trusted,
    /// or the client is being shed).
    #[must_use]
    pub fn closes_connection(&self) -> bool {
        matches!(self, Self::Parse(_) | Self::HeaderTimeout | Self::BodyTimeout | Self::ShuttingDown)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after }
            | Self::AuthLockedOut { retry_after }
            | Self::MessageRateLimited { retry_after } => Some(*retry_after),
            Self::Overloaded { .. } | Self::ShuttingDown | Self::SessionBusy { .. } => Some(Duration::from_secs(1)),
            // A fail-stopped store needs an operator (and a restart); senders back off longer.
            Self::StoreFailed => Some(STORE_FAILED_RETRY_AFTER),
            _ => None,
        }
    }

    /// The HTTP response for this error.
    #[must_use]
    pub fn to_response(&self) -> Response {
        let body = serde_json::json!({ "error": self.code(), "message": self.message() });
        let mut r = Response::json(self.http_status(), body.to_string().into_bytes());
        if let Some(wait) = self.retry_after() {
            // Round up: a client told "0" would retry at once and be refused again.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            r.push_header("Retry-After", secs.max(1).to_string());
        }
        match self {
            Self::MethodNotAllowed { allow } => r.push_header("Allow", *allow),
            Self::Unauthorized { .. } => r.push_header("WWW-Authenticate", "Bearer"),
            Self::Upgrade(UpgradeError::NotAnUpgrade | UpgradeError::UnsupportedVersion) => {
                r.push_header("Upgrade", "websocket");
                r.push_header("Sec-WebSocket-Version", crate::protocol::websocket::SUPPORTED_VERSION);
            }
            Self::InsufficientScope { required } => {
                r.push_header("WWW-Authenticate", format!("Bearer error=\"insufficient_scope\", scope=\"{required}\""));
            }
            _ => {}
        }
        r
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.http_status(), self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_table() {
        let rows: &[(GatewayError, u16, i32, u16)] = &[
            (ParseError::ContentLengthWithTransferEncoding.into(), 400, -32700, 1002),
            (ParseError::RequestLineTooLong.into(), 414, -32700, 1002),
            (ParseError::HeadersTooLarge.into(), 431, -32700, 1002),
            (ParseError::BodyTooLarge.into(), 413, -32700, 1009),
            (ParseError::UnsupportedTransferCoding.into(), 501, -32700, 1002),
            (GatewayError::InsufficientScope { required: Scope::Admin }, 403, -32003, 1008),
            (GatewayError::Overloaded { what: "worker queue" }, 503, -32004, 1013),
            (GatewayError::ShuttingDown, 503, -32004, 1001),
            (GatewayError::ModelNotFound("x/y".into()), 404, -32602, 1008),
            (GatewayError::Upstream { kind: "response_timeout".into(), message: String::new() }, 504, -32603, 1011),
            (GatewayError::Upstream { kind: "bad_upstream_answer".into(), message: String::new() }, 502, -32603, 1011),
        ];
        for (e, status, rpc, ws) in rows {
            assert_eq!((e.http_status(), e.jsonrpc_code(), e.ws_close_code()), (*status, *rpc, *ws), "{e:?}");
        }
        let r = GatewayError::RateLimited { retry_after: Duration::from_millis(1500) }.to_response();
        assert_eq!(r.header("Retry-After"), Some("2"));
        let r = GatewayError::MethodNotAllowed { allow: "GET, HEAD" }.to_response();
        assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    }
}
