//! Tool calls waiting for an operator: `approval:requested` out, `exec.approval.resolve` in.
//!
//! Guarantees:
//! - A wait ends on the first of: a decision ([`Approvals::resolve`]), the turn's abort
//!   (`chat.abort`, shutdown: the wait is on the turn's [`AbortHandle`], which the abort wakes
//!   at once), or the timeout (`agent.approval_timeout_ms`). Every end but a resolve publishes
//!   `approval:resolved` itself (`decision: "timeout"` or `"aborted"`), so a dashboard never
//!   keeps a prompt that can no longer be answered.
//! - At most [`MAX_PENDING_APPROVALS`] approvals wait at once; one more is refused at once
//!   (the tool does not run and the model is told why). An approval leaves the table when its
//!   wait ends, whichever way, so nothing outlives its turn.
//! - A decision is taken once: a second `exec.approval.resolve` of the same id, or one after
//!   the timeout, is [`GatewayError::ApprovalNotFound`].
//! - `allow-always` lets that tool run without asking again until the process exits; it is
//!   not persisted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::agent::providers::{AbortHandle, WaitEnd};
use crate::agent::turn_types::new_id;
use crate::app::unix_ms;
use crate::error::GatewayError;
use crate::events::EventBus;

/// Approvals waiting at once, over every turn. Past it a call that needs approval is refused
/// at once (the model is told approvals are saturated), never queued without bound.
pub const MAX_PENDING_APPROVALS: usize = 256;

/// An operator's answer (OpenClaw's decisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run this call.
    AllowOnce,
    /// Run this call and every later call of the same tool (process lifetime).
    AllowAlways,
    /// Do not run it.
    Deny,
}

impl Decision {
    /// Parse a decision: `allow-once`, `allow-always`, `deny`, and the aliases `allow`,
    /// `approve`, `approved`, `once` (allow-once), `always` (allow-always), `reject`,
    /// `rejected`, `denied` (deny).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "allow-once" | "allow" | "approve" | "approved" | "once" => Some(Self::AllowOnce),
            "allow-always" | "always" => Some(Self::AllowAlways),
            "deny" | "denied" | "reject" | "rejected" => Some(Self::Deny),
            _ => None,
        }
    }

    /// The canonical spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AllowOnce => "allow-once",
            Self::AllowAlways => "allow-always",
            Self::Deny => "deny",
        }
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Run the tool (`AllowOnce` or `AllowAlways`; `AllowAlways` also when remembered).
    Allowed(Decision),
    /// An operator said no.
    Denied,
    /// Nobody answered within the timeout.
    TimedOut,
    /// The turn was aborted while waiting.
    Aborted,
    /// [`MAX_PENDING_APPROVALS`] were already waiting.
    Saturated,
}

/// One approval in the table.
#[derive(Debug)]
struct Pending {
    run_id: String,
    session_key: String,
    tool: String,
    /// Set under the table's lock by [`Approvals::resolve`].
    decision: Mutex<Option<Decision>>,
    /// The waiting turn's handle: resolving wakes it.
    abort: AbortHandle,
}

/// What a turn asks approval for.
#[derive(Debug)]
pub struct Request<'a> {
    /// The turn.
    pub run_id: &'a str,
    /// Its session.
    pub session_key: &'a str,
    /// The tool's name.
    pub tool: &'a str,
    /// The call's arguments (parsed).
    pub args: &'a Value,
    /// The turn's abort handle (the wait ends when it is aborted).
    pub abort: &'a AbortHandle,
    /// How long to wait.
    pub timeout: Duration,
}

/// The approvals of this process.
#[derive(Debug)]
pub struct Approvals {
    pending: Mutex<HashMap<String, Arc<Pending>>>,
    always: Mutex<HashSet<String>>,
    bus: Arc<EventBus>,
}

impl Approvals {
    /// An empty table publishing on `bus`.
    #[must_use]
    pub fn new(bus: Arc<EventBus>) -> Self {
        Self { pending: Mutex::new(HashMap::new()), always: Mutex::new(HashSet::new()), bus }
    }

    /// Approvals waiting now.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending.lock().len()
    }

    /// Ask, publish `approval:requested`, and block this (agent) thread until the wait ends.
    pub fn wait(&self, req: &Request<'_>) -> Outcome {
        if self.always.lock().contains(req.tool) {
            return Outcome::Allowed(Decision::AllowAlways);
        }
        let id = new_id("apr_");
        let entry = Arc::new(Pending {
            run_id: req.run_id.to_owned(),
            session_key: req.session_key.to_owned(),
            tool: req.tool.to_owned(),
            decision: Mutex::new(None),
            abort: req.abort.clone(),
        });
        {
            let mut table = self.pending.lock();
            if table.len() >= MAX_PENDING_APPROVALS {
                return Outcome::Saturated;
            }
            table.insert(id.clone(), Arc::clone(&entry));
        }
        let now = unix_ms();
        let expires = now.saturating_add(u64::try_from(req.timeout.as_millis()).unwrap_or(u64::MAX));
        let requested = json!({
            "id": id, "runId": req.run_id, "sessionKey": req.session_key, "tool": req.tool, "args": req.args,
            "createdAtMs": now, "expiresAtMs": expires,
        });
        // A catalogue name, so this cannot be refused.
        let _ = self.bus.publish("approval:requested", &requested);
        let deadline = Instant::now().checked_add(req.timeout).unwrap_or_else(Instant::now);
        let end = req.abort.wait_until(deadline, || entry.decision.lock().is_some());
        // Leave the table under its lock: after this no resolve can reach the entry, and a
        // resolve that got there first has already set the decision (it does so under the lock).
        let taken = self.pending.lock().remove(&id).is_some();
        let decision = *entry.decision.lock();
        match (end, decision) {
            (WaitEnd::Aborted, _) if taken => {
                self.publish_resolved(&id, &entry, "aborted");
                Outcome::Aborted
            }
            (WaitEnd::Aborted, _) => Outcome::Aborted,
            (_, Some(Decision::Deny)) => Outcome::Denied,
            (_, Some(d)) => Outcome::Allowed(d),
            (_, None) => {
                self.publish_resolved(&id, &entry, "timeout");
                Outcome::TimedOut
            }
        }
    }

    /// Record an operator's decision, wake the turn and publish `approval:resolved`.
    ///
    /// # Errors
    /// [`GatewayError::ApprovalNotFound`]: no approval of that id is waiting.
    pub fn resolve(&self, id: &str, decision: Decision) -> Result<Value, GatewayError> {
        let entry = {
            let mut table = self.pending.lock();
            let entry =
                table.remove(id).ok_or_else(|| GatewayError::ApprovalNotFound(id.chars().take(64).collect()))?;
            *entry.decision.lock() = Some(decision);
            entry
        };
        if decision == Decision::AllowAlways {
            self.always.lock().insert(entry.tool.clone());
        }
        entry.abort.wake();
        Ok(self.publish_resolved(id, &entry, decision.as_str()))
    }

    fn publish_resolved(&self, id: &str, entry: &Pending, decision: &str) -> Value {
        let payload = json!({
            "id": id, "runId": entry.run_id, "sessionKey": entry.session_key, "tool": entry.tool,
            "decision": decision, "resolvedAtMs": unix_ms(),
        });
        let _ = self.bus.publish("approval:resolved", &payload);
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Arc<Approvals>, Arc<EventBus>) {
        let bus = Arc::new(EventBus::new(100));
        (Arc::new(Approvals::new(Arc::clone(&bus))), bus)
    }

    /// Wait on another thread; returns the join handle and the id the request got.
    fn ask(
        approvals: &Arc<Approvals>,
        bus: &EventBus,
        abort: &AbortHandle,
        tool: &'static str,
        timeout: Duration,
    ) -> (std::thread::JoinHandle<Outcome>, String) {
        let before = bus.last_id();
        let (a, h) = (Arc::clone(approvals), abort.clone());
        let t = std::thread::spawn(move || {
            let args = json!({});
            a.wait(&Request { run_id: "run_1", session_key: "s", tool, args: &args, abort: &h, timeout })
        });
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let requested =
                bus.recent(10).into_iter().filter(|e| e.id() > before).find(|e| e.name() == "approval:requested");
            if let Some(e) = requested {
                let v: Value = serde_json::from_slice(e.payload()).unwrap_or(Value::Null);
                return (t, v["id"].as_str().unwrap_or_default().to_owned());
            }
            assert!(Instant::now() < until, "no approval:requested");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn last_decision(bus: &EventBus) -> String {
        let e = bus.recent(1).pop().expect("an event");
        assert_eq!(e.name(), "approval:resolved");
        let v: Value = serde_json::from_slice(e.payload()).unwrap_or(Value::Null);
        v["decision"].as_str().unwrap_or_default().to_owned()
    }

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn allow_deny_and_a_second_resolve() {
        let (approvals, bus) = setup();
        let abort = AbortHandle::new();
        let (t, id) = ask(&approvals, &bus, &abort, "current_time", LONG);
        assert!(approvals.resolve(&id, Decision::AllowOnce).is_ok());
        assert_eq!(t.join().ok(), Some(Outcome::Allowed(Decision::AllowOnce)));
        assert_eq!(last_decision(&bus), "allow-once");
        assert!(matches!(approvals.resolve(&id, Decision::Deny), Err(GatewayError::ApprovalNotFound(_))));
        assert_eq!(approvals.pending(), 0);

        let (t, id) = ask(&approvals, &bus, &abort, "current_time", LONG);
        assert!(approvals.resolve(&id, Decision::Deny).is_ok());
        assert_eq!(t.join().ok(), Some(Outcome::Denied));
        assert_eq!(approvals.pending(), 0);
    }

    #[test]
    fn timeout_and_abort_publish_their_own_resolution() {
        let (approvals, bus) = setup();
        let abort = AbortHandle::new();
        let (t, id) = ask(&approvals, &bus, &abort, "current_time", Duration::from_millis(30));
        assert_eq!(t.join().ok(), Some(Outcome::TimedOut));
        assert_eq!(last_decision(&bus), "timeout");
        assert!(approvals.resolve(&id, Decision::AllowOnce).is_err(), "too late");

        let (t, _) = ask(&approvals, &bus, &abort, "current_time", LONG);
        abort.abort();
        assert_eq!(t.join().ok(), Some(Outcome::Aborted));
        assert_eq!(last_decision(&bus), "aborted");
        assert_eq!(approvals.pending(), 0);
    }

    #[test]
    fn allow_always_is_remembered_for_that_tool_only() {
        let (approvals, bus) = setup();
        let abort = AbortHandle::new();
        let (t, id) = ask(&approvals, &bus, &abort, "current_time", LONG);
        assert!(approvals.resolve(&id, Decision::AllowAlways).is_ok());
        assert_eq!(t.join().ok(), Some(Outcome::Allowed(Decision::AllowAlways)));
        let args = json!({});
        let again =
            Request { run_id: "r", session_key: "s", tool: "current_time", args: &args, abort: &abort, timeout: LONG };
        assert_eq!(approvals.wait(&again), Outcome::Allowed(Decision::AllowAlways), "no second prompt");
        let other = Request { tool: "other", timeout: Duration::from_millis(1), ..again };
        assert_eq!(approvals.wait(&other), Outcome::TimedOut);
    }

    #[test]
    fn the_table_is_bounded() {
        let (approvals, bus) = setup();
        let abort = AbortHandle::new();
        let mut waits = Vec::new();
        for _ in 0..MAX_PENDING_APPROVALS {
            waits.push(ask(&approvals, &bus, &abort, "current_time", LONG).0);
        }
        let args = json!({});
        let one_more =
            Request { run_id: "r", session_key: "s", tool: "current_time", args: &args, abort: &abort, timeout: LONG };
        assert_eq!(approvals.wait(&one_more), Outcome::Saturated);
        abort.abort();
        for t in waits {
            assert_eq!(t.join().ok(), Some(Outcome::Aborted));
        }
        assert_eq!(approvals.pending(), 0);
    }

    #[test]
    fn decisions_and_aliases() {
        for (text, d) in [
            ("allow-once", Decision::AllowOnce),
            ("approve", Decision::AllowOnce),
            ("allow-always", Decision::AllowAlways),
            ("deny", Decision::Deny),
            ("reject", Decision::Deny),
        ] {
            assert_eq!(Decision::parse(text), Some(d), "{text}");
        }
        assert_eq!(Decision::parse("maybe"), None);
        assert_eq!(Decision::parse("Allow-Once"), None, "spellings are exact");
    }
}
