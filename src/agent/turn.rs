//! One turn on an agent thread: build the request from the session's stored history, stream
//! it through the router, publish the `chat` events, and record the end in the store.
//!
//! Guarantees:
//! - The upstream sees `agent.system_prompt` first, then at most `agent.history_messages`
//!   stored messages holding at most `agent.history_chars` characters (the newest ones), then
//!   the new message.
//! - The turn's end (assistant text, state, usage, cost, session totals) is one store
//!   transaction, committed before the sink hears `Final`/`Aborted`/`Error`, so a client that
//!   asks for the history after the final event finds the reply there.
//! - The turn's deadline is `agent.turn_timeout_ms` (every retry and fallback included); an
//!   abort stops it through the provider's abort handle.

use std::sync::Arc;

use super::chat_events::ChatEvents;
use super::providers::{
    FinishReason, Message, ProviderError, Role, StreamEvent, TimeoutKind, TurnControl, TurnRequest, Usage,
};
use super::runtime::{Inner, Pending};
use super::turn_types::{DEFAULT_AGENT_ID, TurnEvent, TurnResult, cost_usd, new_id};
use crate::app::unix_ms;
use crate::store::{AgentWrite, MessageRow, NewMessage, TurnState};

/// The stored history that fits the limits, oldest first.
fn history(inner: &Inner, session_key: &str) -> Vec<Message> {
    let cfg = &inner.config;
    let rows: Vec<MessageRow> =
        inner.store.agent().and_then(|r| r.messages(session_key, cfg.history_messages)).unwrap_or_default();
    let mut budget = cfg.history_chars;
    let mut kept: Vec<Message> = Vec::new();
    for row in rows.iter().rev() {
        let chars = row.content.chars().count();
        if chars > budget {
            break;
        }
        budget -= chars;
        let role = match row.role.as_str() {
            "assistant" => Role::Assistant,
            "system" => Role::System,
            // Tool results are only meaningful next to the call that asked for them, which
            // the runtime does not replay yet; leave them out.
            "tool" => continue,
            _ => Role::User,
        };
        kept.push(Message::text(role, row.content.clone()));
    }
    kept.reverse();
    kept
}

/// Record the start of a turn (fire and forget: the end waits for its own commit, and the
/// writer applies both in order).
fn record_start(inner: &Inner, p: &Pending, model: &str, started_ms: u64) {
    let write = AgentWrite::StartTurn {
        session_key: p.request.session_key.clone(),
        session_id: new_id("ses_"),
        agent_id: DEFAULT_AGENT_ID.to_owned(),
        origin: p.request.origin.clone(),
        run_id: p.run_id.clone(),
        model: model.to_owned(),
        started_ms,
        idempotency_key: p.request.idempotency_key.clone(),
        user: NewMessage::text("user", p.request.message.clone()),
    };
    // A failure fail-stops the store; the end's write then fails and the turn reports it.
    inner.store.agent_write(write, Box::new(|_| {}));
}

/// How a turn ended, for its one store transaction.
struct End<'a> {
    state: TurnState,
    text: &'a str,
    usage: Usage,
    cost: f64,
    error: Option<String>,
    model: &'a str,
    tool_calls: Option<String>,
}

fn record_end(inner: &Inner, p: &Pending, end: End<'_>) -> Result<(), String> {
    // A channel turn queues its reply and settles its inbox row in this same transaction.
    let inbox =
        p.request.reply.as_ref().map(|route| route.on_end(end.state, end.text, end.error.as_deref(), unix_ms()));
    let has_reply = !end.text.is_empty() || end.tool_calls.is_some();
    let assistant = has_reply.then(|| NewMessage {
        role: "assistant",
        content: end.text.to_owned(),
        tool_calls: end.tool_calls,
        tool_call_id: None,
        input_tokens: Some(end.usage.input_tokens),
        output_tokens: Some(end.usage.output_tokens),
    });
    let write = AgentWrite::EndTurn {
        session_key: p.request.session_key.clone(),
        run_id: p.run_id.clone(),
        state: end.state,
        ended_ms: unix_ms(),
        input_tokens: end.usage.input_tokens,
        output_tokens: end.usage.output_tokens,
        cost_usd: end.cost,
        error: end.error,
        model: end.model.to_owned(),
        assistant,
    };
    let write = match inbox {
        Some(inbox) => AgentWrite::EndChannelTurn { end: Box::new(write), inbox: Box::new(inbox) },
        None => write,
    };
    inner.store.agent_write_wait(write).map(|_| ()).map_err(|e| format!("the turn could not be stored: {e}"))
}

/// Run one turn to its end.
pub(super) fn run(inner: &Arc<Inner>, mut p: Pending) {
    let started_ms = unix_ms();
    let key = p.request.session_key.clone();
    let run_id = p.run_id.clone();
    let mut events = ChatEvents::new(&inner.bus, &run_id, &key);
    let session_model = inner.store.agent().ok().and_then(|r| r.session(&key).ok().flatten()).and_then(|s| s.model);
    let wanted = p.request.model.clone().or(session_model);
    let model = match inner.router.resolve(wanted.as_deref()) {
        Ok(m) => m.to_string(),
        Err(e) => {
            let model = inner.router.default_model().to_string();
            record_start(inner, &p, &model, started_ms);
            let message = e.to_string();
            let stored = record_end(inner, &p, end_error(e.code(), message.clone(), &model));
            return report_error(&mut p, &mut events, e.code(), &stored.err().unwrap_or(message));
        }
    };
    let mut request = TurnRequest::default();
    if let Some(prompt) = inner.config.system_prompt.as_deref().filter(|s| !s.is_empty()) {
        request.messages.push(Message::system(prompt));
    }
    match p.request.history.take() {
        Some(given) => request.messages.extend(given),
        None => request.messages.extend(history(inner, &key)),
    }
    request.messages.push(Message::user(p.request.message.clone()));
    request.max_tokens = p.request.sampling.max_tokens;
    request.temperature = p.request.sampling.temperature;
    record_start(inner, &p, &model, started_ms);
    (p.sink)(TurnEvent::Started { run_id: &run_id, session_key: &key, model: &model });

    let ctl = TurnControl::with_abort(p.abort.clone(), inner.router.turn_timeout());
    let mut partial = String::new();
    let result = {
        let sink = &mut p.sink;
        let events = &mut events;
        let partial = &mut partial;
        inner.router.stream(Some(&model), &request, &ctl, &mut |event| match event {
            StreamEvent::TextDelta(text) => {
                partial.push_str(text);
                events.delta(text);
                sink(TurnEvent::Delta { text });
            }
            StreamEvent::ToolCall(call) => sink(TurnEvent::ToolCall(call)),
            StreamEvent::Usage(_) | StreamEvent::Finish(_) => {}
        })
    };
    match result {
        Ok(routed) => {
            let usage = routed.summary.usage.unwrap_or_default();
            let cost = cost_usd(inner.config.prices.get(&routed.model.model), usage);
            let answered = routed.model.to_string();
            let tool_calls = (!routed.summary.tool_calls.is_empty())
                .then(|| serde_json::to_string(&routed.summary.tool_calls).unwrap_or_else(|_| "[]".into()));
            let end = End {
                state: TurnState::Done,
                text: &routed.summary.text,
                usage,
                cost,
                error: None,
                model: &answered,
                tool_calls,
            };
            if let Err(why) = record_end(inner, &p, end) {
                return report_error(&mut p, &mut events, "store", &why);
            }
            let result = TurnResult {
                text: routed.summary.text,
                usage,
                finish: routed.summary.finish.unwrap_or(FinishReason::Stop),
                cost_usd: cost,
                model: answered,
            };
            events.final_(&result, unix_ms());
            (p.sink)(TurnEvent::Final(&result));
        }
        Err(failure) if failure.error == ProviderError::Aborted => {
            // Stopped by the shutdown, not by a client: `interrupted` releases the turn's
            // idempotency key and keeps no half reply, so the next start can run it again.
            let interrupted = inner.stopping();
            let end = End {
                state: if interrupted { TurnState::Interrupted } else { TurnState::Aborted },
                text: if interrupted { "" } else { &partial },
                usage: Usage::default(),
                cost: 0.0,
                error: None,
                model: &model,
                tool_calls: None,
            };
            if let Err(why) = record_end(inner, &p, end) {
                return report_error(&mut p, &mut events, "store", &why);
            }
            events.aborted(&partial, unix_ms());
            (p.sink)(TurnEvent::Aborted { partial: &partial });
        }
        Err(failure) => {
            let code = failure.error.code();
            let message = if failure.error == ProviderError::Timeout(TimeoutKind::Turn) {
                format!("turn timed out after agent.turn_timeout_ms = {} ms", inner.config.turn_timeout_ms)
            } else {
                failure.error.to_string()
            };
            let mut end = end_error(code, message.clone(), &model);
            end.text = &partial;
            let stored = record_end(inner, &p, end);
            report_error(&mut p, &mut events, code, &stored.err().unwrap_or(message));
        }
    }
}

fn end_error<'a>(code: &str, message: String, model: &'a str) -> End<'a> {
    End {
        state: TurnState::Error,
        text: "",
        usage: Usage::default(),
        cost: 0.0,
        error: Some(format!("{code}: {message}")),
        model,
        tool_calls: None,
    }
}

fn report_error(p: &mut Pending, events: &mut ChatEvents<'_>, kind: &str, message: &str) {
    events.error(kind, message);
    (p.sink)(TurnEvent::Error { kind, message });
}

/// A waiting turn removed by an abort: record it as aborted (it never ran) and tell its sink.
pub(super) fn abort_waiting(inner: &Inner, mut p: Pending) {
    let model = p.request.model.clone().unwrap_or_else(|| inner.router.default_model().to_string());
    record_start(inner, &p, &model, unix_ms());
    let end = End {
        state: TurnState::Aborted,
        text: "",
        usage: Usage::default(),
        cost: 0.0,
        error: None,
        model: &model,
        tool_calls: None,
    };
    let (run_id, key) = (p.run_id.clone(), p.request.session_key.clone());
    let mut events = ChatEvents::new(&inner.bus, &run_id, &key);
    if let Err(why) = record_end(inner, &p, end) {
        return report_error(&mut p, &mut events, "store", &why);
    }
    events.aborted("", unix_ms());
    (p.sink)(TurnEvent::Aborted { partial: "" });
}
