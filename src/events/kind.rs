//! The event catalogue: every event name that may go on the bus, its category and the scope a
//! subscriber needs to receive it.
//!
//! Guarantees: [`CATALOGUE`] is the only source of event names (the bus refuses any other), it
//! is sorted by name so [`lookup`] is a binary search, every name is `category:snake_case` in
//! `[a-z_:]` (so it can be written into SSE and JSON without escaping), and the scope of an
//! event follows from its category alone ([`Category::scope`]). `proto/events.json` is the same
//! table for clients; a unit test keeps the two in step.

use crate::auth::scope::Scope;

/// The part of an event name before the `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Chat messages in and out, and streaming deltas.
    Message,
    /// Session and sub-agent lifecycle.
    Session,
    /// Audit trail entries.
    Audit,
    /// Prompt-injection and other security findings.
    Security,
    /// Secret access and changes.
    Secret,
    /// Skill execution and registry changes.
    Skill,
    /// Metrics and token usage.
    Observability,
    /// Cron jobs and heartbeats.
    Scheduler,
    /// Tool-call approvals.
    Approval,
    /// Agent graph runs.
    Graph,
    /// Configuration changes.
    Config,
    /// Channel health and billing snapshots.
    Diagnostic,
    /// Model catalogue and fallbacks.
    Model,
    /// LLM provider health.
    Provider,
    /// Agents added or removed at run time.
    Agent,
    /// Messaging channels registered or removed.
    Channel,
    /// Process lifecycle and errors.
    System,
    /// An agent turn's stream: deltas and its end (OpenClaw's and Human's `chat` event).
    Chat,
}

impl Category {
    /// The name prefix (before the `:`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Session => "session",
            Self::Audit => "audit",
            Self::Security => "security",
            Self::Secret => "secret",
            Self::Skill => "skill",
            Self::Observability => "observability",
            Self::Scheduler => "scheduler",
            Self::Approval => "approval",
            Self::Graph => "graph",
            Self::Config => "config",
            Self::Diagnostic => "diagnostic",
            Self::Model => "model",
            Self::Provider => "provider",
            Self::Agent => "agent",
            Self::Channel => "channel",
            Self::System => "system",
            Self::Chat => "chat",
        }
    }

    /// The scope a subscriber must satisfy to receive events of this category. Security,
    /// secrets, config, audit, observability and diagnostics can reveal other users' data or
    /// the deployment's weak spots, so they are admin-only; everything else is what an `rpc`
    /// client (the dashboard) works with.
    #[must_use]
    pub const fn scope(self) -> Scope {
        match self {
            Self::Audit | Self::Security | Self::Secret | Self::Config | Self::Observability | Self::Diagnostic => {
                Scope::Admin
            }
            Self::Message
            | Self::Session
            | Self::Skill
            | Self::Scheduler
            | Self::Approval
            | Self::Graph
            | Self::Model
            | Self::Provider
            | Self::Agent
            | Self::Channel
            | Self::System
            | Self::Chat => Scope::Rpc,
        }
    }
}

/// Where a name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Listed by the Comis gateway reference (SSE `/api/events` categories).
    Comis,
    /// Talon's own.
    Talon,
    /// OpenClaw's `chat` event (`state` delta, final, aborted, error).
    OpenClaw,
    /// Human's `chat` event (`state` chunk).
    Human,
}

impl Origin {
    /// The spelling in `proto/events.json`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Comis => "comis",
            Self::Talon => "talon",
            Self::OpenClaw => "openclaw",
            Self::Human => "human",
        }
    }
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKind {
    /// The wire name, e.g. `message:received`.
    pub name: &'static str,
    /// The category (the name's prefix).
    pub category: Category,
    /// Who defined it.
    pub origin: Origin,
}

impl EventKind {
    /// The scope a subscriber needs to receive this event.
    #[must_use]
    pub const fn scope(&self) -> Scope {
        self.category.scope()
    }
}

const fn comis(name: &'static str, category: Category) -> EventKind {
    EventKind { name, category, origin: Origin::Comis }
}

const fn talon(name: &'static str, category: Category) -> EventKind {
    EventKind { name, category, origin: Origin::Talon }
}

const fn openclaw(name: &'static str) -> EventKind {
    EventKind { name, category: Category::Chat, origin: Origin::OpenClaw }
}

use Category as C;

/// Every event name, sorted by name (byte order).
pub const CATALOGUE: &[EventKind] = &[
    comis("agent:hot_added", C::Agent),
    comis("agent:hot_removed", C::Agent),
    comis("approval:requested", C::Approval),
    comis("approval:resolved", C::Approval),
    comis("audit:event", C::Audit),
    comis("channel:deregistered", C::Channel),
    comis("channel:registered", C::Channel),
    openclaw("chat:aborted"),
    EventKind { name: "chat:chunk", category: C::Chat, origin: Origin::Human },
    openclaw("chat:delta"),
    openclaw("chat:error"),
    openclaw("chat:final"),
    comis("config:patched", C::Config),
    comis("diagnostic:billing_snapshot", C::Diagnostic),
    comis("diagnostic:channel_health", C::Diagnostic),
    comis("graph:completed", C::Graph),
    comis("graph:node_updated", C::Graph),
    comis("graph:started", C::Graph),
    comis("message:received", C::Message),
    comis("message:sent", C::Message),
    comis("message:streaming", C::Message),
    comis("model:auth_cooldown", C::Model),
    comis("model:catalog_loaded", C::Model),
    comis("model:fallback_attempt", C::Model),
    comis("model:fallback_exhausted", C::Model),
    comis("observability:metrics", C::Observability),
    comis("observability:reset", C::Observability),
    comis("observability:token_usage", C::Observability),
    comis("provider:degraded", C::Provider),
    comis("provider:recovered", C::Provider),
    comis("scheduler:heartbeat_alert", C::Scheduler),
    comis("scheduler:heartbeat_check", C::Scheduler),
    comis("scheduler:heartbeat_delivered", C::Scheduler),
    comis("scheduler:job_completed", C::Scheduler),
    comis("scheduler:job_started", C::Scheduler),
    comis("secret:accessed", C::Secret),
    comis("secret:modified", C::Secret),
    comis("security:injection_detected", C::Security),
    comis("security:injection_rate_exceeded", C::Security),
    comis("security:memory_tainted", C::Security),
    comis("security:warn", C::Security),
    comis("session:created", C::Session),
    comis("session:expired", C::Session),
    comis("session:sub_agent_archived", C::Session),
    comis("session:sub_agent_completed", C::Session),
    comis("session:sub_agent_lifecycle_ended", C::Session),
    comis("session:sub_agent_spawn_queued", C::Session),
    comis("session:sub_agent_spawn_rejected", C::Session),
    comis("session:sub_agent_spawn_started", C::Session),
    comis("session:sub_agent_spawned", C::Session),
    comis("skill:executed", C::Skill),
    comis("skill:loaded", C::Skill),
    comis("skill:registry_reset", C::Skill),
    comis("skill:rejected", C::Skill),
    comis("system:error", C::System),
    talon("system:shutdown", C::System),
    talon("system:startup", C::System),
];

/// The names an event goes out under on `/ws`: the `event` of a `req`/`res` frame and the
/// `method` of a JSON-RPC notification. The `chat:*` events are the seeds' `chat` event
/// (the payload's `state` tells them apart); Human's chunks reach JSON-RPC clients as
/// `chat.chunk`. The approval events reach the `req`/`res` dialect under OpenClaw's names
/// (`exec.approval.requested`, `exec.approval.resolved`) and JSON-RPC clients under Comis's.
/// Every other event keeps its name.
#[must_use]
pub fn ws_names(name: &str) -> (&str, &str) {
    match name {
        "chat:chunk" => ("chat", "chat.chunk"),
        "approval:requested" => ("exec.approval.requested", "approval:requested"),
        "approval:resolved" => ("exec.approval.resolved", "approval:resolved"),
        n if n.starts_with("chat:") => ("chat", "chat"),
        n => (n, n),
    }
}

/// The catalogue entry for `name`, or `None` if it is not an event name.
#[must_use]
pub fn lookup(name: &str) -> Option<&'static EventKind> {
    CATALOGUE.binary_search_by(|k| k.name.cmp(name)).ok().and_then(|i| CATALOGUE.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_sorted_unique_and_well_formed() {
        for pair in CATALOGUE.windows(2) {
            if let [a, b] = pair {
                assert!(a.name < b.name, "{} must sort before {}", a.name, b.name);
            }
        }
        for k in CATALOGUE {
            let (prefix, rest) = k.name.split_once(':').unwrap_or_else(|| panic!("{} has no ':'", k.name));
            assert_eq!(prefix, k.category.as_str(), "{}: category", k.name);
            assert!(!rest.is_empty() && !rest.contains(':'), "{}", k.name);
            assert!(k.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b':'), "{}", k.name);
            assert_eq!(lookup(k.name), Some(k));
        }
        assert_eq!(CATALOGUE.len(), 57);
        assert_eq!(CATALOGUE.iter().filter(|k| k.origin == Origin::Comis).count(), 50);
    }

    #[test]
    fn scope_rule() {
        let admin = ["audit:event", "security:warn", "secret:accessed", "config:patched", "observability:metrics"];
        let admin = admin.iter().chain(&["diagnostic:channel_health"]);
        for name in admin {
            assert_eq!(lookup(name).map(EventKind::scope), Some(Scope::Admin), "{name}");
        }
        let rpc = [
            "message:sent",
            "session:created",
            "skill:loaded",
            "scheduler:job_started",
            "approval:requested",
            "graph:started",
            "model:catalog_loaded",
            "provider:degraded",
            "agent:hot_added",
            "channel:registered",
            "system:error",
            "system:startup",
        ];
        for name in rpc {
            assert_eq!(lookup(name).map(EventKind::scope), Some(Scope::Rpc), "{name}");
        }
    }

    #[test]
    fn ws_names_of_chat_and_approvals() {
        assert_eq!(ws_names("chat:delta"), ("chat", "chat"));
        assert_eq!(ws_names("chat:chunk"), ("chat", "chat.chunk"));
        assert_eq!(ws_names("approval:requested"), ("exec.approval.requested", "approval:requested"));
        assert_eq!(ws_names("approval:resolved"), ("exec.approval.resolved", "approval:resolved"));
        assert_eq!(ws_names("message:received"), ("message:received", "message:received"));
    }

    #[test]
    fn unknown_names() {
        for name in ["", "message", "message:", "Message:sent", "message:sent ", "ping", "token", "x:y", "zzz:zzz"] {
            assert_eq!(lookup(name), None, "{name:?}");
        }
    }

    /// `proto/events.json` is the published form of [`CATALOGUE`]; they must list the same
    /// names, in the same order, with the same category, scope and origin.
    #[test]
    fn proto_events_json_matches_the_catalogue() {
        let text = include_str!("../../proto/events.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("proto/events.json: {e}"));
        let rows = doc.get("events").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
        let file: Vec<(String, String, String, String)> = rows
            .iter()
            .map(|r| {
                let s = |k: &str| r.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
                (s("name"), s("category"), s("scope"), s("origin"))
            })
            .collect();
        let table: Vec<(String, String, String, String)> = CATALOGUE
            .iter()
            .map(|k| {
                let scope = k.scope().as_str().to_owned();
                (k.name.to_owned(), k.category.as_str().to_owned(), scope, k.origin.as_str().to_owned())
            })
            .collect();
        assert_eq!(file, table, "proto/events.json and events::kind::CATALOGUE disagree");
    }
}
