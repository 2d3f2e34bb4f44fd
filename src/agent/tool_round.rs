//! One round of tool calls inside a turn: the calls the model made in one response, each
//! answered with exactly one tool-result message, in the order of the calls.
//!
//! Guarantees:
//! - Every call gets a result, whatever happens: an unknown tool, arguments that are not a JSON
//!   object, a denial, an approval timeout, saturated approvals and a tool's own error are all
//!   result texts the model reads (the turn goes on); so a stored round is always a complete
//!   pair (calls + results) that can be replayed upstream.
//! - A call that needs approval waits on the turn's abort handle: `chat.abort` or shutdown ends
//!   the wait at once; the round then stops, the calls not run are answered "not run: the turn
//!   was aborted", and [`RoundEnd::aborted`] is set.
//! - Tools run here, on the agent thread, never on an I/O thread.

use std::time::Duration;

use serde_json::Value;

use super::providers::{AbortHandle, Message, ToolCall};
use super::tools::approvals::{Approvals, Outcome, Request};
use super::tools::{Lookup, ToolRegistry, parse_arguments, unknown_tool_message};

/// What a round needs from its turn.
#[derive(Debug)]
pub(super) struct RoundContext<'a> {
    pub(super) registry: &'a ToolRegistry,
    pub(super) approvals: &'a Approvals,
    pub(super) run_id: &'a str,
    pub(super) session_key: &'a str,
    pub(super) abort: &'a AbortHandle,
    /// `agent.approval_timeout_ms`, already capped at what is left of the turn.
    pub(super) approval_timeout: Duration,
    /// `agent.approval_timeout_ms` as configured, for the message the model reads.
    pub(super) approval_timeout_ms: u64,
}

/// The results of a round.
#[derive(Debug)]
pub(super) struct RoundEnd {
    /// One [`Message`] of role `tool` per call, in call order.
    pub(super) results: Vec<Message>,
    /// The turn was aborted during the round.
    pub(super) aborted: bool,
}

/// Text for a call that was not run because the turn was aborted.
const NOT_RUN_ABORTED: &str = "not run: the turn was aborted";

/// Answer every call of one model response.
pub(super) fn run(cx: &RoundContext<'_>, calls: &[ToolCall]) -> RoundEnd {
    let mut results = Vec::with_capacity(calls.len());
    let mut aborted = false;
    for call in calls {
        if aborted || cx.abort.is_aborted() {
            aborted = true;
            results.push(Message::tool_result(call.id.clone(), NOT_RUN_ABORTED));
            continue;
        }
        let text = match answer(cx, call) {
            Answer::Text(text) => text,
            Answer::Aborted => {
                aborted = true;
                format!("{NOT_RUN_ABORTED} while this call waited for approval")
            }
        };
        results.push(Message::tool_result(call.id.clone(), text));
    }
    RoundEnd { results, aborted }
}

enum Answer {
    Text(String),
    Aborted,
}

fn answer(cx: &RoundContext<'_>, call: &ToolCall) -> Answer {
    let lookup = cx.registry.lookup(&call.name);
    if lookup == Lookup::Unknown {
        return Answer::Text(format!("error: {}", unknown_tool_message(&call.name, cx.registry)));
    }
    let args = match parse_arguments(&call.arguments) {
        Ok(args) => args,
        Err(why) => return Answer::Text(format!("error: {why}")),
    };
    if lookup == Lookup::NeedsApproval {
        let shown = Value::Object(args.clone());
        let request = Request {
            run_id: cx.run_id,
            session_key: cx.session_key,
            tool: &call.name,
            args: &shown,
            abort: cx.abort,
            timeout: cx.approval_timeout,
        };
        match cx.approvals.wait(&request) {
            Outcome::Allowed(_) => {}
            Outcome::Denied => return Answer::Text("not run: an operator denied this call".into()),
            Outcome::TimedOut => {
                return Answer::Text(format!(
                    "not run: it was not approved in time (agent.approval_timeout_ms = {} ms)",
                    cx.approval_timeout_ms
                ));
            }
            Outcome::Saturated => {
                return Answer::Text(format!(
                    "not run: {} tool calls are already waiting for approval; try again later",
                    super::tools::approvals::MAX_PENDING_APPROVALS
                ));
            }
            Outcome::Aborted => return Answer::Aborted,
        }
    }
    Answer::Text(cx.registry.run(&call.name, &args))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::agent::ToolsConfig;
    use crate::events::EventBus;

    fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
        ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() }
    }

    fn context<'a>(
        registry: &'a ToolRegistry,
        approvals: &'a Approvals,
        abort: &'a AbortHandle,
        approval_timeout_ms: u64,
    ) -> RoundContext<'a> {
        RoundContext {
            registry,
            approvals,
            run_id: "r",
            session_key: "s",
            abort,
            approval_timeout: Duration::from_millis(approval_timeout_ms),
            approval_timeout_ms,
        }
    }

    #[test]
    fn every_call_gets_one_result_in_order() {
        let registry = ToolRegistry::from_config(&ToolsConfig::default());
        let approvals = Approvals::new(Arc::new(EventBus::new(16)));
        let abort = AbortHandle::new();
        let cx = context(&registry, &approvals, &abort, 1000);
        let calls = [
            call("a", "current_time", r#"{"format":"unix"}"#),
            call("b", "shell", "{}"),
            call("c", "current_time", "{broken"),
            call("d", "current_time", r#"{"tz":"x"}"#),
        ];
        let end = run(&cx, &calls);
        assert!(!end.aborted);
        let ids: Vec<&str> = end.results.iter().filter_map(|m| m.tool_call_id.as_deref()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        let texts: Vec<&str> = end.results.iter().map(|m| m.content.as_str()).collect();
        assert!(texts[0].parse::<u64>().is_ok(), "{texts:?}");
        assert!(texts[1].starts_with("error: there is no tool named \"shell\""), "{texts:?}");
        assert!(texts[2].starts_with("error: the arguments are not valid JSON"), "{texts:?}");
        assert!(texts[3].starts_with("error: unknown argument"), "{texts:?}");

        abort.abort();
        let end = run(&cx, &calls[..2]);
        assert!(end.aborted);
        assert!(end.results.iter().all(|m| m.content == NOT_RUN_ABORTED));
    }

    #[test]
    fn approval_outcomes_become_results() {
        let gated = ToolsConfig { require_approval: vec!["current_time".into()], ..ToolsConfig::default() };
        let registry = ToolRegistry::from_config(&gated);
        let approvals = Approvals::new(Arc::new(EventBus::new(16)));
        let abort = AbortHandle::new();
        let cx = context(&registry, &approvals, &abort, 20);
        let end = run(&cx, &[call("a", "current_time", "{}")]);
        assert_eq!(end.results[0].content, "not run: it was not approved in time (agent.approval_timeout_ms = 20 ms)");
        assert_eq!(approvals.pending(), 0);
    }
}
