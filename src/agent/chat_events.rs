//! A turn's `chat` events on the bus, in the two seed shapes:
//! OpenClaw's `{runId, sessionKey, seq, state: delta|final|aborted|error, deltaText, message?,
//! usage?, stopReason?, errorMessage?, errorKind?}` (bus names `chat:delta`, `chat:final`,
//! `chat:aborted`, `chat:error`) and Human's `{state: "chunk", channel: "control-ui", id:
//! sessionKey, message}` (bus name `chat:chunk`). `/ws` shows all of them as the event `chat`
//! ([`crate::events::kind::ws_names`]).
//!
//! Guarantees: `seq` counts 1, 2, 3... per run across every OpenClaw-shaped event of that run,
//! so a client can tell a gap; publishing never fails a turn (the names are catalogue names,
//! checked by a test).

use serde_json::{Value, json};

use super::turn_types::TurnResult;
use crate::events::EventBus;

/// The channel Human's chunk events name.
const HUMAN_CHANNEL: &str = "control-ui";

/// Publishes one run's events, numbering them.
pub(super) struct ChatEvents<'a> {
    bus: &'a EventBus,
    run_id: &'a str,
    session_key: &'a str,
    seq: u64,
}

impl<'a> ChatEvents<'a> {
    pub(super) const fn new(bus: &'a EventBus, run_id: &'a str, session_key: &'a str) -> Self {
        Self { bus, run_id, session_key, seq: 0 }
    }

    fn publish(&mut self, name: &'static str, state: &str, mut extra: Value) {
        self.seq += 1;
        if let Some(map) = extra.as_object_mut() {
            map.insert("runId".into(), self.run_id.into());
            map.insert("sessionKey".into(), self.session_key.into());
            map.insert("seq".into(), self.seq.into());
            map.insert("state".into(), state.into());
        }
        // Catalogue names only (tested), so this cannot be refused.
        let _ = self.bus.publish(name, &extra);
    }

    /// One delta: OpenClaw's `delta` and Human's `chunk`.
    pub(super) fn delta(&mut self, text: &str) {
        self.publish("chat:delta", "delta", json!({ "deltaText": text }));
        let chunk = json!({
            "state": "chunk", "channel": HUMAN_CHANNEL, "id": self.session_key, "message": text, "runId": self.run_id,
        });
        let _ = self.bus.publish("chat:chunk", &chunk);
    }

    /// The turn ended normally.
    pub(super) fn final_(&mut self, result: &TurnResult, timestamp: u64) {
        let usage = usage_json(result);
        self.publish(
            "chat:final",
            "final",
            json!({
                "deltaText": "",
                "message": assistant_message(&result.text, timestamp),
                "usage": usage,
                "stopReason": result.finish.as_openai(),
                "model": result.model,
            }),
        );
    }

    /// The turn was aborted with `partial` streamed.
    pub(super) fn aborted(&mut self, partial: &str, timestamp: u64) {
        self.publish(
            "chat:aborted",
            "aborted",
            json!({ "deltaText": "", "message": assistant_message(partial, timestamp) }),
        );
    }

    /// The turn failed.
    pub(super) fn error(&mut self, kind: &str, message: &str) {
        self.publish(
            "chat:error",
            "error",
            json!({ "deltaText": "", "errorMessage": message, "errorKind": openclaw_error_kind(kind), "errorCode": kind }),
        );
    }
}

/// OpenClaw's message shape: `{role, content: [{type: "text", text}], timestamp}`.
fn assistant_message(text: &str, timestamp: u64) -> Value {
    json!({ "role": "assistant", "content": [{ "type": "text", "text": text }], "timestamp": timestamp })
}

/// Usage as both seeds spell it: OpenClaw's `{input, output, total}` plus the cost.
#[must_use]
pub fn usage_json(result: &TurnResult) -> Value {
    let (i, o) = (result.usage.input_tokens, result.usage.output_tokens);
    json!({ "input": i, "output": o, "total": i.saturating_add(o), "costUsd": result.cost_usd })
}

/// OpenClaw's `errorKind`: `refusal | timeout | rate_limit | context_length | unknown`.
#[must_use]
pub fn openclaw_error_kind(code: &str) -> &'static str {
    match code {
        c if c.ends_with("timeout") => "timeout",
        "upstream_rate_limited" => "rate_limit",
        _ => "unknown",
    }
}
