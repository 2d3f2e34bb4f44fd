//! clawgo's `/api/chat/live` WebSocket: each text message `{"session","message","media"}`
//! is one agent turn, answered with `chat_chunk` frames per delta, then `chat_done`, or
//! `chat_error`.
//!
//! Guarantees: a message that is not a JSON object gets `{"ok":false,"type":"chat_error",
//! "error":"invalid json"}` (no `session`, as clawgo) and the socket stays open; a delta is
//! sent as it came from the model, so a UTF-8 character is never split (clawgo cuts its reply
//! into 180-byte slices and can split one).

use serde_json::{Value, json};

use super::chat::parse_chat;
use super::turn_format::TurnFormat;
use crate::agent::{ChatRequest, TurnEvent};

/// The error text clawgo sends for a message that is not JSON.
pub const INVALID_JSON: &str = "invalid json";

/// The `chat_error` frame payload for `error` (with `session` when known).
#[must_use]
pub fn error_frame(error: &str, session: Option<&str>) -> Vec<u8> {
    let mut v = json!({ "ok": false, "type": "chat_error", "error": error });
    if let Some(s) = session {
        v["session"] = json!(s);
    }
    v.to_string().into_bytes()
}

/// Parse one client message. `Err` is the `chat_error` payload to send back.
///
/// # Errors
/// Not a JSON object (`invalid json`), or no message (with the session).
pub fn parse(text: &str) -> Result<ChatRequest, Vec<u8>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(_)) => {}
        _ => return Err(error_frame(INVALID_JSON, None)),
    }
    parse_chat(text.as_bytes(), "").map_err(|e| {
        let session = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("session").and_then(Value::as_str).map(ToOwned::to_owned))
            .unwrap_or_else(|| crate::agent::turn_types::DEFAULT_SESSION_KEY.to_owned());
        error_frame(&e.message(), Some(&session))
    })
}

/// The frames of one turn on a live socket (one WebSocket message per event shown).
#[derive(Debug)]
pub struct LiveFrames {
    session: String,
}

impl LiveFrames {
    /// Frames for a turn of `session` (as the client named it; the runtime's key once known).
    #[must_use]
    pub fn new(session: &str) -> Self {
        Self { session: session.to_owned() }
    }
}

impl TurnFormat for LiveFrames {
    fn write(&mut self, event: TurnEvent<'_>, out: &mut Vec<u8>) {
        let v = match event {
            TurnEvent::Started { session_key, .. } => {
                session_key.clone_into(&mut self.session);
                return;
            }
            TurnEvent::Delta { text: "" } => return,
            TurnEvent::Delta { text } => {
                json!({ "ok": true, "type": "chat_chunk", "session": self.session, "delta": text })
            }
            TurnEvent::ToolCall(_) => return,
            TurnEvent::Final(_) => json!({ "ok": true, "type": "chat_done", "session": self.session }),
            TurnEvent::Aborted { .. } => {
                json!({ "ok": false, "type": "chat_error", "error": "the turn was aborted", "session": self.session })
            }
            TurnEvent::Error { message, .. } => {
                json!({ "ok": false, "type": "chat_error", "error": message, "session": self.session })
            }
        };
        let _ = serde_json::to_writer(out, &v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_refusals() {
        let r = parse(r#"{"session":"s1","message":"hi"}"#).expect("parsed");
        assert_eq!((r.session_key.as_str(), r.message.as_str()), ("s1", "hi"));
        for bad in ["nope", "[1]", "\"x\"", "{"] {
            let e: Value = serde_json::from_slice(&parse(bad).expect_err(bad)).expect("json");
            assert_eq!(e, json!({"ok": false, "type": "chat_error", "error": "invalid json"}), "{bad}");
        }
        let e: Value =
            serde_json::from_slice(&parse(r#"{"session":"s2","message":""}"#).expect_err("empty")).expect("json");
        assert_eq!((e["type"].as_str(), e["session"].as_str()), (Some("chat_error"), Some("s2")));
    }
}
