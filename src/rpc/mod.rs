//! The one RPC method registry, shared by both `/ws` dialects (`req`/`res` frames and
//! JSON-RPC 2.0).
//!
//! Guarantees:
//! - A method is either in [`METHODS`] or answered "unknown method" (-32601); nothing is
//!   faked. `proto/rpc/methods.json` lists the same methods with their scopes, and a test
//!   fails if the catalogue, this table and `hello-ok` disagree.
//! - The scope check happens here, before the handler: a socket that has not authenticated
//!   reaches only public methods; a token without the scope gets -32003 / `FORBIDDEN`.
//! - Handlers marked [`Exec::Worker`] may take more than microseconds and run on the worker
//!   pool; inline ones do bounded work on the loop.

pub mod chat;
pub mod dispatch;
mod methods;
mod tools;

use serde_json::value::RawValue;

use crate::app::App;
use crate::auth::{Scope, ScopeSet};
use crate::error::GatewayError;

/// Where a method runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exec {
    /// On the event loop.
    Inline,
    /// On the worker pool.
    Worker,
}

/// What a handler sees.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Shared state.
    pub app: &'a App,
    /// The connection id.
    pub conn_id: u64,
    /// What the socket may do; `None` before in-band authentication. Handlers of `connect`
    /// and `auth.token` set it.
    pub scopes: Option<ScopeSet>,
    /// The client's address, for the failed-auth limiter.
    pub client: std::net::IpAddr,
}

/// A handler: params in, the JSON payload of the result out.
pub type Handler = fn(&mut Ctx<'_>, Option<&RawValue>) -> Result<Vec<u8>, GatewayError>;

/// One registered method.
#[derive(Debug, Clone, Copy)]
pub struct Method {
    /// The wire name.
    pub name: &'static str,
    /// Required scope; `None` for methods open before authentication.
    pub scope: Option<Scope>,
    /// Where it runs.
    pub exec: Exec,
    /// The handler.
    pub handler: Handler,
}

const fn m(name: &'static str, scope: Option<Scope>, exec: Exec, handler: Handler) -> Method {
    Method { name, scope, exec, handler }
}

/// Every implemented method. Other methods arrive with the subsystems that implement them.
pub static METHODS: &[Method] = &[
    m("connect", None, Exec::Inline, methods::connect),
    m("auth.token", None, Exec::Inline, methods::auth_token),
    m("health", None, Exec::Inline, methods::health),
    m("system.ping", None, Exec::Inline, methods::ping),
    m("capabilities", None, Exec::Inline, methods::capabilities),
    m("status", Some(Scope::Read), Exec::Inline, methods::status),
    m("config.get", Some(Scope::Admin), Exec::Worker, methods::config_get),
    m("config.schema", Some(Scope::Admin), Exec::Worker, methods::config_schema),
    m("models.list", Some(Scope::Rpc), Exec::Inline, chat::models_list),
    m("channels.status", Some(Scope::Rpc), Exec::Inline, methods::channels_status),
    m("usage.summary", Some(Scope::Rpc), Exec::Worker, chat::usage_summary),
    m("activity.recent", Some(Scope::Rpc), Exec::Inline, methods::activity_recent),
    m("inbox.list", Some(Scope::Admin), Exec::Worker, methods::inbox_list),
    m("inbox.replay", Some(Scope::Admin), Exec::Worker, methods::inbox_replay),
    m("inbox.ack", Some(Scope::Rpc), Exec::Worker, methods::inbox_ack),
    m("chat.send", Some(Scope::Rpc), Exec::Worker, chat::chat_send),
    m("chat.history", Some(Scope::Rpc), Exec::Worker, chat::chat_history),
    m("chat.abort", Some(Scope::Rpc), Exec::Worker, chat::chat_abort),
    m("sessions.list", Some(Scope::Rpc), Exec::Worker, chat::sessions_list),
    m("sessions.patch", Some(Scope::Rpc), Exec::Worker, chat::sessions_patch),
    m("sessions.delete", Some(Scope::Admin), Exec::Worker, chat::sessions_delete),
    m("agent.execute", Some(Scope::Rpc), Exec::Worker, chat::agent_execute),
    m("tools.catalog", Some(Scope::Rpc), Exec::Inline, tools::tools_catalog),
    m("exec.approval.resolve", Some(Scope::Admin), Exec::Inline, tools::exec_approval_resolve),
];

/// Find a method by its wire name.
#[must_use]
pub fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

/// Check the caller may call `method`.
///
/// # Errors
/// Unauthenticated on a guarded method, or lacking its scope.
pub fn authorize(method: &Method, scopes: Option<ScopeSet>) -> Result<(), GatewayError> {
    let Some(required) = method.scope else { return Ok(()) };
    match scopes {
        None => Err(GatewayError::Unauthorized {
            reason: "authentication required: call connect with params.auth.token, or auth.token",
        }),
        Some(s) if s.satisfies(required) => Ok(()),
        Some(_) => Err(GatewayError::InsufficientScope { required }),
    }
}

/// Look up, authorize and run a method here and now.
///
/// # Errors
/// Unknown method, refused by scope, or the handler's own error.
pub fn call(ctx: &mut Ctx<'_>, name: &str, params: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let method = find(name).ok_or_else(|| GatewayError::UnknownMethod(name.to_owned()))?;
    authorize(method, ctx.scopes)?;
    (method.handler)(ctx, params)
}

pub use methods::{activity_json, activity_limit, hello_payload};

/// Protocol number announced in `hello-ok` (the Human seed's).
pub const PROTOCOL_VERSION: u32 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue in `proto/`, the registry and `hello-ok` must list the same methods.
    #[test]
    fn catalogue_matches_registry() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../proto/rpc/methods.json")).expect("catalogue is JSON");
        assert_eq!(doc["protocol"], PROTOCOL_VERSION);
        let entries = doc["methods"].as_array().expect("methods array");
        let names: Vec<&str> = entries.iter().filter_map(|e| e["name"].as_str()).collect();
        let registry: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        assert_eq!(names, registry, "proto/rpc/methods.json and METHODS differ");
        for (entry, method) in entries.iter().zip(METHODS) {
            assert_eq!(entry["scope"].as_str(), method.scope.map(Scope::as_str), "scope of {}", method.name);
            let exec = if method.exec == Exec::Worker { "worker" } else { "inline" };
            assert_eq!(entry["execution"], exec, "execution of {}", method.name);
            assert!(entry["params"].is_object() && entry["result"].is_object(), "schemas of {}", method.name);
        }
        let names_unique: std::collections::BTreeSet<&str> = registry.iter().copied().collect();
        assert_eq!(names_unique.len(), registry.len(), "duplicate method names");
    }
}
