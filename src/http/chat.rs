//! The chat REST routes: the body of `POST /api/chat` in both seed shapes and its answer in
//! both, `GET /api/chat/history`, `GET /api/sessions`, `GET /api/agents`.
//!
//! Guarantees: a body that is not a JSON object, or has no non-empty `message`, is a 400
//! with the reason, before any turn starts; the history and session listings run on the
//! worker pool and are bounded by [`crate::rpc::chat::MAX_LIST_LIMIT`]; the answer of a
//! turn carries Comis's `{response, tokensUsed, finishReason}` and clawgo's `{ok, reply,
//! session}` in one body.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::agent::turn_types::MAX_SESSION_KEY_BYTES;
use crate::agent::{ChatRequest, TurnResult};
use crate::app::App;
use crate::auth::query_param;
use crate::error::GatewayError;
use crate::protocol::http1::Response;
use crate::rpc::chat::{DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, message_json, session_json};
use crate::store::{SessionOrigin, StoreError};

/// `POST /api/chat` as either seed writes it: Comis `{message, agentId?, sessionKey?}`,
/// clawgo `{session, message, media?}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatBody {
    message: Option<String>,
    agent_id: Option<String>,
    session_key: Option<String>,
    session: Option<String>,
    media: Option<String>,
    model: Option<String>,
}

fn query_text(query: &str, name: &str) -> Option<String> {
    query_param(query, name).and_then(|v| String::from_utf8(v).ok()).filter(|s| !s.is_empty())
}

/// Parse the body of `POST /api/chat` (session: the body's `sessionKey` or `session`, then
/// `?session=`, then `main`; clawgo's `media` path is appended as `[file: <path>]`).
///
/// # Errors
/// 400: not a JSON object of that shape, or no message.
pub fn parse_chat(body: &[u8], query: &str) -> Result<ChatRequest, GatewayError> {
    let b: ChatBody =
        serde_json::from_slice(body).map_err(|e| GatewayError::InvalidParams(format!("invalid json: {e}")))?;
    let mut message = b
        .message
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| GatewayError::InvalidParams("message is required and must not be empty".into()))?;
    if let Some(path) = b.media.filter(|m| !m.is_empty()) {
        message.push_str("\n[file: ");
        message.push_str(&path);
        message.push(']');
    }
    let session_key = b.session_key.or(b.session).filter(|s| !s.is_empty()).or_else(|| query_text(query, "session"));
    Ok(ChatRequest {
        session_key: session_key.unwrap_or_default(),
        message,
        agent_id: b.agent_id,
        model: b.model,
        idempotency_key: None,
        origin: SessionOrigin { channel: Some("api".into()), chat_id: None },
        ..ChatRequest::default()
    })
}

/// The answer to a turn that ended normally: both seeds' fields in one body.
#[must_use]
pub fn chat_answer(result: &TurnResult, run_id: &str, session_key: &str) -> Response {
    let (i, o) = (result.usage.input_tokens, result.usage.output_tokens);
    let body = json!({
        "ok": true,
        "reply": result.text,
        "session": session_key,
        "response": result.text,
        "tokensUsed": { "input": i, "output": o, "total": i.saturating_add(o) },
        "finishReason": result.finish.as_openai(),
        "sessionKey": session_key,
        "runId": run_id,
        "model": result.model,
        "costUsd": result.cost_usd,
    });
    Response::json(200, body.to_string().into_bytes())
}

fn store_error(e: &StoreError) -> GatewayError {
    match e {
        StoreError::Failed(_) => GatewayError::StoreFailed,
        other => GatewayError::Internal(other.to_string()),
    }
}

fn limit_of(query: &str) -> Result<usize, GatewayError> {
    match query_text(query, "limit") {
        None => Ok(DEFAULT_LIST_LIMIT),
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => Ok(n),
            _ => Err(GatewayError::InvalidParams(format!("limit must be an integer in 1..={MAX_LIST_LIMIT}"))),
        },
    }
}

/// `GET /api/chat/history?sessionKey=|session=|channelId=&limit=`.
///
/// # Errors
/// A bad limit or key (400), or the store read failed.
pub fn history(app: &App, query: &str) -> Result<Value, GatewayError> {
    let limit = limit_of(query)?;
    let reads = app.store.agent().map_err(|e| store_error(&e))?;
    if let Some(channel) = query_text(query, "channelId") {
        let messages = reads.messages_of_channel(&channel, limit).map_err(|e| store_error(&e))?;
        let list: Vec<Value> = messages.iter().map(message_json).collect();
        return Ok(json!({ "ok": true, "channelId": channel, "messages": list }));
    }
    let key = query_text(query, "sessionKey").or_else(|| query_text(query, "session")).unwrap_or_else(|| "main".into());
    if key.len() > MAX_SESSION_KEY_BYTES {
        return Err(GatewayError::InvalidParams(format!("session key is longer than {MAX_SESSION_KEY_BYTES} bytes")));
    }
    let messages = reads.messages(&key, limit).map_err(|e| store_error(&e))?;
    let list: Vec<Value> = messages.iter().map(message_json).collect();
    Ok(json!({ "ok": true, "session": key, "sessionKey": key, "messages": list }))
}

/// `GET /api/sessions?limit=`: clawgo's `{ok, sessions: [{key, channel}]}` with the session's
/// other fields alongside.
///
/// # Errors
/// A bad limit (400), or the store read failed.
pub fn sessions(app: &App, query: &str) -> Result<Value, GatewayError> {
    let limit = limit_of(query)?;
    let rows = app.store.agent().and_then(|r| r.sessions(limit)).map_err(|e| store_error(&e))?;
    let list: Vec<Value> = rows.iter().map(|s| session_json(s, app.agent.busy(&s.key))).collect();
    Ok(json!({ "ok": true, "count": list.len(), "sessions": list }))
}

/// `GET /api/agents`: the one agent this build runs, with its provider and model.
#[must_use]
pub fn agents(app: &App) -> Response {
    use crate::agent::turn_types::DEFAULT_AGENT_ID;
    let model = app.agent.router().default_model();
    let body = json!({
        "ok": true,
        "agents": [{
            "id": DEFAULT_AGENT_ID,
            "name": DEFAULT_AGENT_ID,
            "aliases": ["default"],
            "provider": model.provider,
            "model": model.to_string(),
            "builtin": model.provider == crate::config::agent::BUILTIN_PROVIDER,
            "default": true,
            "systemPrompt": app.settings.config.agent.system_prompt.is_some(),
        }],
    });
    Response::json(200, body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_request_shapes_parse() {
        let comis = parse_chat(br#"{"message":"hi","agentId":"default","sessionKey":"web-1"}"#, "").expect("comis");
        assert_eq!((comis.session_key.as_str(), comis.message.as_str()), ("web-1", "hi"));
        let clawgo = parse_chat(br#"{"session":"main","message":"Read","media":"/tmp/a.txt"}"#, "").expect("clawgo");
        assert_eq!((clawgo.session_key.as_str(), clawgo.message.as_str()), ("main", "Read\n[file: /tmp/a.txt]"));
        let from_query = parse_chat(br#"{"message":"x"}"#, "session=q1").expect("query");
        assert_eq!(from_query.session_key, "q1");
        for bad in [&b"{}"[..], br#"{"message":""}"#, b"[1]", b"not json", br#"{"message":5}"#] {
            assert!(matches!(parse_chat(bad, ""), Err(GatewayError::InvalidParams(_))), "{bad:?}");
        }
    }
}
