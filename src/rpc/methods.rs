//! The handlers of the control-plane methods (the chat, session and usage methods are in
//! [`super::chat`]; cron and the rest arrive with their subsystems).
//!
//! Guarantees: parameters are parsed into typed structs that refuse unknown fields where
//! the seed systems do, and a bad one is -32602 with the reason; nothing a handler returns
//! contains a secret (`config.get` shows `"***"` for every set secret).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{Ctx, METHODS, PROTOCOL_VERSION};
use crate::auth::ScopeSet;
use crate::error::GatewayError;
use crate::webhook::Channel;

pub(super) fn params<T: for<'de> Deserialize<'de> + Default>(raw: Option<&RawValue>) -> Result<T, GatewayError> {
    match raw {
        None => Ok(T::default()),
        Some(r) if r.get() == "null" => Ok(T::default()),
        Some(r) => serde_json::from_str(r.get()).map_err(|e| GatewayError::InvalidParams(e.to_string())),
    }
}

pub(super) fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec())
}

use crate::app::unix_ms;

fn scope_names(scopes: Option<ScopeSet>) -> Vec<&'static str> {
    use crate::auth::Scope;
    let Some(s) = scopes else { return Vec::new() };
    [Scope::Admin, Scope::Rpc, Scope::Read, Scope::Webhook, Scope::McpClient]
        .into_iter()
        .filter(|x| s.contains(*x))
        .map(Scope::as_str)
        .collect()
}

/// Every event a socket can receive: the socket's own frames, then the bus catalogue.
fn event_names() -> Vec<&'static str> {
    let mut names = vec!["hello-ok", "tick", "heartbeat"];
    names.extend(crate::events::CATALOGUE.iter().map(|k| k.name));
    names
}

/// Largest `limit` of `activity.recent` (as `/api/activity`).
pub const MAX_ACTIVITY_LIMIT: usize = 100;
/// Default `limit` of `activity.recent`.
pub const DEFAULT_ACTIVITY_LIMIT: usize = 50;

/// The `hello-ok` payload: sent when a socket opens and answered to `connect`.
#[must_use]
pub fn hello_payload(ctx: &Ctx<'_>) -> Value {
    let ws = &ctx.app.settings.config.gateway.ws;
    let methods: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
    json!({
        "type": "hello-ok",
        "protocol": PROTOCOL_VERSION,
        "server": { "name": "talon", "version": env!("CARGO_PKG_VERSION"), "connId": format!("{:x}", ctx.conn_id) },
        "features": {
            "methods": methods,
            "events": event_names(),
            "dialects": ["req/res", "jsonrpc-2.0"],
            "sessions": true,
            "cron": false,
            "skills": false,
            "cost_tracking": true,
        },
        "auth": { "authenticated": ctx.scopes.is_some(), "scopes": scope_names(ctx.scopes) },
        "policy": {
            "maxPayload": ws.max_message_bytes,
            "maxBufferedBytes": ws.max_outbound_bytes,
            "tickIntervalMs": ws.ping_interval_ms,
            "maxBatchSize": ctx.app.settings.config.gateway.max_batch_size,
            "messageRateLimit": { "maxMessages": ws.message_rate_limit.max_messages, "windowMs": ws.message_rate_limit.window_ms },
        },
    })
}

#[derive(Deserialize, Default)]
struct ConnectParams {
    auth: Option<ConnectAuth>,
    #[serde(rename = "minProtocol")]
    min_protocol: Option<u32>,
    #[serde(rename = "maxProtocol")]
    max_protocol: Option<u32>,
}

#[derive(Deserialize, Default)]
struct ConnectAuth {
    token: Option<String>,
}

/// Check a token presented in-band and adopt its scopes. Guessing goes through the same
/// failed-auth lockout as HTTP, and the token must hold the scope `/ws` needs over HTTP.
fn adopt_token(ctx: &mut Ctx<'_>, token: &str) -> Result<(), GatewayError> {
    use crate::auth::Scope;
    use crate::auth::limiter::Verdict;
    let now = std::time::Instant::now();
    if let Verdict::Deny { retry_after, .. } = ctx.app.auth_limiter.lock().check(ctx.client, now) {
        return Err(GatewayError::AuthLockedOut { retry_after });
    }
    match ctx.app.settings.auth.tokens.authenticate(token.as_bytes()) {
        Some(entry) if entry.scopes.satisfies(Scope::Read) => {
            ctx.scopes = Some(entry.scopes);
            Ok(())
        }
        Some(_) => Err(GatewayError::InsufficientScope { required: Scope::Read }),
        None => {
            let _ = ctx.app.auth_limiter.lock().record_failure(ctx.client, now);
            Err(GatewayError::Unauthorized { reason: "invalid token" })
        }
    }
}

pub(super) fn connect(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let p: ConnectParams = params(raw)?;
    if p.min_protocol.is_some_and(|v| v > PROTOCOL_VERSION) || p.max_protocol.is_some_and(|v| v < PROTOCOL_VERSION) {
        return Err(GatewayError::InvalidParams(format!("this server speaks protocol {PROTOCOL_VERSION}")));
    }
    if let Some(token) = p.auth.and_then(|a| a.token) {
        adopt_token(ctx, &token)?;
    }
    Ok(to_vec(&hello_payload(ctx)))
}

#[derive(Deserialize, Default)]
struct TokenParams {
    token: String,
}

pub(super) fn auth_token(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let p: TokenParams = params(raw)?;
    if p.token.is_empty() {
        return Err(GatewayError::InvalidParams("params.token is required".into()));
    }
    adopt_token(ctx, &p.token)?;
    Ok(to_vec(&json!({ "ok": true, "scopes": scope_names(ctx.scopes) })))
}

pub(super) fn health(_: &mut Ctx<'_>, _: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(b"{\"status\":\"ok\",\"ts\":");
    crate::protocol::http1::response::push_u64(&mut out, unix_ms());
    out.push(b'}');
    Ok(out)
}

pub(super) fn ping(_: &mut Ctx<'_>, _: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(b"{\"pong\":true,\"ts\":");
    crate::protocol::http1::response::push_u64(&mut out, unix_ms());
    out.push(b'}');
    Ok(out)
}

pub(super) fn capabilities(ctx: &mut Ctx<'_>, _: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let hello = hello_payload(ctx);
    Ok(to_vec(&json!({
        "protocol": PROTOCOL_VERSION,
        "features": hello.get("features"),
        "policy": hello.get("policy"),
        "transports": ["websocket", "sse"],
    })))
}

pub(super) fn status(ctx: &mut Ctx<'_>, _: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let app = ctx.app;
    Ok(to_vec(&json!({
        "status": if app.shutting_down() { "draining" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "uptimeMs": u64::try_from(app.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "startedAt": app.started_unix_ms,
        "connections": app.connections(),
        "websocket": true,
        "websockets": app.ws_connections.load(std::sync::atomic::Ordering::Relaxed),
        "events": { "lastId": app.bus.last_id() },
        "workers": { "busy": app.pool.busy(), "queued": app.pool.depth(), "capacity": app.pool.capacity() },
    })))
}

/// Key names whose values are secrets, wherever they appear in the config.
const SECRET_KEYS: &[&str] = &[
    "auth_token",
    "token",
    "secret",
    "webhook_hmac_secret",
    "bot_token",
    "secret_token",
    "signing_secret",
    "app_secret",
    "verify_token",
    "access_token",
    "channel_secret",
    "channel_access_token",
    "verification_token",
    "encrypt_key",
    "api_key",
    "standard_webhooks_secret",
    "password",
];

/// Replace every set secret with `"***"` (an unset one stays `null`).
fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if SECRET_KEYS.contains(&k.as_str()) && !val.is_null() {
                    *val = Value::String("***".into());
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigGetParams {
    /// Dot path of a section, e.g. `gateway.ws`.
    path: Option<String>,
}

pub(super) fn config_get(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let p: ConfigGetParams = params(raw)?;
    let mut config = serde_json::to_value(&ctx.app.settings.config)
        .map_err(|e| GatewayError::Internal(format!("config does not serialize: {e}")))?;
    redact(&mut config);
    let value = match p.path.as_deref().filter(|s| !s.is_empty()) {
        None => config,
        Some(path) => path
            .split('.')
            .try_fold(&config, |v, key| v.get(key))
            .cloned()
            .ok_or_else(|| GatewayError::InvalidParams(format!("no config key {path:?}")))?,
    };
    Ok(to_vec(&json!({ "config": value, "path": p.path })))
}

/// A JSON Schema (draft 2020-12) of the config file, derived from the defaults: every key
/// with its type and default value; objects refuse unknown keys as the loader does.
fn schema_of(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let props: serde_json::Map<String, Value> = map.iter().map(|(k, v)| (k.clone(), schema_of(v))).collect();
            json!({ "type": "object", "properties": props, "additionalProperties": false })
        }
        Value::Array(_) => json!({ "type": "array", "default": v }),
        Value::String(_) => json!({ "type": "string", "default": v }),
        Value::Bool(_) => json!({ "type": "boolean", "default": v }),
        Value::Number(n) if n.is_f64() => json!({ "type": "number", "default": v }),
        Value::Number(_) => json!({ "type": "integer", "default": v }),
        Value::Null => json!({ "default": null }),
    }
}

pub(super) fn config_schema(_: &mut Ctx<'_>, _: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let defaults = serde_json::to_value(crate::config::Config::default())
        .map_err(|e| GatewayError::Internal(format!("config does not serialize: {e}")))?;
    let mut schema = schema_of(&defaults);
    if let Value::Object(map) = &mut schema {
        map.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
        map.insert("title".into(), json!("Talon configuration"));
    }
    // Maps keyed by names the user chooses (providers, models) cannot list their properties.
    for open in ["/properties/providers", "/properties/agent/properties/prices"] {
        if let Some(p) = schema.pointer_mut(open) {
            *p = json!({ "type": "object" });
        }
    }
    // "all" or a list of names: the default alone would say only a string.
    if let Some(p) = schema.pointer_mut("/properties/agent/properties/tools/properties/enabled") {
        *p = json!({ "oneOf": [{ "const": "all" }, { "type": "array", "items": { "type": "string" } }], "default": "all" });
    }
    Ok(to_vec(&json!({ "schema": schema })))
}

pub(super) fn channels_status(ctx: &mut Ctx<'_>, _: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let ingest = &ctx.app.settings.ingest;
    let list: Vec<Value> = Channel::ALL
        .iter()
        .map(|&channel| {
            let (enabled, verification) = match channel {
                Channel::Generic => (true, if ingest.generic_secret.is_some() { "x-signature" } else { "unsigned" }),
                Channel::Hooks => match &ingest.hooks {
                    None => (false, "none"),
                    Some(h) if h.standard_secret.is_some() => (true, "standard-webhooks"),
                    Some(_) => (true, "hmac"),
                },
                _ => match ingest.channel(channel) {
                    None => (false, "none"),
                    Some(c) if c.native.is_some() => (true, "native"),
                    Some(_) if ingest.generic_secret.is_some() => (true, "x-signature"),
                    Some(_) => (true, "unsigned"),
                },
            };
            let s = ctx.app.ingest_stats.snapshot(channel);
            json!({
                "channel": channel.name(), "enabled": enabled, "verification": verification,
                "verificationConfigured": verification != "none" && verification != "unsigned",
                "received": s.received, "duplicates": s.duplicates, "challenges": s.challenges,
                "rejected": s.rejected,
                "lastDeliveryMs": (s.last_delivery_ms > 0).then_some(s.last_delivery_ms),
                "outbound": ctx.app.outbound.stats().snapshot(channel).to_json(),
                "replies": ctx.app.channel_turns.answers(channel),
                "turns": ctx.app.channel_turns.stats().snapshot(channel).to_json(),
            })
        })
        .collect();
    Ok(to_vec(&json!({ "channels": list })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActivityParams {
    limit: Option<usize>,
}

/// Check an activity `limit` (1–100, default 50).
///
/// # Errors
/// Out of range.
pub fn activity_limit(limit: Option<usize>) -> Result<usize, GatewayError> {
    match limit {
        None => Ok(DEFAULT_ACTIVITY_LIMIT),
        Some(n) if (1..=MAX_ACTIVITY_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(GatewayError::InvalidParams(format!("limit {n} is outside 1..={MAX_ACTIVITY_LIMIT}"))),
    }
}

/// The newest `limit` events as a JSON array, oldest first.
#[must_use]
pub fn activity_json(app: &crate::app::App, limit: usize) -> Vec<u8> {
    let events = app.bus.recent(limit);
    let items: Vec<&[u8]> = events.iter().map(|e| e.activity()).collect();
    let mut out = Vec::with_capacity(16 + items.iter().map(|i| i.len() + 1).sum::<usize>());
    out.extend_from_slice(b"{\"events\":");
    crate::protocol::jsonrpc::encode_batch(&items, &mut out);
    out.push(b'}');
    out
}

pub(super) fn activity_recent(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let p: ActivityParams = params(raw)?;
    Ok(activity_json(ctx.app, activity_limit(p.limit)?))
}

pub(super) fn inbox_list(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let p: crate::webhook::inbox::ListParams = params(raw)?;
    Ok(to_vec(&crate::webhook::inbox::list(ctx.app, &p)?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReplayParams {
    id: i64,
}

pub(super) fn inbox_ack(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let raw = raw.filter(|r| r.get() != "null").ok_or_else(|| GatewayError::InvalidParams("missing params".into()))?;
    let p: crate::webhook::inbox::AckParams =
        serde_json::from_str(raw.get()).map_err(|e| GatewayError::InvalidParams(e.to_string()))?;
    Ok(to_vec(&crate::webhook::inbox::ack(ctx.app, p)?))
}

pub(super) fn inbox_replay(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    if raw.is_none_or(|r| r.get() == "null") {
        return Err(GatewayError::InvalidParams("missing field `id`".into()));
    }
    let p: ReplayParams = params(raw)?;
    Ok(to_vec(&crate::webhook::inbox::replay(ctx.app, p.id)?))
}
