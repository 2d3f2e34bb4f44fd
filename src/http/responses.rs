//! `POST /v1/responses` (OpenAI's Responses API, as OpenResponses serves it): the request as
//! a stateless agent turn, the answer as a `response` object, and, with `"stream": true`, the
//! typed Server-Sent Events whose `event:` name is their `type`.
//!
//! Guarantees: `input` is a string or a list of message items (`{role, content}`, with an
//! optional `type: "message"`; content a string or `input_text`/`output_text` parts) whose
//! last one is a `user` message; `instructions` is the turn's system prompt; anything this
//! gateway cannot honour (`previous_response_id`, non-message items, image or file parts) is
//! a 400 that says so, never silently dropped. A streamed response sends, with one
//! `sequence_number` counting from 0: `response.created`, `response.in_progress`,
//! `response.output_item.added`, `response.content_part.added`, one
//! `response.output_text.delta` per delta, `response.output_text.done`,
//! `response.content_part.done`, `response.output_item.done`, `response.completed`; a turn
//! that fails or is aborted ends with `response.failed` (status `failed`, `error` set).

use serde::Deserialize;
use serde_json::{Value, json};

use super::openai::{MAX_MESSAGES, error_object, stateless_session};
use super::turn_format::TurnFormat;
use crate::agent::providers::Message;
use crate::agent::{ChatRequest, Sampling, TurnEvent, TurnResult};
use crate::error::GatewayError;
use crate::protocol::http1::Response;
use crate::protocol::sse;
use crate::store::SessionOrigin;

#[derive(Deserialize)]
struct ResponsesBody {
    model: Option<String>,
    input: Value,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    previous_response_id: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
}

/// What a response object repeats from its request.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    /// Unix seconds when the request was taken.
    pub created_at: u64,
    /// The request's `instructions`.
    pub instructions: Option<String>,
    /// The model asked for (the one that answers replaces it once known).
    pub model: String,
    /// The request's `temperature` and `max_output_tokens`.
    pub sampling: Sampling,
}

/// A parsed `POST /v1/responses`.
#[derive(Debug)]
pub struct ResponsesRequest {
    /// The stateless turn.
    pub request: ChatRequest,
    /// `stream: true`.
    pub stream: bool,
    /// For the response object.
    pub meta: ResponseMeta,
}

fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::InvalidParams(message.into())
}

/// The text of an item's `content`: a string, or its text parts joined.
fn content_text(content: Option<&Value>, index: usize) -> Result<String, GatewayError> {
    match content {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for part in parts {
                match (part.get("type").and_then(Value::as_str), part.get("text").and_then(Value::as_str)) {
                    (Some("input_text" | "output_text" | "text"), Some(t)) => text.push_str(t),
                    (kind, _) => {
                        return Err(invalid(format!(
                            "input[{index}]: content part {} is not supported (only input_text and output_text)",
                            kind.unwrap_or("without a type")
                        )));
                    }
                }
            }
            Ok(text)
        }
        _ => Err(invalid(format!("input[{index}].content must be a string or a list of parts"))),
    }
}

/// Parse `POST /v1/responses`.
///
/// # Errors
/// 400: not JSON of that shape; `previous_response_id` (responses are not stored); an empty
/// input or one of more than [`MAX_MESSAGES`] items; an item that is not a message, has an
/// unknown role or a non-text part; a last item that is not a `user` message.
pub fn parse(body: &[u8]) -> Result<ResponsesRequest, GatewayError> {
    let b: ResponsesBody = serde_json::from_slice(body).map_err(|e| invalid(format!("invalid request body: {e}")))?;
    if b.previous_response_id.is_some_and(|id| !id.is_empty()) {
        return Err(invalid("previous_response_id is not supported: responses are not stored; send the whole input"));
    }
    let mut items: Vec<(String, String)> = Vec::new();
    match &b.input {
        Value::String(s) => items.push(("user".into(), s.clone())),
        Value::Array(list) => {
            if list.len() > MAX_MESSAGES {
                return Err(invalid(format!("input holds more than {MAX_MESSAGES} items")));
            }
            for (i, item) in list.iter().enumerate() {
                let kind = item.get("type").and_then(Value::as_str).unwrap_or("message");
                if kind != "message" {
                    return Err(invalid(format!("input[{i}]: item type {kind} is not supported (only messages)")));
                }
                let role = item.get("role").and_then(Value::as_str).unwrap_or_default();
                if !matches!(role, "user" | "assistant" | "system" | "developer") {
                    return Err(invalid(format!("input[{i}].role {role:?} is not a known role")));
                }
                items.push((role.to_owned(), content_text(item.get("content"), i)?));
            }
        }
        _ => return Err(invalid("input must be a string or a list of message items")),
    }
    let Some(((last_role, message), before)) = items.split_last() else {
        return Err(invalid("input must not be empty"));
    };
    if last_role != "user" {
        return Err(invalid(format!("the last input item must have role user, not {last_role:?}")));
    }
    let instructions = b.instructions.filter(|s| !s.is_empty());
    let mut history: Vec<Message> = instructions.iter().map(|s| Message::system(s.clone())).collect();
    for (role, text) in before {
        history.push(match role.as_str() {
            "assistant" => Message::assistant(text.clone()),
            "system" | "developer" => Message::system(text.clone()),
            _ => Message::user(text.clone()),
        });
    }
    let model = b.model.filter(|m| !m.is_empty());
    let sampling = Sampling { max_tokens: b.max_output_tokens, temperature: b.temperature };
    let request = ChatRequest {
        session_key: stateless_session(b.user),
        message: message.clone(),
        model: model.clone(),
        origin: SessionOrigin { channel: Some("openai".into()), chat_id: None },
        history: Some(history),
        sampling,
        ..ChatRequest::default()
    };
    let meta = ResponseMeta {
        created_at: crate::app::unix_ms() / 1000,
        instructions,
        model: model.unwrap_or_default(),
        sampling,
    };
    Ok(ResponsesRequest { request, stream: b.stream.unwrap_or(false), meta })
}

/// `resp_…` and `msg_…` from a run id.
fn ids(run_id: &str) -> (String, String) {
    let tail = run_id.strip_prefix("run_").unwrap_or(run_id);
    (format!("resp_{tail}"), format!("msg_{tail}"))
}

fn usage_json(result: &TurnResult) -> Value {
    let (i, o) = (result.usage.input_tokens, result.usage.output_tokens);
    json!({
        "input_tokens": i,
        "input_tokens_details": { "cached_tokens": 0 },
        "output_tokens": o,
        "output_tokens_details": { "reasoning_tokens": 0 },
        "total_tokens": i.saturating_add(o),
    })
}

fn message_item(id: &str, status: &str, content: Value) -> Value {
    json!({ "type": "message", "id": id, "status": status, "role": "assistant", "content": content })
}

fn text_part(text: &str) -> Value {
    json!({ "type": "output_text", "text": text, "annotations": [] })
}

/// The `response` object.
fn response_object(meta: &ResponseMeta, id: &str, status: &str, output: Value, usage: Value, error: Value) -> Value {
    json!({
        "id": id,
        "object": "response",
        "created_at": meta.created_at,
        "status": status,
        "error": error,
        "incomplete_details": Value::Null,
        "instructions": meta.instructions,
        "max_output_tokens": meta.sampling.max_tokens,
        "model": meta.model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": Value::Null,
        "store": false,
        "temperature": meta.sampling.temperature,
        "text": { "format": { "type": "text" } },
        "tool_choice": "auto",
        "tools": [],
        "top_p": Value::Null,
        "truncation": "disabled",
        "usage": usage,
        "user": Value::Null,
        "metadata": {},
    })
}

/// A turn that ended normally, as a completed `response` object.
#[must_use]
pub fn answer(result: &TurnResult, run_id: &str, meta: &ResponseMeta) -> Response {
    let (id, msg) = ids(run_id);
    let meta = ResponseMeta { model: result.model.clone(), ..meta.clone() };
    let output = json!([message_item(&msg, "completed", json!([text_part(&result.text)]))]);
    let body = response_object(&meta, &id, "completed", output, usage_json(result), Value::Null);
    Response::json(200, body.to_string().into_bytes())
}

/// The event stream of one response.
#[derive(Debug)]
pub struct ResponseEvents {
    meta: ResponseMeta,
    sequence: u64,
    id: String,
    msg: String,
    text: String,
}

impl ResponseEvents {
    /// A stream that has sent nothing yet.
    #[must_use]
    pub fn new(meta: ResponseMeta) -> Self {
        Self { meta, sequence: 0, id: String::new(), msg: String::new(), text: String::new() }
    }

    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        sse::encode_event(out, None, Some(kind), data.to_string().as_bytes());
    }

    fn failed(&mut self, out: &mut Vec<u8>, e: &GatewayError) {
        let object = error_object(e);
        let error = json!({ "code": object["code"], "message": object["message"] });
        let response = response_object(&self.meta, &self.id, "failed", json!([]), Value::Null, error);
        self.emit(out, "response.failed", json!({ "response": response }));
    }
}

impl TurnFormat for ResponseEvents {
    fn write(&mut self, event: TurnEvent<'_>, out: &mut Vec<u8>) {
        let (item, part) = (0, 0);
        match event {
            TurnEvent::Started { run_id, model, .. } => {
                (self.id, self.msg) = ids(run_id);
                model.clone_into(&mut self.meta.model);
                let pending = response_object(&self.meta, &self.id, "in_progress", json!([]), Value::Null, Value::Null);
                self.emit(out, "response.created", json!({ "response": pending }));
                self.emit(out, "response.in_progress", json!({ "response": pending }));
                let added = message_item(&self.msg, "in_progress", json!([]));
                self.emit(out, "response.output_item.added", json!({ "output_index": item, "item": added }));
                let data = json!({ "item_id": self.msg, "output_index": item, "content_index": part,
                                   "part": text_part("") });
                self.emit(out, "response.content_part.added", data);
            }
            TurnEvent::Delta { text } => {
                self.text.push_str(text);
                let data = json!({ "item_id": self.msg, "output_index": item, "content_index": part,
                                   "delta": text, "logprobs": [] });
                self.emit(out, "response.output_text.delta", data);
            }
            TurnEvent::ToolCall(_) => {}
            TurnEvent::Final(result) => {
                // The reply as stored (the deltas concatenated).
                let text = result.text.as_str();
                let data = json!({ "item_id": self.msg, "output_index": item, "content_index": part,
                                   "text": text, "logprobs": [] });
                self.emit(out, "response.output_text.done", data);
                let data = json!({ "item_id": self.msg, "output_index": item, "content_index": part,
                                   "part": text_part(text) });
                self.emit(out, "response.content_part.done", data);
                let done = message_item(&self.msg, "completed", json!([text_part(text)]));
                self.emit(out, "response.output_item.done", json!({ "output_index": item, "item": done }));
                result.model.clone_into(&mut self.meta.model);
                let response =
                    response_object(&self.meta, &self.id, "completed", json!([done]), usage_json(result), Value::Null);
                self.emit(out, "response.completed", json!({ "response": response }));
            }
            TurnEvent::Aborted { .. } => {
                let e = GatewayError::AgentTurn { kind: "aborted".into(), message: "the turn was aborted".into() };
                self.failed(out, &e);
            }
            TurnEvent::Error { kind, message } => {
                self.failed(out, &GatewayError::AgentTurn { kind: kind.to_owned(), message: message.to_owned() });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shapes() {
        let r = parse(br#"{"model":"builtin/echo","input":"hi"}"#).expect("string");
        assert_eq!((r.request.message.as_str(), r.stream), ("hi", false));
        let r = parse(
            br#"{"input":[{"role":"user","content":"a"},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"b"}]},
                {"role":"user","content":[{"type":"input_text","text":"c"},{"type":"input_text","text":"d"}]}],
                "instructions":"be brief","stream":true,"store":true}"#,
        )
        .expect("items");
        assert_eq!((r.request.message.as_str(), r.stream), ("cd", true));
        assert_eq!(r.request.history.as_ref().map(Vec::len), Some(3));
        assert_eq!(r.meta.instructions.as_deref(), Some("be brief"));
        let bad: [&[u8]; 8] = [
            br#"{"input":[]}"#,
            br#"{"input":5}"#,
            br#"{"input":"x","previous_response_id":"resp_1"}"#,
            br#"{"input":[{"role":"assistant","content":"x"}]}"#,
            br#"{"input":[{"type":"function_call_output","call_id":"c","output":"x"}]}"#,
            br#"{"input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}]}"#,
            br#"{"input":[{"role":"wizard","content":"x"}]}"#,
            b"not json",
        ];
        for body in bad {
            assert!(matches!(parse(body), Err(GatewayError::InvalidParams(_))), "{}", String::from_utf8_lossy(body));
        }
    }
}
