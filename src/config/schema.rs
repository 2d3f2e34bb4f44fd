//! The configuration schema: every key, its default and what happens at its limit.
//!
//! Guarantees: unknown keys are refused (`deny_unknown_fields` everywhere), every key is
//! optional with the default of `shared/CONFIG.md`, and the seed systems' key names are
//! accepted as aliases where they mean the same thing (listed in docs/COMPAT.md).
//! Every section is typed (unknown keys refused). `channels` and `ingest.hooks` live in
//! `super::channels`; `agent`, `providers` and `models` in `super::agent`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The HTTP/WebSocket listener, auth and limits.
    pub gateway: GatewayConfig,
    /// Webhook ingestion.
    pub ingest: IngestConfig,
    /// Messaging channels (verification secrets and send APIs).
    pub channels: super::channels::ChannelsConfig,
    /// The agent runtime.
    pub agent: super::agent::AgentConfig,
    /// LLM providers.
    pub providers: super::agent::ProvidersConfig,
    /// Model routing.
    pub models: super::agent::ModelsConfig,
    /// The embedded store.
    pub store: StoreConfig,
    /// Logs.
    pub logging: LoggingConfig,
}

/// A secret: a literal, or `{"env": "NAME"}` read from the environment at load time.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Secret {
    /// The secret itself.
    Literal(String),
    /// The name of an environment variable that holds it.
    Env {
        /// Variable name.
        env: String,
    },
}

/// `gateway.io_threads`: a count, or `"auto"` for one per core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IoThreads {
    /// A fixed number of reactors.
    Count(usize),
    /// One reactor per available core.
    Auto,
}

impl Default for IoThreads {
    fn default() -> Self {
        Self::Count(1)
    }
}

impl<'de> Deserialize<'de> for IoThreads {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if s == "auto" => Ok(Self::Auto),
            Value::Number(n) => n
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Self::Count)
                .ok_or_else(|| serde::de::Error::custom("expected a positive integer or \"auto\"")),
            _ => Err(serde::de::Error::custom("expected a positive integer or \"auto\"")),
        }
    }
}

/// One token of the Comis-style token list.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Name shown in logs and metrics (never the secret).
    pub id: String,
    /// The bearer secret; at least 32 bytes, no placeholder.
    pub secret: Secret,
    /// Scopes: `admin`, `rpc`, `read`, `webhook`, `mcp-client`, or `*` (all but mcp-client).
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// `gateway`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Bind address. A non-loopback address needs auth unless `allow_public_bind`.
    pub host: String,
    /// Bind port; 0 picks a free one (printed at start).
    pub port: u16,
    /// Allow a non-loopback bind without any token configured.
    pub allow_public_bind: bool,
    /// Reactor threads; `"auto"` = cores. Several reactors share the port with SO_REUSEPORT.
    pub io_threads: IoThreads,
    /// Worker threads for jobs that leave the event loop; 0 = cores.
    pub worker_threads: usize,
    /// Bounded worker queue. When full, new jobs are answered 503 with `Retry-After`.
    pub worker_queue: usize,
    /// Open connections across all reactors. At the cap the server stops accepting;
    /// it resumes when the count falls to 90% of it.
    pub max_connections: usize,
    /// Open connections per client IP; one more is closed at accept.
    pub max_connections_per_ip: usize,
    /// CIDRs whose `X-Forwarded-For` / `Forwarded` is believed for the client address.
    #[serde(alias = "trustedProxies")]
    pub trusted_proxies: Vec<String>,
    /// Which forwarding header a trusted proxy sets: `x-forwarded-for` (nginx's default) or
    /// `forwarded` (RFC 7239). Only that one is read, so a client cannot inject the other.
    pub forwarded_header: String,
    /// Origins allowed for CORS and browser clients, exact `scheme://host[:port]`.
    /// Localhost origins are always allowed; `*` and `null` are refused.
    #[serde(alias = "corsOrigins")]
    pub cors_origins: Vec<String>,
    /// One admin token (Human/clawgo style). `TALON_GATEWAY_TOKEN` overrides.
    #[serde(alias = "token")]
    pub auth_token: Option<Secret>,
    /// Many tokens with scopes (Comis style).
    pub tokens: Vec<TokenConfig>,
    /// Paths where `?token=` is accepted (clients that cannot set headers).
    pub query_token_routes: Vec<String>,
    /// Human's pairing flow switch (pairing itself arrives with the Control UI).
    pub require_pairing: bool,
    /// Pairing attempts per minute per IP.
    pub pair_rate_limit_per_minute: u32,
    /// Serve the Control UI from this directory instead of the embedded one.
    pub control_ui_dir: Option<String>,
    /// Serve `/debug/echo` and `/debug/sleep` (worker-pool test routes). Off in production.
    pub debug_routes: bool,
    /// How long graceful shutdown waits for in-flight requests before closing them.
    pub shutdown_grace_ms: u64,
    /// Connection timeouts and request size limits.
    pub limits: LimitsConfig,
    /// Per-IP HTTP rate limit (token bucket). The health routes (`/health`, `/api/health`,
    /// `/healthz`, `/ready`, `/readyz`) are exempt.
    #[serde(alias = "rateLimit")]
    pub rate_limit: RateLimitConfig,
    /// Failed-authentication limiter per IP.
    #[serde(alias = "authRateLimit")]
    pub auth_rate_limit: AuthRateLimitConfig,
    /// WebSocket settings (used by the WebSocket subsystem).
    pub ws: WsConfig,
    /// SSE settings (used by the event-stream subsystem).
    pub sse: SseConfig,
    /// Human's key for the webhook secret; moved to `ingest.webhook_hmac_secret` at load.
    #[serde(skip_serializing)]
    pub webhook_hmac_secret: Option<Secret>,
    /// Comis's key for the body limit; moved to `limits.max_body_bytes` at load.
    #[serde(rename = "httpBodyLimitBytes", skip_serializing)]
    pub http_body_limit_bytes: Option<u64>,
    /// Comis's WebSocket rate limit; moved to `ws.message_rate_limit` at load.
    #[serde(rename = "wsMessageRateLimit", skip_serializing)]
    pub ws_message_rate_limit: Option<WsRateLimitConfig>,
    /// Comis's WebSocket message size key, kept for the WebSocket subsystem.
    #[serde(rename = "wsMaxMessageBytes", skip_serializing)]
    pub ws_max_message_bytes: Option<u64>,
    /// Comis's heartbeat interval; moved to `ws.ping_interval_ms` at load.
    #[serde(rename = "wsHeartbeatMs", skip_serializing)]
    pub ws_heartbeat_ms: Option<u64>,
    /// Human's switch for the gateway; `talon gateway` refuses to start when it is false.
    pub enabled: bool,
    /// Comis's JSON-RPC batch limit (used by the RPC subsystem).
    #[serde(alias = "maxBatchSize")]
    pub max_batch_size: usize,
    /// Comis's `allowInsecureHttp`: accepted for compatibility; Talon serves plain HTTP today.
    #[serde(rename = "allowInsecureHttp", skip_serializing)]
    pub allow_insecure_http: Option<bool>,
    /// Comis's `web` block (`{"enabled": bool}`): the REST/UI switch.
    pub web: WebConfig,
    /// Comis's TLS block. TLS termination is not built yet, so a configured certificate is
    /// refused at start rather than silently served as plain HTTP.
    #[serde(skip_serializing)]
    pub tls: Option<Value>,
}

/// `gateway.web` (Comis).
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Serve the REST API and Control UI.
    pub enabled: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 18789,
            allow_public_bind: false,
            io_threads: IoThreads::default(),
            worker_threads: 0,
            worker_queue: 1024,
            max_connections: 10_000,
            max_connections_per_ip: 256,
            trusted_proxies: Vec::new(),
            forwarded_header: "x-forwarded-for".into(),
            cors_origins: Vec::new(),
            auth_token: None,
            tokens: Vec::new(),
            query_token_routes: vec!["/ws".into(), "/api/events".into()],
            require_pairing: false,
            pair_rate_limit_per_minute: 60,
            control_ui_dir: None,
            debug_routes: false,
            shutdown_grace_ms: 10_000,
            limits: LimitsConfig::default(),
            rate_limit: RateLimitConfig::default(),
            auth_rate_limit: AuthRateLimitConfig::default(),
            ws: WsConfig::default(),
            sse: SseConfig::default(),
            webhook_hmac_secret: None,
            http_body_limit_bytes: None,
            ws_message_rate_limit: None,
            ws_max_message_bytes: None,
            ws_heartbeat_ms: None,
            enabled: true,
            max_batch_size: 50,
            allow_insecure_http: None,
            web: WebConfig::default(),
            tls: None,
        }
    }
}

/// `gateway.limits`: timeouts and sizes, nginx-like defaults tightened per CIS.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Absolute deadline for a whole request head from its first byte (not reset per
    /// byte, so slowloris cannot stretch it). Expired: 408 and close.
    pub header_timeout_ms: u64,
    /// Longest silence between two reads of a body. Expired: 408 and close.
    pub body_idle_timeout_ms: u64,
    /// Longest time for a whole request body from the end of its head, however steadily
    /// it trickles in. Expired: 408 and close.
    pub body_timeout_ms: u64,
    /// Longest wait for the next request on an idle keep-alive connection. Expired: close.
    pub keepalive_timeout_ms: u64,
    /// Longest time a pending response may make no write progress. Expired: close.
    pub write_timeout_ms: u64,
    /// Longest request line. Over it: 414 and close.
    pub max_request_line_bytes: usize,
    /// Longest head, and longest chunked trailer section. Over it: 431 and close.
    pub max_header_bytes: usize,
    /// Most header fields. Over it: 431 and close.
    pub max_headers: usize,
    /// Largest request body. A larger Content-Length is answered 413 before any body
    /// byte is read; a chunked body is counted while it streams and cut at the limit.
    #[serde(alias = "httpBodyLimitBytes")]
    pub max_body_bytes: u64,
    /// Requests served on one connection before it is closed (nginx keepalive_requests).
    pub max_requests_per_connection: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            header_timeout_ms: 10_000,
            body_idle_timeout_ms: 10_000,
            body_timeout_ms: 60_000,
            keepalive_timeout_ms: 75_000,
            write_timeout_ms: 30_000,
            max_request_line_bytes: 8192,
            max_header_bytes: 32_768,
            max_headers: 100,
            max_body_bytes: 1_048_576,
            max_requests_per_connection: 100_000,
        }
    }
}

/// `gateway.rate_limit`: a token bucket per client IP.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Window over which `max_requests` refill.
    #[serde(alias = "windowMs")]
    pub window_ms: u64,
    /// Bucket size; an empty bucket answers 429 with `Retry-After`.
    #[serde(alias = "maxRequests")]
    pub max_requests: u32,
    /// Most client IPs tracked; when full and nothing is stale, new IPs get 429.
    pub max_tracked_ips: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { window_ms: 60_000, max_requests: 600, max_tracked_ips: 65_536 }
    }
}

/// `gateway.auth_rate_limit`: lockout after repeated failed authentication.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthRateLimitConfig {
    /// Failures within `window_ms` that trigger a lockout.
    #[serde(alias = "maxAttempts")]
    pub max_attempts: u32,
    /// Window in which failures are counted.
    #[serde(alias = "windowMs")]
    pub window_ms: u64,
    /// Lockout length; every authenticated request from the IP gets 429 meanwhile.
    #[serde(alias = "lockoutMs")]
    pub lockout_ms: u64,
    /// Do not lock out loopback clients (OpenClaw's `exemptLoopback`).
    #[serde(alias = "exemptLoopback")]
    pub exempt_loopback: bool,
}

impl Default for AuthRateLimitConfig {
    fn default() -> Self {
        Self { max_attempts: 10, window_ms: 60_000, lockout_ms: 300_000, exempt_loopback: false }
    }
}

/// `ingest`: webhook ingestion (`src/webhook/`) and its acknowledgement policy.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// `durable`: the 2xx is written only after the delivery's batch is committed and synced.
    /// `buffered`: the 2xx follows the commit; the log is synced every
    /// `buffered_sync_interval_ms`, so a power loss (not a crash) can lose that window.
    pub ack: String,
    /// Sync interval in `buffered` mode (the documented loss window).
    pub buffered_sync_interval_ms: u64,
    /// Window in which a repeated delivery id is acknowledged as a duplicate and not stored;
    /// after it the id is forgotten and a re-delivery is stored as new.
    pub dedup_window_s: u64,
    /// Most dedup keys held in memory (about 60 bytes each). Past it the oldest keys are
    /// forgotten before their window ends (`talon_store_dedup_evicted_early_total`), so a
    /// retry that late would be stored a second time; nothing new is ever refused.
    pub dedup_max_keys: usize,
    /// Largest signed webhook body (per channel `max_body_bytes` overrides); a larger
    /// Content-Length is 413 before the body is read.
    pub max_body_bytes: u64,
    /// Largest body of a request without a signature header: 413 before reading past it.
    pub max_unsigned_body_bytes: u64,
    /// Human's `X-Signature` secret. `TALON_WEBHOOK_HMAC_SECRET` overrides.
    pub webhook_hmac_secret: Option<Secret>,
    /// Deliveries waiting for the store writer; when full, webhooks are answered 503 with
    /// `Retry-After` (the sender retries) instead of a 2xx for something not stored.
    pub queue: usize,
    /// Body bytes of deliveries waiting for the store writer, across all connections; past it
    /// webhooks are answered 503 with `Retry-After`, so the queue's memory stays bounded
    /// whatever the body sizes.
    pub max_queued_bytes: u64,
    /// Records the writer commits in one transaction at most.
    pub max_batch: usize,
    /// At start, deliveries dispatched (published) within this many seconds and never
    /// acknowledged (`inbox.ack`) are dispatched again; older ones stay `dispatched`, listed
    /// and replayable, so a consumer that never acknowledges does not get the whole history
    /// again at every start.
    pub resume_window_s: u64,
    /// Comis's `/hooks/webhook`.
    pub hooks: super::channels::HooksConfig,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            ack: "durable".into(),
            buffered_sync_interval_ms: 5,
            dedup_window_s: 86_400,
            dedup_max_keys: crate::store::dedup::DEFAULT_MAX_KEYS,
            max_body_bytes: 1_048_576,
            max_unsigned_body_bytes: 4096,
            webhook_hmac_secret: None,
            queue: 8192,
            max_queued_bytes: 64 * 1024 * 1024,
            max_batch: 4096,
            resume_window_s: 3600,
            hooks: super::channels::HooksConfig::default(),
        }
    }
}

/// `store`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Database file, relative to the data directory.
    pub path: String,
    /// `full`: SQLite syncs the log inside every commit; `normal`: commits without syncing
    /// and the store writer syncs the log itself before acknowledging (`ingest.ack: durable`)
    /// or on its timer (`buffered`). Both keep the acknowledgement promise.
    pub sync: String,
    /// How long a group commit may wait (µs) for the senders the previous commit just
    /// answered, so closed-loop senders share one sync instead of taking turns; it never waits
    /// when the batch already holds as many writes as the last one plus the queue. 0 = never.
    pub group_commit_wait_us: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { path: "talon.db".into(), sync: "full".into(), group_commit_wait_us: 500 }
    }
}

/// `logging`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`. `TALON_LOG_LEVEL` overrides.
    pub level: String,
    /// `json` (one object per line) or `text`.
    pub format: String,
    /// Log file relative to the data directory; `null` or `"-"` logs to stderr.
    pub file: Option<String>,
    /// Lines buffered for the log writer thread; past it lines are counted as dropped.
    pub queue_lines: usize,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self { level: "info".into(), format: "json".into(), file: Some("logs/talon.log".into()), queue_lines: 65_536 }
    }
}

/// `gateway.ws.message_rate_limit`: a sliding window per WebSocket connection.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WsRateLimitConfig {
    /// Messages allowed per window; more are answered with an error and dropped.
    #[serde(alias = "maxMessages")]
    pub max_messages: u32,
    /// Window length.
    #[serde(alias = "windowMs")]
    pub window_ms: u64,
}

impl Default for WsRateLimitConfig {
    fn default() -> Self {
        Self { max_messages: 60, window_ms: 60_000 }
    }
}

/// `gateway.ws` (the WebSocket subsystem reads these).
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WsConfig {
    /// Largest message; larger closes with 1009.
    pub max_message_bytes: u64,
    /// Most WebSocket connections; more are refused before the upgrade.
    pub max_connections: usize,
    /// Per-connection message rate limit.
    pub message_rate_limit: WsRateLimitConfig,
    /// Interval of server pings and `tick` events.
    pub ping_interval_ms: u64,
    /// A peer that answers no ping within this is closed.
    pub pong_timeout_ms: u64,
    /// Outgoing bytes queued per connection; past it the slow consumer is closed.
    pub max_outbound_bytes: u64,
    /// Serve a plain echo WebSocket at `/ws/echo` for Autobahn. Off in production.
    pub test_echo: bool,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 1_048_576,
            max_connections: 10_000,
            message_rate_limit: WsRateLimitConfig::default(),
            ping_interval_ms: 15_000,
            pong_timeout_ms: 30_000,
            max_outbound_bytes: 1_048_576,
            test_echo: false,
        }
    }
}

/// `gateway.sse` (the event-stream subsystem reads these).
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SseConfig {
    /// Interval of `ping` events.
    pub keepalive_ms: u64,
    /// The `retry:` hint sent to clients.
    pub retry_ms: u64,
    /// Events kept for `Last-Event-ID` replay.
    pub ring_events: usize,
    /// Bytes queued per subscriber; past it the subscriber is closed.
    pub max_backlog_bytes: u64,
}

impl Default for SseConfig {
    fn default() -> Self {
        Self { keepalive_ms: 15_000, retry_ms: 3_000, ring_events: 10_000, max_backlog_bytes: 1_048_576 }
    }
}
