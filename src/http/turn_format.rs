//! How a streamed agent turn looks on the wire: the [`TurnFormat`] each streaming surface
//! implements, and Comis's `GET /api/chat/stream` (its query and its `token` / `done` /
//! `error` Server-Sent Events).
//!
//! Guarantees: a format runs on the agent thread (never on an I/O loop) and turns each
//! [`TurnEvent`] into whole protocol units (whole SSE events, whole WebSocket frames), so the
//! connection only appends bytes. The `accumulated` field of `token` events, which grows with
//! the square of the reply, stops being sent once [`MAX_ACCUMULATED_BYTES`] of it went out on
//! one stream; `delta` always comes, and `done.response` always has the whole reply.

use serde_json::{Value, json};

use crate::agent::{ChatRequest, TurnEvent};
use crate::auth::query_param;
use crate::error::GatewayError;
use crate::protocol::sse;
use crate::store::SessionOrigin;

/// Turns a turn's events into the bytes of one streaming surface.
pub trait TurnFormat: Send {
    /// Append what `event` shows as (nothing for an event this surface does not show).
    fn write(&mut self, event: TurnEvent<'_>, out: &mut Vec<u8>);
}

/// Bytes of `accumulated` text one `/api/chat/stream` stream sends in all its `token` events;
/// past it, `token` events carry only `delta` (a 64 KiB reply in 4-byte tokens would
/// otherwise send 512 MiB).
pub const MAX_ACCUMULATED_BYTES: usize = 4 * 1024 * 1024;

fn query_text(query: &str, name: &str) -> Option<String> {
    query_param(query, name).and_then(|v| String::from_utf8(v).ok()).filter(|s| !s.is_empty())
}

/// Parse `GET /api/chat/stream?message=&agentId=&sessionKey=|session=&model=`.
///
/// # Errors
/// 400 when `message` is missing or empty (or not UTF-8 once decoded).
pub fn parse_stream_query(query: &str) -> Result<ChatRequest, GatewayError> {
    let message = query_text(query, "message")
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| GatewayError::InvalidParams("the query parameter message is required".into()))?;
    Ok(ChatRequest {
        session_key: query_text(query, "sessionKey").or_else(|| query_text(query, "session")).unwrap_or_default(),
        message,
        agent_id: query_text(query, "agentId"),
        model: query_text(query, "model"),
        origin: SessionOrigin { channel: Some("api".into()), chat_id: None },
        ..ChatRequest::default()
    })
}

/// Comis's token stream: `event: token` `{delta, accumulated}` per delta, then `event: done`
/// `{response, tokensUsed, finishReason, runId, sessionKey, usage}` or `event: error`
/// `{error, code}`.
#[derive(Debug, Default)]
pub struct TokenEvents {
    accumulated: String,
    accumulated_sent: usize,
    run_id: String,
    session_key: String,
}

impl TokenEvents {
    /// A stream that has sent nothing yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

fn event(out: &mut Vec<u8>, name: &str, data: &Value) {
    sse::encode_event(out, None, Some(name), data.to_string().as_bytes());
}

impl TurnFormat for TokenEvents {
    fn write(&mut self, turn_event: TurnEvent<'_>, out: &mut Vec<u8>) {
        match turn_event {
            TurnEvent::Started { run_id, session_key, .. } => {
                run_id.clone_into(&mut self.run_id);
                session_key.clone_into(&mut self.session_key);
            }
            TurnEvent::Delta { text } => {
                self.accumulated.push_str(text);
                let sent = self.accumulated_sent.saturating_add(self.accumulated.len());
                let data = if sent <= MAX_ACCUMULATED_BYTES {
                    self.accumulated_sent = sent;
                    json!({ "delta": text, "accumulated": self.accumulated })
                } else {
                    json!({ "delta": text })
                };
                event(out, "token", &data);
            }
            TurnEvent::ToolCall(_) => {}
            TurnEvent::Final(result) => {
                let (i, o) = (result.usage.input_tokens, result.usage.output_tokens);
                let tokens = json!({ "input": i, "output": o, "total": i.saturating_add(o) });
                let data = json!({
                    "response": result.text,
                    "tokensUsed": tokens,
                    "finishReason": result.finish.as_openai(),
                    "runId": self.run_id,
                    "sessionKey": self.session_key,
                    "model": result.model,
                    "usage": tokens,
                });
                event(out, "done", &data);
            }
            TurnEvent::Aborted { partial } => {
                let data = json!({ "error": "the turn was aborted", "code": "aborted", "partial": partial,
                                   "runId": self.run_id });
                event(out, "error", &data);
            }
            TurnEvent::Error { kind, message } => {
                event(out, "error", &json!({ "error": message, "code": kind, "runId": self.run_id }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::sse::parse_stream;

    #[test]
    fn query_needs_a_message() {
        let r = parse_stream_query("message=hi%20there&sessionKey=web-1&agentId=default").expect("parsed");
        assert_eq!((r.message.as_str(), r.session_key.as_str()), ("hi there", "web-1"));
        assert_eq!(parse_stream_query("session=s&message=x").expect("parsed").session_key, "s");
        for bad in ["", "message=", "message=%20", "sessionKey=x"] {
            assert!(matches!(parse_stream_query(bad), Err(GatewayError::InvalidParams(_))), "{bad}");
        }
    }

    #[test]
    fn accumulated_stops_at_its_bound() {
        let mut f = TokenEvents::new();
        let mut out = Vec::new();
        let piece = "x".repeat(MAX_ACCUMULATED_BYTES / 4);
        for _ in 0..3 {
            f.write(TurnEvent::Delta { text: &piece }, &mut out);
        }
        let events = parse_stream(&out);
        let with: Vec<bool> = events
            .iter()
            .map(|e| serde_json::from_slice::<Value>(&e.data).expect("json").get("accumulated").is_some())
            .collect();
        // 0.25 + 0.5 of the bound went out; the third (0.75 more) would pass it.
        assert_eq!(with, [true, true, false]);
    }
}
