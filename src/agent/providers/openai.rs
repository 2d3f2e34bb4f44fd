//! The OpenAI-compatible client: `POST {base_url}/chat/completions`, streaming
//! (`stream: true`, `stream_options.include_usage: true`) or not. Works against OpenAI,
//! llama.cpp's server, vLLM, Ollama and OpenRouter.
//!
//! Guarantees: the key goes only into `Authorization: Bearer …` (and only when one is
//! configured: local servers need none); requests carry exactly the fields the turn sets;
//! decoding is [`super::openai_stream`], retries and limits are [`super::http`].

use std::time::Duration;

use serde_json::{Value, json};

use super::Provider;
use super::abort::TurnControl;
use super::error::ProviderError;
use super::http::{ApiKey, Endpoint, HeaderValue, complete_turn, listed_models, stream_turn};
use super::openai_stream::{OpenAiStream, decode_completion};
use super::retry::RetryPolicy;
use super::types::{Message, ModelInfo, Role, StreamEvent, ToolSpec, TurnRequest, TurnSummary};

/// How to reach one OpenAI-compatible server.
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// The provider's configured name.
    pub name: String,
    /// API root, e.g. `https://api.openai.com/v1` (the client appends `/chat/completions`).
    pub base_url: String,
    /// The key, if the server needs one.
    pub key: Option<ApiKey>,
    /// Models to list.
    pub models: Vec<String>,
    /// Retries.
    pub retry: RetryPolicy,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Time to the response head.
    pub response_timeout: Duration,
}

/// An OpenAI-compatible provider.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    name: String,
    models: Vec<String>,
    endpoint: Endpoint,
}

impl OpenAiProvider {
    /// A client for `settings`.
    #[must_use]
    pub fn new(settings: OpenAiSettings) -> Self {
        let endpoint = endpoint(&settings, "chat/completions", "text/event-stream, application/json");
        Self { name: settings.name, models: settings.models, endpoint }
    }
}

/// The endpoint `{base_url}/{path}` of an OpenAI-compatible server, with the key (if any) as
/// `Authorization: Bearer …` and `accept` as the `Accept` header.
pub(crate) fn endpoint(settings: &OpenAiSettings, path: &str, accept: &str) -> Endpoint {
    let mut headers = vec![("accept", HeaderValue::Plain(accept.to_owned()))];
    if let Some(key) = settings.key.clone().filter(|k| !k.expose().is_empty()) {
        headers.push(("authorization", HeaderValue::Secret { prefix: "Bearer ", key }));
    }
    Endpoint {
        url: format!("{}/{path}", settings.base_url.trim_end_matches('/')),
        headers,
        key: settings.key.clone(),
        retry: settings.retry,
        connect_timeout: settings.connect_timeout,
        response_timeout: settings.response_timeout,
    }
}

/// The request body of a chat completion.
#[must_use]
pub fn request_body(model: &str, request: &TurnRequest, stream: bool) -> Value {
    let mut body = json!({
        "model": model,
        "messages": request.messages.iter().map(message_json).collect::<Vec<_>>(),
        "stream": stream,
    });
    if stream {
        body["stream_options"] = json!({ "include_usage": true });
    }
    if let Some(n) = request.max_tokens {
        body["max_tokens"] = json!(n);
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if !request.tools.is_empty() {
        body["tools"] = Value::Array(request.tools.iter().map(tool_json).collect());
    }
    body
}

fn message_json(m: &Message) -> Value {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut v = json!({ "role": role, "content": m.content });
    if m.role == Role::Assistant && !m.tool_calls.is_empty() {
        if m.content.is_empty() {
            v["content"] = Value::Null;
        }
        v["tool_calls"] = m
            .tool_calls
            .iter()
            .map(
                |c| json!({ "id": c.id, "type": "function", "function": { "name": c.name, "arguments": c.arguments } }),
            )
            .collect();
    }
    if let Some(id) = &m.tool_call_id {
        v["tool_call_id"] = json!(id);
    }
    v
}

fn tool_json(t: &ToolSpec) -> Value {
    json!({ "type": "function", "function": { "name": t.name, "description": t.description, "parameters": t.parameters } })
}

impl Provider for OpenAiProvider {
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
        stream_turn(&self.endpoint, &request_body(model, request, true), OpenAiStream::new(), ctl, emit)
    }

    fn complete(&self, model: &str, request: &TurnRequest, ctl: &TurnControl) -> Result<TurnSummary, ProviderError> {
        complete_turn(&self.endpoint, &request_body(model, request, false), decode_completion, ctl)
    }
}
