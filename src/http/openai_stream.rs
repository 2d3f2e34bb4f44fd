//! Streaming `POST /v1/chat/completions` (`"stream": true`): a turn's events as OpenAI's
//! `chat.completion.chunk` Server-Sent Events, in the order the official SDKs expect.
//!
//! Guarantees: every chunk has the same `id` and `created`; the order is the role chunk
//! (`delta: {role: "assistant", content: ""}`), one chunk per content delta, the finish chunk
//! (empty `delta`, `finish_reason`), then (only with `stream_options.include_usage`) a usage
//! chunk with `choices: []`, then `data: [DONE]`. With `include_usage` every other chunk
//! carries `"usage": null`, as OpenAI sends it. A turn that fails or is aborted after the head
//! went out ends with one `data: {"error": {...}}` event (OpenAI's error object, which the
//! SDKs raise as `APIError`) and no `[DONE]`.

use serde_json::{Value, json};

use super::openai::{StreamOptions, error_object};
use super::turn_format::TurnFormat;
use crate::agent::TurnEvent;
use crate::error::GatewayError;
use crate::protocol::sse;

/// The chunk stream of one completion.
#[derive(Debug)]
pub struct ChunkEvents {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

impl ChunkEvents {
    /// A stream created now (`created` is fixed here, so every chunk carries the same one).
    #[must_use]
    pub fn new(options: StreamOptions, requested_model: Option<&str>) -> Self {
        Self {
            id: String::new(),
            created: crate::app::unix_ms() / 1000,
            model: requested_model.unwrap_or_default().to_owned(),
            include_usage: options.include_usage.unwrap_or(false),
        }
    }

    fn chunk(&self, out: &mut Vec<u8>, choices: Value, usage: Option<Value>) {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": Value::Null,
            "choices": choices,
        });
        if self.include_usage {
            chunk["usage"] = usage.unwrap_or(Value::Null);
        }
        sse::encode_event(out, None, None, chunk.to_string().as_bytes());
    }

    fn choice(delta: Value, finish_reason: Option<&str>) -> Value {
        json!([{ "index": 0, "delta": delta, "logprobs": Value::Null, "finish_reason": finish_reason }])
    }

    fn fail(out: &mut Vec<u8>, e: &GatewayError) {
        sse::encode_event(out, None, None, json!({ "error": error_object(e) }).to_string().as_bytes());
    }
}

impl TurnFormat for ChunkEvents {
    fn write(&mut self, event: TurnEvent<'_>, out: &mut Vec<u8>) {
        match event {
            TurnEvent::Started { run_id, model, .. } => {
                self.id = format!("chatcmpl-{run_id}");
                model.clone_into(&mut self.model);
                self.chunk(out, Self::choice(json!({ "role": "assistant", "content": "" }), None), None);
            }
            TurnEvent::Delta { text } => self.chunk(out, Self::choice(json!({ "content": text }), None), None),
            TurnEvent::ToolCall(_) => {}
            TurnEvent::Final(result) => {
                self.chunk(out, Self::choice(json!({}), Some(result.finish.as_openai())), None);
                if self.include_usage {
                    let (i, o) = (result.usage.input_tokens, result.usage.output_tokens);
                    let usage =
                        json!({ "prompt_tokens": i, "completion_tokens": o, "total_tokens": i.saturating_add(o) });
                    self.chunk(out, json!([]), Some(usage));
                }
                sse::encode_event(out, None, None, b"[DONE]");
            }
            TurnEvent::Aborted { .. } => {
                let e = GatewayError::AgentTurn { kind: "aborted".into(), message: "the turn was aborted".into() };
                Self::fail(out, &e);
            }
            TurnEvent::Error { kind, message } => {
                Self::fail(out, &GatewayError::AgentTurn { kind: kind.to_owned(), message: message.to_owned() });
            }
        }
    }
}
