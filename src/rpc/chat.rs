//! The chat, session, usage and model methods: `chat.send`, `chat.history`, `chat.abort`,
//! `sessions.list|patch|delete`, `usage.summary`, `agent.execute`, `models.list`.
//!
//! Guarantees: every handler that touches the store or waits runs on the worker pool (never
//! the loop); `chat.send` answers at once with the run id and the turn's stream goes out as
//! `chat` events; a single `agent.execute` call is answered by its turn's sink (no thread
//! waits), and only inside a batch does it hold a worker, at most `agent.turn_timeout_ms`
//! plus [`EXECUTE_GRACE`]; bad parameters are -32602 with the reason,
//! unknown sessions and runs are -32602 `not found` with the key.

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::Ctx;
use super::methods::{params, to_vec};
use crate::agent::chat_events::usage_json;
use crate::agent::{ChatRequest, TurnEvent, no_sink};
use crate::error::GatewayError;
use crate::store::{AgentWrite, MessageRow, SessionOrigin, SessionRow, StoreError};

/// How long `agent.execute` waits past `agent.turn_timeout_ms` for the turn's end (the turn
/// itself stops at its deadline; this covers queueing and the final store commit).
pub const EXECUTE_GRACE: Duration = Duration::from_secs(10);

/// Default `limit` of `chat.history` and `sessions.list`.
pub const DEFAULT_LIST_LIMIT: usize = 200;

/// Largest `limit` of `chat.history` and `sessions.list` (OpenClaw's bound).
pub const MAX_LIST_LIMIT: usize = 1000;

/// How long `sessions.delete` waits for an aborted turn to record its end before it deletes.
pub const DELETE_DRAIN_WAIT: Duration = Duration::from_secs(2);

fn store_error(e: &StoreError) -> GatewayError {
    match e {
        StoreError::Full => GatewayError::Overloaded { what: "store queue" },
        StoreError::Failed(_) => GatewayError::StoreFailed,
        other => GatewayError::Internal(other.to_string()),
    }
}

/// `Some(value)` for a key that is present (even `null`), so `Option<Option<T>>` tells
/// "absent" from "cleared".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn check_limit(limit: Option<usize>) -> Result<usize, GatewayError> {
    match limit {
        None => Ok(DEFAULT_LIST_LIMIT),
        Some(n) if (1..=MAX_LIST_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(GatewayError::InvalidParams(format!("limit {n} is outside 1..={MAX_LIST_LIMIT}"))),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SendParams {
    session_key: Option<String>,
    message: Option<String>,
    idempotency_key: Option<String>,
    agent_id: Option<String>,
    model: Option<String>,
}

impl SendParams {
    fn into_request(self) -> Result<ChatRequest, GatewayError> {
        let message = self.message.ok_or_else(|| GatewayError::InvalidParams("message is required".into()))?;
        Ok(ChatRequest {
            session_key: self.session_key.unwrap_or_default(),
            message,
            agent_id: self.agent_id,
            model: self.model,
            idempotency_key: self.idempotency_key,
            origin: SessionOrigin { channel: Some("control-ui".into()), chat_id: None },
            ..ChatRequest::default()
        })
    }
}

/// `chat.send {sessionKey?, message, idempotencyKey?, model?, agentId?}`: start a turn and
/// answer at once. With an idempotency key (OpenClaw) the status is `started`; without one
/// (Human's `{message, sessionKey}`) it is `queued`, as Human answers.
pub(super) fn chat_send(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let p: SendParams = params(raw)?;
    let human = p.idempotency_key.is_none();
    let submitted = ctx.app.agent.submit(p.into_request()?, no_sink())?;
    let status = if human { "queued" } else { "started" };
    Ok(to_vec(&json!({
        "runId": submitted.run_id,
        "sessionKey": submitted.session_key,
        "status": status,
        "queued": submitted.queued,
        "duplicate": submitted.duplicate,
    })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HistoryParams {
    session_key: Option<String>,
    limit: Option<usize>,
    max_chars: Option<usize>,
}

/// One transcript message as the history methods show it.
#[must_use]
pub fn message_json(m: &MessageRow) -> Value {
    let mut v = json!({
        "role": m.role, "content": m.content, "runId": m.run_id, "timestamp": m.timestamp, "sessionKey": m.session_key,
    });
    if let Some(calls) = m.tool_calls.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok()) {
        v["toolCalls"] = calls;
    }
    if let Some(id) = &m.tool_call_id {
        v["toolCallId"] = id.as_str().into();
    }
    if let (Some(i), Some(o)) = (m.input_tokens, m.output_tokens) {
        v["usage"] = json!({ "input": i, "output": o, "total": i.saturating_add(o) });
    }
    v
}

/// Keep the newest messages whose contents fit in `max_chars` characters.
#[must_use]
pub fn within_chars(mut messages: Vec<MessageRow>, max_chars: Option<usize>) -> Vec<MessageRow> {
    let Some(mut budget) = max_chars else { return messages };
    let mut keep = 0;
    for m in messages.iter().rev() {
        let n = m.content.chars().count();
        if n > budget {
            break;
        }
        budget -= n;
        keep += 1;
    }
    messages.split_off(messages.len() - keep)
}

/// `chat.history {sessionKey, limit ≤ 1000, maxChars?}`: the newest messages, oldest first.
pub(super) fn chat_history(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let p: HistoryParams = params(raw)?;
    let limit = check_limit(p.limit)?;
    let key = p.session_key.filter(|k| !k.is_empty()).unwrap_or_else(|| "main".into());
    let reads = ctx.app.store.agent().map_err(|e| store_error(&e))?;
    let session = reads.session(&key).map_err(|e| store_error(&e))?;
    let messages = within_chars(reads.messages(&key, limit).map_err(|e| store_error(&e))?, p.max_chars);
    let list: Vec<Value> = messages.iter().map(message_json).collect();
    Ok(to_vec(&json!({
        "sessionKey": key,
        "sessionId": session.map(|s| s.session_id),
        "messages": list,
    })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AbortParams {
    session_key: Option<String>,
    run_id: Option<String>,
}

/// `chat.abort {sessionKey, runId?}`.
pub(super) fn chat_abort(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let p: AbortParams = params(raw)?;
    let key = p
        .session_key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| GatewayError::InvalidParams("sessionKey is required".into()))?;
    let aborted = ctx.app.agent.abort(&key, p.run_id.as_deref())?;
    Ok(to_vec(&json!({ "ok": true, "aborted": !aborted.run_ids.is_empty(), "runIds": aborted.run_ids })))
}

/// A session as the session methods show it.
#[must_use]
pub fn session_json(s: &SessionRow, busy: bool) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Some(map) = v.as_object_mut() {
        map.insert("sessionKey".into(), s.key.clone().into());
        map.insert("totalTokens".into(), s.input_tokens.saturating_add(s.output_tokens).into());
        map.insert("busy".into(), busy.into());
    }
    v
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<usize>,
}

/// `sessions.list {limit?}`: most recently updated first.
pub(super) fn sessions_list(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let p: ListParams = params(raw)?;
    let limit = check_limit(p.limit)?;
    let rows = ctx.app.store.agent().and_then(|r| r.sessions(limit)).map_err(|e| store_error(&e))?;
    let list: Vec<Value> = rows.iter().map(|s| session_json(s, ctx.app.agent.busy(&s.key))).collect();
    Ok(to_vec(&json!({ "count": list.len(), "sessions": list })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PatchParams {
    session_key: Option<String>,
    #[serde(default, deserialize_with = "present")]
    label: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    model: Option<Option<String>>,
}

/// Longest session label accepted (bytes).
pub const MAX_LABEL_BYTES: usize = 256;

/// `sessions.patch {sessionKey, label?, model?}` (`null` clears).
pub(super) fn sessions_patch(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let p: PatchParams = params(raw)?;
    let key = p
        .session_key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| GatewayError::InvalidParams("sessionKey is required".into()))?;
    if p.label.is_none() && p.model.is_none() {
        return Err(GatewayError::InvalidParams("nothing to change: give label and/or model".into()));
    }
    if p.label.as_ref().and_then(Option::as_ref).is_some_and(|l| l.len() > MAX_LABEL_BYTES) {
        return Err(GatewayError::InvalidParams(format!("label is longer than {MAX_LABEL_BYTES} bytes")));
    }
    let model = match p.model {
        Some(Some(m)) => {
            let resolved = ctx.app.agent.router().resolve(Some(&m));
            Some(Some(resolved.map_err(|e| GatewayError::InvalidParams(e.to_string()))?.to_string()))
        }
        other => other,
    };
    let write = AgentWrite::PatchSession { session_key: key.clone(), label: p.label, model };
    if ctx.app.store.agent_write_wait(write).map_err(|e| store_error(&e))? == 0 {
        return Err(GatewayError::SessionNotFound(key.chars().take(64).collect()));
    }
    let row = ctx.app.store.agent().and_then(|r| r.session(&key)).map_err(|e| store_error(&e))?;
    let row = row.ok_or_else(|| GatewayError::SessionNotFound(key.chars().take(64).collect()))?;
    Ok(to_vec(&json!({ "ok": true, "session": session_json(&row, ctx.app.agent.busy(&key)) })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeleteParams {
    session_key: Option<String>,
}

/// `sessions.delete {sessionKey}`: abort what runs, then delete the session, its transcript and
/// its turns.
pub(super) fn sessions_delete(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let p: DeleteParams = params(raw)?;
    let key = p
        .session_key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| GatewayError::InvalidParams("sessionKey is required".into()))?;
    if ctx.app.agent.busy(&key) {
        let _ = ctx.app.agent.abort(&key, None);
        let until = std::time::Instant::now() + DELETE_DRAIN_WAIT;
        while ctx.app.agent.busy(&key) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        if ctx.app.agent.busy(&key) {
            return Err(GatewayError::SessionBusy { session: key.chars().take(64).collect(), max: 0 });
        }
    }
    let write = AgentWrite::DeleteSession { session_key: key.clone() };
    let deleted = ctx.app.store.agent_write_wait(write).map_err(|e| store_error(&e))?;
    if deleted == 0 {
        return Err(GatewayError::SessionNotFound(key.chars().take(64).collect()));
    }
    Ok(to_vec(&json!({ "ok": true, "deleted": true, "sessionKey": key })))
}

/// `usage.summary`: totals over every ended turn, from the store.
pub(super) fn usage_summary(ctx: &mut Ctx<'_>, _: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let by_model = ctx.app.store.agent().and_then(|r| r.usage_by_model()).map_err(|e| store_error(&e))?;
    let (mut turns, mut input, mut output, mut cost) = (0u64, 0u64, 0u64, 0.0f64);
    for m in &by_model {
        turns = turns.saturating_add(m.turns);
        input = input.saturating_add(m.input_tokens);
        output = output.saturating_add(m.output_tokens);
        cost += m.cost_usd;
    }
    Ok(to_vec(&json!({
        "turns": turns, "inputTokens": input, "outputTokens": output, "totalTokens": input.saturating_add(output),
        "costUsd": cost, "byModel": by_model, "inFlight": ctx.app.agent.in_flight(), "agentRuntime": true,
    })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ExecuteParams {
    message: Option<String>,
    agent_id: Option<String>,
    session_key: Option<String>,
}

/// The request an `agent.execute` call asks for.
///
/// # Errors
/// -32602: bad params or no message.
pub fn execute_request(raw: Option<&RawValue>) -> Result<ChatRequest, GatewayError> {
    let p: ExecuteParams = params(raw)?;
    let message = p.message.ok_or_else(|| GatewayError::InvalidParams("message is required".into()))?;
    Ok(ChatRequest {
        session_key: p.session_key.unwrap_or_default(),
        message,
        agent_id: p.agent_id,
        origin: SessionOrigin { channel: Some("rpc".into()), chat_id: None },
        ..ChatRequest::default()
    })
}

/// Where the answer of an `agent.execute` call goes, once: its result payload or its error.
pub type ExecuteDone = Box<dyn FnOnce(Result<Vec<u8>, GatewayError>) + Send>;

/// The sink of an `agent.execute` turn: at the turn's end it calls `done` with Comis's
/// `{response, tokensUsed{input,output,total}, finishReason}` (plus `runId`, `sessionKey`,
/// `model`, `costUsd`, `usage`), or with the turn's error.
#[must_use]
pub fn execute_sink(done: ExecuteDone) -> crate::agent::TurnSink {
    let mut done = Some(done);
    let mut run: (String, String) = (String::new(), String::new());
    Box::new(move |e: TurnEvent<'_>| {
        let answer = match e {
            TurnEvent::Started { run_id, session_key, .. } => {
                run = (run_id.to_owned(), session_key.to_owned());
                return;
            }
            TurnEvent::Delta { .. } | TurnEvent::ToolCall(_) => return,
            TurnEvent::Final(r) => {
                let (i, o) = (r.usage.input_tokens, r.usage.output_tokens);
                Ok(to_vec(&json!({
                    "response": r.text,
                    "tokensUsed": { "input": i, "output": o, "total": i.saturating_add(o) },
                    "finishReason": r.finish.as_openai(),
                    "runId": run.0,
                    "sessionKey": run.1,
                    "model": r.model,
                    "costUsd": r.cost_usd,
                    "usage": usage_json(r),
                })))
            }
            TurnEvent::Aborted { .. } => {
                Err(GatewayError::AgentTurn { kind: "aborted".into(), message: "the turn was aborted".into() })
            }
            TurnEvent::Error { kind, message } => {
                Err(GatewayError::AgentTurn { kind: kind.to_owned(), message: message.to_owned() })
            }
        };
        if let Some(done) = done.take() {
            done(answer);
        }
    })
}

/// `agent.execute {message, agentId?, sessionKey?}` (Comis) inside a batch or as a
/// notification: holds its worker until the turn ends. A single call on `/ws` does not come
/// here: the connection starts the turn itself and its reply comes back as a completion
/// (`src/conn/rpc.rs`), so no thread waits.
pub(super) fn agent_execute(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let request = execute_request(raw)?;
    let (tx, rx) = crossbeam_channel::bounded::<Result<Vec<u8>, GatewayError>>(1);
    let sink = execute_sink(Box::new(move |answer| {
        let _ = tx.try_send(answer);
    }));
    ctx.app.agent.submit(request, sink)?;
    let wait = Duration::from_millis(ctx.app.agent.config().turn_timeout_ms).saturating_add(EXECUTE_GRACE);
    rx.recv_timeout(wait).unwrap_or_else(|_| {
        Err(GatewayError::AgentTurn {
            kind: "turn_timeout".into(),
            message: format!("no end within {} ms", wait.as_millis()),
        })
    })
}

/// `models.list`: the router's models, the default first, and the fallbacks.
pub(super) fn models_list(ctx: &mut Ctx<'_>, _: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let router = ctx.app.agent.router();
    let default_id = router.default_model().to_string();
    let models: Vec<Value> = router
        .models()
        .into_iter()
        .map(|m| {
            json!({
                "id": m.id, "provider": m.provider, "ownedBy": m.owned_by, "builtin": m.builtin,
                "default": m.id == default_id, "configured": true, "degraded": router.is_degraded(&m.provider),
            })
        })
        .collect();
    let fallbacks = &ctx.app.settings.config.models.fallbacks;
    Ok(to_vec(&json!({ "models": models, "fallbacks": fallbacks, "defaultModel": default_id })))
}
