//! One turn on an agent thread: build the request from the session's stored history, stream
//! it through the router, run the tools the model calls and call it again, publish the `chat`
//! events, and record the end in the store.
//!
//! Guarantees:
//! - The upstream sees `agent.system_prompt` first, then at most `agent.history_messages`
//!   stored messages holding at most `agent.history_chars` characters (the newest ones), then
//!   the new message. Stored tool calls and results go upstream only as whole pairs (an
//!   assistant message with calls followed by one result per call); a half that the limits cut
//!   off is left out, so the upstream never sees a result without its call or the reverse.
//! - Every request offers the enabled tools (`agent.tools`). When a response has tool calls,
//!   each is answered ([`super::tool_round`]), the round (the assistant message with its calls
//!   and the results) is appended to the transcript in one write, and the model that answered
//!   is called again with it. After `agent.max_tool_rounds` rounds, a response that still asks
//!   for tools ends the turn with the error `tool_rounds`.
//! - The turn's end (assistant text, state, usage and cost summed over every round, session
//!   totals) is one store transaction ([`record_end`]), committed before the sink hears
//!   `Final`/`Aborted`/`Error`, so a client that asks for the history after the final event
//!   finds the reply there.
//! - The turn's deadline is `agent.turn_timeout_ms` (every round, retry and fallback included);
//!   an abort stops it through the provider's abort handle, also while a tool call waits for
//!   approval.

use std::sync::Arc;
use std::time::Duration;

use super::chat_events::ChatEvents;
use super::providers::{
    FinishReason, Message, ProviderError, Role, RoutedTurn, StreamEvent, TimeoutKind, ToolCall, TurnControl,
    TurnFailure, TurnRequest, TurnSummary, Usage,
};
use super::runtime::{Inner, Pending};
use super::tool_round::{self, RoundContext};
use super::turn_types::{DEFAULT_AGENT_ID, TurnEvent, TurnResult, cost_usd, new_id};
use crate::app::unix_ms;
use crate::store::{AgentWrite, MessageRow, NewMessage, TurnState};

/// The stored history that fits the limits, oldest first, tool calls and results in pairs.
fn history(inner: &Inner, session_key: &str) -> Vec<Message> {
    let cfg = &inner.config;
    let rows: Vec<MessageRow> =
        inner.store.agent().and_then(|r| r.messages(session_key, cfg.history_messages)).unwrap_or_default();
    let mut budget = cfg.history_chars;
    let mut kept: Vec<Message> = Vec::new();
    for row in rows.iter().rev() {
        let calls: Vec<ToolCall> =
            row.tool_calls.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
        let call_chars: usize = calls.iter().map(|c| c.name.len().saturating_add(c.arguments.chars().count())).sum();
        let chars = row.content.chars().count().saturating_add(call_chars);
        if chars > budget {
            break;
        }
        budget -= chars;
        kept.push(match row.role.as_str() {
            "assistant" => Message { tool_calls: calls, ..Message::assistant(row.content.clone()) },
            "system" => Message::system(row.content.clone()),
            "tool" => Message::tool_result(row.tool_call_id.clone().unwrap_or_default(), row.content.clone()),
            _ => Message::user(row.content.clone()),
        });
    }
    kept.reverse();
    paired(kept)
}

/// Keep an assistant message's tool calls only when a result for each follows it, and a tool
/// result only right after the calls it answers. A call message whose results are missing
/// keeps its text (if any) as a plain assistant message.
fn paired(messages: Vec<Message>) -> Vec<Message> {
    let mut out = Vec::with_capacity(messages.len());
    let mut it = messages.into_iter().peekable();
    while let Some(m) = it.next() {
        match m.role {
            Role::Tool => {}
            Role::Assistant if !m.tool_calls.is_empty() => {
                let mut results = Vec::new();
                while let Some(r) = it.next_if(|r| r.role == Role::Tool) {
                    results.push(r);
                }
                let answers = |c: &ToolCall| results.iter().any(|r| r.tool_call_id.as_deref() == Some(c.id.as_str()));
                if m.tool_calls.iter().all(answers) {
                    let ids: Vec<String> = m.tool_calls.iter().map(|c| c.id.clone()).collect();
                    out.push(m);
                    out.extend(
                        results.into_iter().filter(|r| r.tool_call_id.as_ref().is_some_and(|id| ids.contains(id))),
                    );
                } else if !m.content.is_empty() {
                    out.push(Message::assistant(m.content));
                }
            }
            _ => out.push(m),
        }
    }
    out
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

/// Append one round of tool calls and their results to the transcript (fire and forget, like
/// the start: the writer applies it before the end, and a failure fails the end's write).
fn record_round(inner: &Inner, p: &Pending, assistant: &Message, results: &[Message]) {
    let calls = serde_json::to_string(&assistant.tool_calls).unwrap_or_else(|_| "[]".into());
    let mut messages =
        vec![NewMessage { tool_calls: Some(calls), ..NewMessage::text("assistant", assistant.content.clone()) }];
    messages.extend(
        results.iter().map(|r| NewMessage {
            tool_call_id: r.tool_call_id.clone(),
            ..NewMessage::text("tool", r.content.clone())
        }),
    );
    let write =
        AgentWrite::AppendMessages { session_key: p.request.session_key.clone(), run_id: p.run_id.clone(), messages };
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
}

/// The one place that builds a turn's end-of-turn write.
fn record_end(inner: &Inner, p: &Pending, end: End<'_>) -> Result<(), String> {
    // A channel turn queues its reply and settles its inbox row in this same transaction.
    let inbox =
        p.request.reply.as_ref().map(|route| route.on_end(end.state, end.text, end.error.as_deref(), unix_ms()));
    let assistant = (!end.text.is_empty()).then(|| NewMessage {
        input_tokens: Some(end.usage.input_tokens),
        output_tokens: Some(end.usage.output_tokens),
        ..NewMessage::text("assistant", end.text.to_owned())
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

/// Tokens and dollars of the rounds that finished.
#[derive(Debug, Clone, Copy, Default)]
struct Spent {
    usage: Usage,
    cost: f64,
}

impl Spent {
    fn add(&mut self, usage: Usage, cost: f64) {
        self.usage.input_tokens = self.usage.input_tokens.saturating_add(usage.input_tokens);
        self.usage.output_tokens = self.usage.output_tokens.saturating_add(usage.output_tokens);
        self.cost += cost;
    }
}

/// Where a turn that did not end normally stood: the text of its last round, the model, what
/// it spent.
struct Progress<'a> {
    text: &'a str,
    model: &'a str,
    spent: Spent,
}

/// Run one turn to its end.
pub(super) fn run(inner: &Arc<Inner>, mut p: Pending) {
    let started_ms = unix_ms();
    let key = p.request.session_key.clone();
    let run_id = p.run_id.clone();
    let mut events = ChatEvents::new(&inner.bus, &run_id, &key);
    let session_model = inner.store.agent().ok().and_then(|r| r.session(&key).ok().flatten()).and_then(|s| s.model);
    let wanted = p.request.model.clone().or(session_model);
    let mut model = match inner.router.resolve(wanted.as_deref()) {
        Ok(m) => m.to_string(),
        Err(e) => {
            let model = inner.router.default_model().to_string();
            record_start(inner, &p, &model, started_ms);
            let progress = Progress { text: "", model: &model, spent: Spent::default() };
            return fail(inner, &mut p, &mut events, e.code(), e.to_string(), &progress);
        }
    };
    let sampling = p.request.sampling;
    let mut request = TurnRequest {
        tools: inner.tools.specs(),
        max_tokens: sampling.max_tokens,
        temperature: sampling.temperature,
        ..TurnRequest::default()
    };
    if let Some(prompt) = inner.config.system_prompt.as_deref().filter(|s| !s.is_empty()) {
        request.messages.push(Message::system(prompt));
    }
    match p.request.history.take() {
        Some(given) => request.messages.extend(given),
        None => request.messages.extend(history(inner, &key)),
    }
    request.messages.push(Message::user(p.request.message.clone()));
    record_start(inner, &p, &model, started_ms);
    (p.sink)(TurnEvent::Started { run_id: &run_id, session_key: &key, model: &model });

    let ctl = TurnControl::with_abort(p.abort.clone(), inner.router.turn_timeout());
    let mut spent = Spent::default();
    let mut rounds = 0usize;
    loop {
        let mut partial = String::new();
        let routed = match stream_once(inner, &mut p, &mut events, &request, &model, &ctl, &mut partial) {
            Ok(routed) => routed,
            Err(failure) => {
                let progress = Progress { text: &partial, model: &model, spent };
                if failure.error == ProviderError::Aborted {
                    return aborted(inner, &mut p, &mut events, &progress);
                }
                let code = failure.error.code();
                let message = if failure.error == ProviderError::Timeout(TimeoutKind::Turn) {
                    format!("turn timed out after agent.turn_timeout_ms = {} ms", inner.config.turn_timeout_ms)
                } else {
                    failure.error.to_string()
                };
                return fail(inner, &mut p, &mut events, code, message, &progress);
            }
        };
        let usage = routed.summary.usage.unwrap_or_default();
        spent.add(usage, cost_usd(inner.config.prices.get(&routed.model.model), usage));
        model = routed.model.to_string();
        if routed.summary.tool_calls.is_empty() {
            return done(inner, &mut p, &mut events, routed.summary, &model, spent);
        }
        if rounds >= inner.config.max_tool_rounds {
            let message = format!(
                "the model asked for tools again after agent.max_tool_rounds = {} rounds",
                inner.config.max_tool_rounds
            );
            let progress = Progress { text: &routed.summary.text, model: &model, spent };
            return fail(inner, &mut p, &mut events, "tool_rounds", message, &progress);
        }
        rounds += 1;
        let assistant = Message { tool_calls: routed.summary.tool_calls, ..Message::assistant(routed.summary.text) };
        let cx = RoundContext {
            registry: &inner.tools,
            approvals: &inner.approvals,
            run_id: &run_id,
            session_key: &key,
            abort: &p.abort,
            approval_timeout: Duration::from_millis(inner.config.approval_timeout_ms).min(ctl.remaining()),
            approval_timeout_ms: inner.config.approval_timeout_ms,
        };
        let round = tool_round::run(&cx, &assistant.tool_calls);
        record_round(inner, &p, &assistant, &round.results);
        request.messages.push(assistant);
        request.messages.extend(round.results);
        if round.aborted {
            return aborted(inner, &mut p, &mut events, &Progress { text: "", model: &model, spent });
        }
    }
}

/// One call of the model, streaming its text and tool calls to the sink and the bus.
fn stream_once(
    inner: &Inner,
    p: &mut Pending,
    events: &mut ChatEvents<'_>,
    request: &TurnRequest,
    model: &str,
    ctl: &TurnControl,
    partial: &mut String,
) -> Result<RoutedTurn, TurnFailure> {
    let sink = &mut p.sink;
    inner.router.stream(Some(model), request, ctl, &mut |event| match event {
        StreamEvent::TextDelta(text) => {
            partial.push_str(text);
            events.delta(text);
            sink(TurnEvent::Delta { text });
        }
        StreamEvent::ToolCall(call) => sink(TurnEvent::ToolCall(call)),
        StreamEvent::Usage(_) | StreamEvent::Finish(_) => {}
    })
}

/// The model answered without asking for tools: record and report the turn's end.
fn done(inner: &Inner, p: &mut Pending, events: &mut ChatEvents<'_>, summary: TurnSummary, model: &str, spent: Spent) {
    let end =
        End { state: TurnState::Done, text: &summary.text, usage: spent.usage, cost: spent.cost, error: None, model };
    if let Err(why) = record_end(inner, p, end) {
        return report_error(p, events, "store", &why);
    }
    let result = TurnResult {
        text: summary.text,
        usage: spent.usage,
        finish: summary.finish.unwrap_or(FinishReason::Stop),
        cost_usd: spent.cost,
        model: model.to_owned(),
    };
    events.final_(&result, unix_ms());
    (p.sink)(TurnEvent::Final(&result));
}

/// The turn was aborted (mid-stream or while a tool call waited for approval).
fn aborted(inner: &Inner, p: &mut Pending, events: &mut ChatEvents<'_>, progress: &Progress<'_>) {
    // Stopped by the shutdown, not by a client: `interrupted` releases the turn's idempotency
    // key and keeps no half reply, so the next start can run it again.
    let interrupted = inner.stopping();
    let end = End {
        state: if interrupted { TurnState::Interrupted } else { TurnState::Aborted },
        text: if interrupted { "" } else { progress.text },
        usage: progress.spent.usage,
        cost: progress.spent.cost,
        error: None,
        model: progress.model,
    };
    if let Err(why) = record_end(inner, p, end) {
        return report_error(p, events, "store", &why);
    }
    events.aborted(progress.text, unix_ms());
    (p.sink)(TurnEvent::Aborted { partial: progress.text });
}

/// The turn failed with `code`: record it and report the error.
fn fail(
    inner: &Inner,
    p: &mut Pending,
    events: &mut ChatEvents<'_>,
    code: &str,
    message: String,
    progress: &Progress<'_>,
) {
    let end = End {
        state: TurnState::Error,
        text: progress.text,
        usage: progress.spent.usage,
        cost: progress.spent.cost,
        error: Some(format!("{code}: {message}")),
        model: progress.model,
    };
    let stored = record_end(inner, p, end);
    report_error(p, events, code, &stored.err().unwrap_or(message));
}

fn report_error(p: &mut Pending, events: &mut ChatEvents<'_>, kind: &str, message: &str) {
    events.error(kind, message);
    (p.sink)(TurnEvent::Error { kind, message });
}

/// A waiting turn removed by an abort: record it as aborted (it never ran) and tell its sink.
pub(super) fn abort_waiting(inner: &Inner, mut p: Pending) {
    let model = p.request.model.clone().unwrap_or_else(|| inner.router.default_model().to_string());
    record_start(inner, &p, &model, unix_ms());
    let (run_id, key) = (p.run_id.clone(), p.request.session_key.clone());
    let mut events = ChatEvents::new(&inner.bus, &run_id, &key);
    aborted(inner, &mut p, &mut events, &Progress { text: "", model: &model, spent: Spent::default() });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(ids: &[&str]) -> Message {
        let tool_calls =
            ids.iter().map(|id| ToolCall { id: (*id).into(), name: "t".into(), arguments: "{}".into() }).collect();
        Message { tool_calls, ..Message::assistant("") }
    }

    fn shape(messages: &[Message]) -> Vec<String> {
        messages
            .iter()
            .map(|m| match m.role {
                Role::Tool => format!("result:{}", m.tool_call_id.as_deref().unwrap_or_default()),
                Role::Assistant if !m.tool_calls.is_empty() => format!("calls:{}", m.tool_calls.len()),
                Role::Assistant => format!("assistant:{}", m.content),
                _ => format!("user:{}", m.content),
            })
            .collect()
    }

    #[test]
    fn history_keeps_tool_calls_and_results_only_in_pairs() {
        let whole = vec![
            Message::user("q"),
            calls(&["a", "b"]),
            Message::tool_result("a", "1"),
            Message::tool_result("b", "2"),
            Message::assistant("done"),
        ];
        assert_eq!(shape(&paired(whole)), ["user:q", "calls:2", "result:a", "result:b", "assistant:done"]);
        // The limits cut the calls off: their results are orphans and go.
        let cut = vec![Message::tool_result("b", "2"), Message::assistant("done"), Message::user("next")];
        assert_eq!(shape(&paired(cut)), ["assistant:done", "user:next"]);
        // Calls whose results are missing (an aborted round that was not stored whole) go, but
        // their text stays.
        let mut with_text = calls(&["a", "b"]);
        with_text.content = "let me check".into();
        let half = vec![with_text, Message::tool_result("a", "1"), Message::user("next")];
        assert_eq!(shape(&paired(half)), ["assistant:let me check", "user:next"]);
    }
}
