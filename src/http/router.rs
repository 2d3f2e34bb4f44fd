//! The route table: which path is which route, which methods and scope it needs, and
//! whether it runs inline on the event loop or on the worker pool.
//!
//! Guarantees: lookup is an exact match on the path (one trailing slash tolerated, as
//! Human does); a known path with the wrong method is a 405 with `Allow`, an unknown
//! path a 404. Health routes need no auth and are exempt from rate limits.

use crate::auth::Scope;
use crate::webhook::Channel;

/// Every route, also used as the metrics label index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    /// `GET /health`
    Health,
    /// `GET /api/health`
    ApiHealth,
    /// `GET /healthz`
    Healthz,
    /// `GET /ready`, `/readyz`
    Ready,
    /// `GET /` (redirect to the Control UI)
    Root,
    /// `GET /api/version`
    Version,
    /// `GET /metrics`
    Metrics,
    /// `/debug/echo` (debug routes only): the parsed request as JSON, on the worker pool.
    DebugEcho,
    /// `/debug/sleep?ms=` (debug routes only): holds a worker, for backpressure tests.
    DebugSleep,
    /// `GET /ws`: the WebSocket control plane (both RPC dialects, events).
    Ws,
    /// `GET /ws/echo` (`gateway.ws.test_echo` only): plain echo for Autobahn|Testsuite.
    WsEcho,
    /// `GET /api/events/live`: clawgo's live event WebSocket.
    EventsLive,
    /// `GET /api/logs/live`: clawgo's live log WebSocket.
    LogsLive,
    /// `GET /api/events`: the Server-Sent Events stream.
    Events,
    /// `GET /api/activity`: the event ring as JSON.
    Activity,
    /// `GET /api/logs/recent`: the newest log lines as JSON.
    LogsRecent,
    /// `POST /debug/publish` (debug routes only): publish test events, for the fan-out bench.
    DebugPublish,
    /// `POST /webhook`, `/webhook/<channel>`, Human's legacy `/telegram`, `/slack/events`,
    /// `/discord`, `/line`, `/lark`, `/whatsapp` (and WhatsApp's GET handshake).
    Webhook,
    /// `POST /hooks/webhook` (Comis).
    Hooks,
    /// `GET /api/inbox`: stored deliveries.
    Inbox,
    /// `GET /api/inbox/<id>`: one stored delivery.
    InboxEntry,
    /// `POST /api/inbox/<id>/replay`: dispatch a stored delivery again.
    InboxReplay,
    /// `POST /api/chat`: one agent turn, answered when it ends.
    Chat,
    /// `GET /api/chat/history`: a session's (or a channel's) messages.
    ChatHistory,
    /// `GET /api/sessions`: the stored sessions.
    Sessions,
    /// `GET /api/agents`: the configured agents.
    Agents,
    /// `GET /v1/models`: the OpenAI-compatible model list.
    V1Models,
    /// `GET /v1/models/{id}`: one model (the id may contain `/`).
    V1Model,
    /// `POST /v1/chat/completions`: one stateless agent turn, OpenAI's shapes (streamed with
    /// `"stream": true`).
    V1ChatCompletions,
    /// `GET /api/chat/stream?message=`: one agent turn as Comis's `token`/`done` SSE.
    ChatStream,
    /// `GET /api/chat/live`: clawgo's chat WebSocket.
    ChatLive,
    /// `POST /v1/responses`: one stateless agent turn, OpenAI's Responses API (streamed or not).
    V1Responses,
    /// `POST /v1/embeddings`: vectors from the built-in model or the configured upstream.
    V1Embeddings,
    /// No route matched.
    Unmatched,
    /// The request could not be parsed.
    Invalid,
}

/// Number of [`RouteId`] values.
pub const ROUTE_COUNT: usize = 35;

impl RouteId {
    /// All routes in label order.
    pub const ALL: [Self; ROUTE_COUNT] = [
        Self::Health,
        Self::ApiHealth,
        Self::Healthz,
        Self::Ready,
        Self::Root,
        Self::Version,
        Self::Metrics,
        Self::DebugEcho,
        Self::DebugSleep,
        Self::Ws,
        Self::WsEcho,
        Self::EventsLive,
        Self::LogsLive,
        Self::Events,
        Self::Activity,
        Self::LogsRecent,
        Self::DebugPublish,
        Self::Webhook,
        Self::Hooks,
        Self::Inbox,
        Self::InboxEntry,
        Self::InboxReplay,
        Self::Chat,
        Self::ChatHistory,
        Self::Sessions,
        Self::Agents,
        Self::V1Models,
        Self::V1Model,
        Self::V1ChatCompletions,
        Self::ChatStream,
        Self::ChatLive,
        Self::V1Responses,
        Self::V1Embeddings,
        Self::Unmatched,
        Self::Invalid,
    ];

    /// The metrics label.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Health => "/health",
            Self::ApiHealth => "/api/health",
            Self::Healthz => "/healthz",
            Self::Ready => "/ready",
            Self::Root => "/",
            Self::Version => "/api/version",
            Self::Metrics => "/metrics",
            Self::DebugEcho => "/debug/echo",
            Self::DebugSleep => "/debug/sleep",
            Self::Ws => "/ws",
            Self::WsEcho => "/ws/echo",
            Self::EventsLive => "/api/events/live",
            Self::LogsLive => "/api/logs/live",
            Self::Events => "/api/events",
            Self::Activity => "/api/activity",
            Self::LogsRecent => "/api/logs/recent",
            Self::DebugPublish => "/debug/publish",
            Self::Webhook => "/webhook",
            Self::Hooks => "/hooks/webhook",
            Self::Inbox => "/api/inbox",
            Self::InboxEntry => "/api/inbox/:id",
            Self::InboxReplay => "/api/inbox/:id/replay",
            Self::Chat => "/api/chat",
            Self::ChatHistory => "/api/chat/history",
            Self::Sessions => "/api/sessions",
            Self::Agents => "/api/agents",
            Self::V1Models => "/v1/models",
            Self::V1Model => "/v1/models/{id}",
            Self::V1ChatCompletions => "/v1/chat/completions",
            Self::ChatStream => "/api/chat/stream",
            Self::ChatLive => "/api/chat/live",
            Self::V1Responses => "/v1/responses",
            Self::V1Embeddings => "/v1/embeddings",
            Self::Unmatched => "unmatched",
            Self::Invalid => "invalid",
        }
    }

    /// Index for per-route tables.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Where a route's handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// On the event loop: costs less than a hop to another thread.
    Inline,
    /// On the worker pool; a full queue is answered 503.
    Worker,
    /// The connection becomes a WebSocket of this kind (after the upgrade checks).
    WebSocket(WsKind),
    /// The connection becomes a Server-Sent Events stream.
    EventStream,
    /// A webhook of this channel: verified inline, acknowledged by the store writer.
    Ingest(Channel),
    /// An agent turn: the body is parsed inline, the turn runs on an agent thread, and the
    /// response comes back when it ends.
    Agent,
    /// `/v1/embeddings`: the body is parsed inline, the vectors are made on the worker pool
    /// (built-in model) or the embeddings pool (forwarded upstream), see `crate::embed`.
    Embeddings,
}

/// What a WebSocket route speaks once upgraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsKind {
    /// RPC in both dialects plus bus events.
    Rpc,
    /// Echo every message back (conformance testing only).
    Echo,
    /// clawgo's `/api/events/live`: `{"type":"ready"}`, then events.
    LiveEvents,
    /// clawgo's `/api/logs/live`: `log_entry` frames.
    LiveLogs,
    /// clawgo's `/api/chat/live`: a chat message in, `chat_chunk`/`chat_done` frames out.
    LiveChat,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// Which route.
    pub id: RouteId,
    /// Methods for the `Allow` header; HEAD is allowed wherever GET is.
    pub allow: &'static str,
    /// Required scope, or `None` for public routes.
    pub scope: Option<Scope>,
    /// Whether the per-IP rate limit applies.
    pub rate_limited: bool,
    /// Where it runs.
    pub execution: Execution,
    /// A request with no credential on a loopback bind may proceed unauthenticated; the
    /// connection then authenticates in-band (`connect` / `auth.token` on `/ws`).
    pub in_band_auth: bool,
}

/// Every method some route accepts (the answer to `OPTIONS *`).
pub const SERVER_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
const GET: &str = "GET, HEAD, OPTIONS";
const POST: &str = "POST, OPTIONS";
/// A GET that starts an agent turn: HEAD would start one too and show none of it.
const GET_NOT_HEAD: &str = "GET, OPTIONS";
const ANY: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
/// WhatsApp's endpoint also answers Meta's `GET` subscription handshake.
const GET_POST: &str = "GET, HEAD, POST, OPTIONS";

/// Find the route for `path`.
#[must_use]
pub fn lookup(path: &str, debug_routes: bool, ws_test_echo: bool) -> Option<RouteSpec> {
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let public = |id| RouteSpec {
        id,
        allow: GET,
        scope: None,
        rate_limited: false,
        execution: Execution::Inline,
        in_band_auth: false,
    };
    let guarded = |id, scope, execution| RouteSpec { scope: Some(scope), rate_limited: true, execution, ..public(id) };
    // A webhook authenticates by its signature, so no bearer scope is required here, and the
    // per-IP limit is applied once the signature is known to be missing or wrong: verified
    // senders (Telegram retrying a backlog) are never throttled by it.
    let webhook = |channel, id| RouteSpec { allow: POST, execution: Execution::Ingest(channel), ..public(id) };
    let spec = match path {
        "/health" => public(RouteId::Health),
        "/api/health" => public(RouteId::ApiHealth),
        "/healthz" => public(RouteId::Healthz),
        "/ready" | "/readyz" => public(RouteId::Ready),
        "/" => RouteSpec { rate_limited: true, ..public(RouteId::Root) },
        "/api/version" => RouteSpec { scope: Some(Scope::Read), rate_limited: true, ..public(RouteId::Version) },
        "/metrics" => RouteSpec { scope: Some(Scope::Read), rate_limited: true, ..public(RouteId::Metrics) },
        "/debug/echo" if debug_routes => {
            RouteSpec { allow: ANY, ..guarded(RouteId::DebugEcho, Scope::Read, Execution::Worker) }
        }
        "/debug/sleep" if debug_routes => guarded(RouteId::DebugSleep, Scope::Read, Execution::Worker),
        "/ws" => {
            RouteSpec { in_band_auth: true, ..guarded(RouteId::Ws, Scope::Read, Execution::WebSocket(WsKind::Rpc)) }
        }
        "/api/events" => guarded(RouteId::Events, Scope::Rpc, Execution::EventStream),
        "/api/events/live" => guarded(RouteId::EventsLive, Scope::Rpc, Execution::WebSocket(WsKind::LiveEvents)),
        "/api/activity" => guarded(RouteId::Activity, Scope::Rpc, Execution::Inline),
        "/api/logs/recent" => guarded(RouteId::LogsRecent, Scope::Admin, Execution::Inline),
        "/api/logs/live" => guarded(RouteId::LogsLive, Scope::Admin, Execution::WebSocket(WsKind::LiveLogs)),
        "/debug/publish" if debug_routes => {
            RouteSpec { allow: POST, ..guarded(RouteId::DebugPublish, Scope::Admin, Execution::Inline) }
        }
        "/webhook" => webhook(Channel::Generic, RouteId::Webhook),
        "/hooks/webhook" => webhook(Channel::Hooks, RouteId::Hooks),
        "/telegram" => webhook(Channel::Telegram, RouteId::Webhook),
        "/slack/events" => webhook(Channel::Slack, RouteId::Webhook),
        "/discord" => webhook(Channel::Discord, RouteId::Webhook),
        "/line" => webhook(Channel::Line, RouteId::Webhook),
        "/lark" => webhook(Channel::Lark, RouteId::Webhook),
        "/whatsapp" => RouteSpec { allow: GET_POST, ..webhook(Channel::WhatsApp, RouteId::Webhook) },
        "/webhook/whatsapp" => RouteSpec { allow: GET_POST, ..webhook(Channel::WhatsApp, RouteId::Webhook) },
        "/api/inbox" => guarded(RouteId::Inbox, Scope::Admin, Execution::Worker),
        "/api/chat" => RouteSpec { allow: POST, ..guarded(RouteId::Chat, Scope::Rpc, Execution::Agent) },
        "/api/chat/stream" => {
            RouteSpec { allow: GET_NOT_HEAD, ..guarded(RouteId::ChatStream, Scope::Rpc, Execution::Agent) }
        }
        "/api/chat/live" => guarded(RouteId::ChatLive, Scope::Rpc, Execution::WebSocket(WsKind::LiveChat)),
        "/v1/responses" => RouteSpec { allow: POST, ..guarded(RouteId::V1Responses, Scope::Rpc, Execution::Agent) },
        "/api/chat/history" => guarded(RouteId::ChatHistory, Scope::Rpc, Execution::Worker),
        "/api/sessions" => guarded(RouteId::Sessions, Scope::Rpc, Execution::Worker),
        "/api/agents" => guarded(RouteId::Agents, Scope::Rpc, Execution::Inline),
        "/v1/models" => guarded(RouteId::V1Models, Scope::Rpc, Execution::Inline),
        "/v1/chat/completions" => {
            RouteSpec { allow: POST, ..guarded(RouteId::V1ChatCompletions, Scope::Rpc, Execution::Agent) }
        }
        "/v1/embeddings" => {
            RouteSpec { allow: POST, ..guarded(RouteId::V1Embeddings, Scope::Rpc, Execution::Embeddings) }
        }
        _ if path.len() > super::openai::MODEL_PREFIX.len() && path.starts_with(super::openai::MODEL_PREFIX) => {
            guarded(RouteId::V1Model, Scope::Rpc, Execution::Inline)
        }
        _ if path.starts_with("/webhook/") => {
            let channel = path.strip_prefix("/webhook/").and_then(Channel::from_name)?;
            if !Channel::NATIVE.contains(&channel) {
                return None;
            }
            webhook(channel, RouteId::Webhook)
        }
        _ if path.starts_with("/api/inbox/") => match path.strip_suffix("/replay") {
            Some(_) => RouteSpec { allow: POST, ..guarded(RouteId::InboxReplay, Scope::Admin, Execution::Worker) },
            None => guarded(RouteId::InboxEntry, Scope::Admin, Execution::Worker),
        },
        "/ws/echo" if ws_test_echo => {
            RouteSpec { scope: None, ..guarded(RouteId::WsEcho, Scope::Rpc, Execution::WebSocket(WsKind::Echo)) }
        }
        _ => return None,
    };
    Some(spec)
}

/// Whether `method` is allowed by an `Allow` list.
#[must_use]
pub fn method_allowed(allow: &str, method: &str) -> bool {
    allow.split(", ").any(|m| m == method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(lookup("/health", false, false).map(|s| s.id), Some(RouteId::Health));
        assert_eq!(lookup("/health/", false, false).map(|s| s.id), Some(RouteId::Health));
        assert_eq!(lookup("/readyz", false, false).map(|s| s.id), Some(RouteId::Ready));
        assert!(lookup("/debug/echo", false, false).is_none());
        assert!(lookup("/debug/echo", true, false).is_some());
        assert!(lookup("/nope", true, true).is_none());
        let ingest = |p| lookup(p, false, false).map(|s| s.execution);
        assert_eq!(ingest("/webhook"), Some(Execution::Ingest(Channel::Generic)));
        assert_eq!(ingest("/webhook/line"), Some(Execution::Ingest(Channel::Line)));
        assert_eq!(ingest("/telegram"), Some(Execution::Ingest(Channel::Telegram)));
        assert_eq!(ingest("/slack/events"), Some(Execution::Ingest(Channel::Slack)));
        assert_eq!(ingest("/hooks/webhook"), Some(Execution::Ingest(Channel::Hooks)));
        assert!(ingest("/webhook/hooks").is_none() && ingest("/webhook/nope").is_none());
        assert_eq!(lookup("/api/inbox/7/replay", false, false).map(|s| s.id), Some(RouteId::InboxReplay));
        assert_eq!(lookup("/api/inbox/7", false, false).map(|s| s.id), Some(RouteId::InboxEntry));
        assert!(lookup("/ws/echo", true, false).is_none());
        assert_eq!(lookup("/ws/echo", false, true).map(|s| s.id), Some(RouteId::WsEcho));
        assert!(method_allowed(GET, "HEAD") && !method_allowed(GET, "POST"));
        for (i, r) in RouteId::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
