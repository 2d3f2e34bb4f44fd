//! The Anthropic Messages client: `POST {base_url}/v1/messages` with `x-api-key` and
//! `anthropic-version`, streaming or not.
//!
//! Guarantees: system messages are joined (blank line between) into the top-level `system`
//! field; assistant tool calls become `tool_use` blocks and tool results `tool_result` blocks
//! in a user message, as the Messages API requires (the results of one round of calls in one
//! message); `max_tokens` is always sent (the API
//! requires it: [`DEFAULT_MAX_TOKENS`] when the turn sets none). Decoding is
//! [`super::anthropic_stream`], retries and limits [`super::http`].

use serde_json::{Value, json};

use super::Provider;
use super::abort::TurnControl;
use super::anthropic_stream::{AnthropicStream, decode_message};
use super::error::ProviderError;
use super::http::{Endpoint, HeaderValue, complete_turn, listed_models, stream_turn};
use super::openai::OpenAiSettings;
use super::types::{Message, ModelInfo, Role, StreamEvent, TurnRequest, TurnSummary};

/// `max_tokens` sent when the turn sets none (the Messages API requires the field).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The API version this client speaks (`anthropic-version` header).
pub const API_VERSION: &str = "2023-06-01";

/// An Anthropic provider.
#[derive(Debug, Clone)]
pub struct AnthropicProvider {
    name: String,
    models: Vec<String>,
    endpoint: Endpoint,
}

impl AnthropicProvider {
    /// A client for `settings` (the same settings shape as the OpenAI-compatible client;
    /// `base_url` is the API root, with or without a trailing `/v1`).
    #[must_use]
    pub fn new(settings: OpenAiSettings) -> Self {
        let mut headers = vec![
            ("anthropic-version", HeaderValue::Plain(API_VERSION.to_owned())),
            ("accept", HeaderValue::Plain("text/event-stream, application/json".to_owned())),
        ];
        if let Some(key) = settings.key.clone() {
            headers.push(("x-api-key", HeaderValue::Secret { prefix: "", key }));
        }
        let root = settings.base_url.trim_end_matches('/');
        let root = root.strip_suffix("/v1").unwrap_or(root);
        let endpoint = Endpoint {
            url: format!("{root}/v1/messages"),
            headers,
            key: settings.key,
            retry: settings.retry,
            connect_timeout: settings.connect_timeout,
            response_timeout: settings.response_timeout,
        };
        Self { name: settings.name, models: settings.models, endpoint }
    }
}

/// The request body of a Messages call.
#[must_use]
pub fn request_body(model: &str, request: &TurnRequest, stream: bool) -> Value {
    let system: Vec<&str> =
        request.messages.iter().filter(|m| m.role == Role::System).map(|m| m.content.as_str()).collect();
    let mut messages: Vec<Value> = Vec::new();
    for m in request.messages.iter().filter(|m| m.role != Role::System) {
        // The results of one round of parallel calls belong in one user message.
        if m.role == Role::Tool
            && let Some(blocks) = messages.last_mut().and_then(tool_result_blocks)
        {
            blocks.push(tool_result_json(m));
            continue;
        }
        messages.push(message_json(m));
    }
    let mut body = json!({
        "model": model,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "stream": stream,
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.parameters }))
            .collect();
    }
    body
}

/// The content blocks of `message` if it is a user message holding tool results.
fn tool_result_blocks(message: &mut Value) -> Option<&mut Vec<Value>> {
    if message.get("role").and_then(Value::as_str) != Some("user") {
        return None;
    }
    let blocks = message.get_mut("content")?.as_array_mut()?;
    blocks.iter().all(|b| b.get("type").and_then(Value::as_str) == Some("tool_result")).then_some(blocks)
}

fn tool_result_json(m: &Message) -> Value {
    json!({ "type": "tool_result", "tool_use_id": m.tool_call_id.as_deref().unwrap_or_default(), "content": m.content })
}

fn message_json(m: &Message) -> Value {
    match m.role {
        Role::Tool => json!({ "role": "user", "content": [tool_result_json(m)] }),
        Role::Assistant if !m.tool_calls.is_empty() => {
            let mut blocks = Vec::new();
            if !m.content.is_empty() {
                blocks.push(json!({ "type": "text", "text": m.content }));
            }
            for c in &m.tool_calls {
                // The API wants the input as an object; arguments the model wrote as broken JSON
                // are sent as an empty input rather than failing the whole turn.
                let input = serde_json::from_str::<Value>(&c.arguments).ok().filter(Value::is_object);
                blocks.push(json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": input.unwrap_or_else(|| json!({})) }));
            }
            json!({ "role": "assistant", "content": blocks })
        }
        Role::Assistant => json!({ "role": "assistant", "content": m.content }),
        Role::User | Role::System => json!({ "role": "user", "content": m.content }),
    }
}

impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn models(&self) -> Vec<ModelInfo> {
        listed_models(&self.name, &self.models)
    }

    fn stream(
        &self,
        model: &str,
        request: &TurnRequest,
        ctl: &TurnControl,
        emit: &mut dyn FnMut(StreamEvent<'_>),
    ) -> Result<TurnSummary, ProviderError> {
        stream_turn(&self.endpoint, &request_body(model, request, true), AnthropicStream::new(), ctl, emit)
    }

    fn complete(&self, model: &str, request: &TurnRequest, ctl: &TurnControl) -> Result<TurnSummary, ProviderError> {
        complete_turn(&self.endpoint, &request_body(model, request, false), decode_message, ctl)
    }
}
