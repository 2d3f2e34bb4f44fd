//! The OpenAI-compatible API: the model catalogue (`GET /v1/models`, `GET /v1/models/{id}`)
//! and chat completions (`POST /v1/chat/completions`; its streamed form is
//! [`super::openai_stream`]), in the shapes the official SDKs parse, with every error as
//! OpenAI's error object.
//!
//! Guarantees: the catalogue is inline and constant work (the router's model list is in
//! memory); a completion is a stateless agent turn (the request's messages are its history,
//! not the stored session's) answered when it ends, through the same runtime, bounds and
//! refusals as `POST /api/chat`; every model
//! the agent runtime can run is listed under its `provider/model` id, the built-in offline
//! one with `owned_by: "talon-builtin"`; an id with an encoded `/` (`builtin%2Fecho`) is the
//! same model as the plain one, since SDKs differ in whether they encode it.

use serde_json::{Value, json};

use crate::agent::providers::{Message, ModelInfo};
use crate::agent::turn_types::new_id;
use crate::agent::{ChatRequest, Sampling, TurnResult};
use crate::app::App;
use crate::error::GatewayError;
use crate::protocol::http1::Response;
use crate::store::SessionOrigin;

/// The path prefix of one model.
pub const MODEL_PREFIX: &str = "/v1/models/";

/// One model as OpenAI's `Model` object; `created` is when the gateway started (the catalogue
/// comes from its configuration), in Unix seconds.
fn model_object(m: &ModelInfo, created: u64) -> Value {
    json!({ "id": m.id, "object": "model", "created": created, "owned_by": m.owned_by })
}

fn created(app: &App) -> u64 {
    app.started_unix_ms / 1000
}

/// Every model served: the agent router's (chat), then the embeddings models, without repeats.
fn all_models(app: &App) -> Vec<ModelInfo> {
    let mut all = app.agent.router().models();
    for m in app.embeddings.models() {
        if !all.iter().any(|a| a.id == m.id) {
            all.push(m);
        }
    }
    all
}

/// `GET /v1/models`.
#[must_use]
pub fn models(app: &App) -> Response {
    let created = created(app);
    let data: Vec<Value> = all_models(app).iter().map(|m| model_object(m, created)).collect();
    Response::json(200, json!({ "object": "list", "data": data }).to_string().into_bytes())
}

/// `GET /v1/models/{id}`: the model, or OpenAI's 404 `model_not_found`.
#[must_use]
pub fn model(app: &App, path: &str) -> Response {
    let raw = path.strip_prefix(MODEL_PREFIX).unwrap_or_default();
    let id = raw.replace("%2F", "/").replace("%2f", "/");
    match all_models(app).iter().find(|m| m.id == id) {
        Some(m) => Response::json(200, model_object(m, created(app)).to_string().into_bytes()),
        None => {
            error(404, &format!("The model '{id}' does not exist"), "invalid_request_error", Some("model_not_found"))
        }
    }
}

/// An error in OpenAI's shape (`{"error":{"message","type","param","code"}}`), which the SDKs
/// turn into their typed exceptions.
#[must_use]
pub fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body = json!({ "error": { "message": message, "type": kind, "param": Value::Null, "code": code } });
    Response::json(status, body.to_string().into_bytes())
}

/// Most messages one `POST /v1/chat/completions` may carry; more is a 400.
pub const MAX_MESSAGES: usize = 1000;

/// One message as the OpenAI API sends it; `content` is a string or a list of parts.
#[derive(serde::Deserialize)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

/// The body of `POST /v1/chat/completions` (fields Talon does not use are ignored, as
/// OpenAI-compatible servers do).
#[derive(serde::Deserialize)]
struct CompletionBody {
    model: Option<String>,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    temperature: Option<f32>,
    /// Deprecated by OpenAI in favour of `max_completion_tokens`, still what most clients send.
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
}

/// `stream_options` of a streaming request.
#[derive(serde::Deserialize, Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// Send a last chunk with the turn's usage (and `"usage": null` on every other chunk).
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// A parsed `POST /v1/chat/completions`.
#[derive(Debug)]
pub struct CompletionRequest {
    /// The stateless turn.
    pub request: ChatRequest,
    /// `stream: true`: answer as `chat.completion.chunk` events, with these options.
    pub stream: Option<StreamOptions>,
}

fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::InvalidParams(message.into())
}

/// A message's text: a string, or the `text` parts of a part list (an image or audio part is
/// refused: nothing here can send it upstream yet).
fn text_of(content: Option<&Value>, index: usize) -> Result<String, GatewayError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for part in parts {
                match (part.get("type").and_then(Value::as_str), part.get("text").and_then(Value::as_str)) {
                    (Some("text"), Some(t)) => text.push_str(t),
                    (kind, _) => {
                        return Err(invalid(format!(
                            "messages[{index}]: content part {} is not supported (only text)",
                            kind.unwrap_or("without a type")
                        )));
                    }
                }
            }
            Ok(text)
        }
        Some(_) => Err(invalid(format!("messages[{index}].content must be a string or a list of parts"))),
    }
}

/// Parse `POST /v1/chat/completions` into a stateless turn: the messages before the last one
/// are its history, the last (a `user` message) is the turn's message. With `user`, turns of
/// one user share the session `openai:<user>` (one at a time, as every session); without it
/// each request gets a session of its own.
///
/// # Errors
/// 400: not JSON of that shape, no messages or too many, a last message that is not `user`,
/// an unknown role, a non-text part, or `stream_options` without `stream: true` (as OpenAI).
pub fn parse_completion(body: &[u8]) -> Result<CompletionRequest, GatewayError> {
    let b: CompletionBody = serde_json::from_slice(body).map_err(|e| invalid(format!("invalid request body: {e}")))?;
    let stream = match (b.stream.unwrap_or(false), b.stream_options) {
        (true, options) => Some(options.unwrap_or_default()),
        (false, None) => None,
        (false, Some(_)) => return Err(invalid("stream_options is only allowed when stream is true")),
    };
    if b.messages.len() > MAX_MESSAGES {
        return Err(invalid(format!("messages holds more than {MAX_MESSAGES} entries")));
    }
    let Some((last, before)) = b.messages.split_last() else {
        return Err(invalid("messages must not be empty"));
    };
    if last.role != "user" {
        return Err(invalid(format!("the last message must have role user, not {:?}", last.role)));
    }
    let mut history = Vec::with_capacity(before.len());
    for (i, m) in before.iter().enumerate() {
        let text = text_of(m.content.as_ref(), i)?;
        history.push(match m.role.as_str() {
            "system" | "developer" => Message::system(text),
            "user" => Message::user(text),
            "assistant" => Message::assistant(text),
            "tool" => Message::tool_result(m.tool_call_id.clone().unwrap_or_default(), text),
            other => return Err(invalid(format!("messages[{i}].role {other:?} is not a known role"))),
        });
    }
    let request = ChatRequest {
        session_key: stateless_session(b.user),
        message: text_of(last.content.as_ref(), before.len())?,
        model: b.model.filter(|m| !m.is_empty()),
        origin: SessionOrigin { channel: Some("openai".into()), chat_id: None },
        history: Some(history),
        sampling: Sampling { max_tokens: b.max_completion_tokens.or(b.max_tokens), temperature: b.temperature },
        ..ChatRequest::default()
    };
    Ok(CompletionRequest { request, stream })
}

/// The session of a stateless OpenAI-API turn: `openai:<user>` when the request names its
/// user (that user's turns then run one at a time), else one of its own.
pub(crate) fn stateless_session(user: Option<String>) -> String {
    match user.filter(|u| !u.is_empty()) {
        Some(user) => format!("openai:{user}"),
        None => new_id("openai-"),
    }
}

/// A turn that ended normally, as OpenAI's `chat.completion` object.
#[must_use]
pub fn completion_answer(result: &TurnResult, run_id: &str) -> Response {
    let (i, o) = (result.usage.input_tokens, result.usage.output_tokens);
    let created = crate::app::unix_ms() / 1000;
    let body = json!({
        "id": format!("chatcmpl-{run_id}"),
        "object": "chat.completion",
        "created": created,
        "model": result.model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": result.text, "refusal": Value::Null },
            "logprobs": Value::Null,
            "finish_reason": result.finish.as_openai(),
        }],
        "usage": { "prompt_tokens": i, "completion_tokens": o, "total_tokens": i.saturating_add(o) },
    });
    Response::json(200, body.to_string().into_bytes())
}

/// Any error of a `/v1` route in OpenAI's shape, with the status (and `Retry-After`) Talon's
/// one mapping gives it, so the SDKs raise their typed exceptions.
#[must_use]
pub fn gateway_error(e: &GatewayError) -> Response {
    // The status and headers (`Retry-After`, `Allow`, `WWW-Authenticate`) of the one mapping;
    // only the body takes OpenAI's shape.
    let mut response = e.to_response();
    response.body = json!({ "error": error_object(e) }).to_string().into_bytes();
    response
}

/// Whether errors on `path` are answered in OpenAI's shape: everything under `/v1/`, so an
/// SDK gets an error object it can parse even for a refusal decided from the head alone
/// (401, 403, 404, 405, 413, 429).
#[must_use]
pub fn speaks_openai(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// The error response for a request to `path`: OpenAI's shape under `/v1/`, else Talon's.
#[must_use]
pub fn error_response_for(path: &str, e: &GatewayError) -> Response {
    if speaks_openai(path) { gateway_error(e) } else { e.to_response() }
}

/// The `{message, type, param, code}` object of an error, as [`gateway_error`] sends it and
/// as a stream that fails after its head sends it in its last event. A failed agent turn
/// carries its own kind (`aborted`, `upstream_unavailable`, `turn_timeout`, ...) as `code`.
#[must_use]
pub fn error_object(e: &GatewayError) -> Value {
    let (kind, code) = match e.http_status() {
        400 | 413 | 422 => ("invalid_request_error", None),
        401 => ("authentication_error", Some("invalid_api_key")),
        403 => ("permission_error", None),
        404 => ("invalid_request_error", Some("not_found")),
        429 => ("rate_limit_error", Some("rate_limit_exceeded")),
        503 => ("server_error", Some("overloaded")),
        _ => ("api_error", None),
    };
    let code = match e {
        GatewayError::AgentTurn { kind, .. } | GatewayError::Upstream { kind, .. } => Some(kind.as_str()),
        GatewayError::ModelNotFound(_) => Some("model_not_found"),
        _ => code,
    };
    json!({ "message": e.message(), "type": kind, "param": Value::Null, "code": code })
}
