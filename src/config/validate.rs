//! Validation: turn a loaded configuration into the settings the server runs with.
//!
//! Guarantees: every problem is reported (not only the first), each with its key path and
//! reason; secrets are resolved here and weak tokens are refused here, so a server that
//! starts never runs with a short, empty or placeholder token, nor on a public address
//! without authentication unless the operator said so with `allow_public_bind`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::load::{ConfigError, Loaded, in_data_dir, resolve_secret};
use super::schema::{AuthRateLimitConfig, Config, IoThreads, LimitsConfig, RateLimitConfig};
use crate::auth::{AuthPolicy, Cidr, ScopeSet, TokenStore, token_weakness};

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// One line per request, start and stop.
    Info,
    /// Connection-level detail.
    Debug,
    /// Everything.
    Trace,
}

/// The runtime settings, validated and resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to bind.
    pub bind: SocketAddr,
    /// Reactor threads.
    pub io_threads: usize,
    /// Worker threads.
    pub worker_threads: usize,
    /// Worker queue bound.
    pub worker_queue: usize,
    /// Global connection cap.
    pub max_connections: usize,
    /// Per-IP connection cap.
    pub max_connections_per_ip: usize,
    /// Timeouts and sizes.
    pub limits: LimitsConfig,
    /// Per-IP request limit.
    pub rate_limit: RateLimitConfig,
    /// Failed-auth lockout.
    pub auth_rate_limit: AuthRateLimitConfig,
    /// Authentication policy.
    pub auth: AuthPolicy,
    /// Allowed CORS origins besides localhost.
    pub cors_origins: Vec<String>,
    /// Whether the debug routes are served.
    pub debug_routes: bool,
    /// Graceful shutdown deadline.
    pub shutdown_grace: Duration,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// JSON (true) or text lines.
    pub log_json: bool,
    /// Log file; `None` is stderr.
    pub log_file: Option<PathBuf>,
    /// Log queue bound.
    pub log_queue_lines: usize,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Webhook ingestion, resolved.
    pub ingest: super::ingest::IngestSettings,
    /// The configuration as loaded (for later subsystems and `config.get`).
    pub config: Config,
}

/// Validate and resolve.
///
/// # Errors
/// Every problem found.
pub fn validate(loaded: &Loaded, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, Vec<ConfigError>> {
    let c = &loaded.config;
    let gw = &c.gateway;
    let mut errors = Vec::new();
    let mut err = |path: &str, reason: String| errors.push(ConfigError::new(path, reason));

    let host = if gw.host.eq_ignore_ascii_case("localhost") { "127.0.0.1" } else { gw.host.as_str() };
    let ip: IpAddr = host.parse().unwrap_or_else(|_| {
        err("gateway.host", format!("{:?} is not an IP address (use 127.0.0.1, ::1, 0.0.0.0 or ::)", gw.host));
        IpAddr::from([127, 0, 0, 1])
    });

    let mut tokens = TokenStore::default();
    if let Some(secret) = &gw.auth_token {
        match resolve_secret("gateway.auth_token", secret, env) {
            Ok(s) => match token_weakness(&s) {
                Some(why) => err("gateway.auth_token", format!("refused: {why}")),
                None => tokens.add("admin", s.trim(), ScopeSet::ALL),
            },
            Err(e) => errors_push(&mut err, e),
        }
    }
    let mut ids = Vec::new();
    for (i, t) in gw.tokens.iter().enumerate() {
        let path = format!("gateway.tokens[{i}]");
        if t.id.trim().is_empty() {
            err(&format!("{path}.id"), "token id is empty".into());
        } else if ids.contains(&t.id) {
            err(&format!("{path}.id"), format!("duplicate token id {:?}", t.id));
        }
        ids.push(t.id.clone());
        let scopes = if t.scopes.is_empty() {
            err(&format!("{path}.scopes"), "a token needs at least one scope".into());
            ScopeSet::default()
        } else {
            ScopeSet::parse(t.scopes.iter().map(String::as_str)).unwrap_or_else(|why| {
                err(&format!("{path}.scopes"), why);
                ScopeSet::default()
            })
        };
        match resolve_secret(&format!("{path}.secret"), &t.secret, env) {
            Ok(s) => match token_weakness(&s) {
                Some(why) => err(&format!("{path}.secret"), format!("refused: {why}")),
                None => tokens.add(&t.id, s.trim(), scopes),
            },
            Err(e) => errors_push(&mut err, e),
        }
    }
    let has_auth = gw.auth_token.is_some() || !gw.tokens.is_empty();
    if !ip.is_loopback() && !has_auth && !gw.allow_public_bind {
        err(
            "gateway.host",
            format!(
                "binding {ip} (not loopback) without authentication is refused: set gateway.auth_token, \
                 gateway.tokens or TALON_GATEWAY_TOKEN, or set gateway.allow_public_bind to true"
            ),
        );
    }

    let mut agent_errors = Vec::new();
    super::agent::validate(&c.agent, &c.providers, &c.models, &mut agent_errors);
    for e in agent_errors {
        errors_push(&mut err, e);
    }
    if gw.tls.as_ref().is_some_and(|v| !v.is_null()) {
        err(
            "gateway.tls",
            "TLS termination is not implemented yet; put a TLS proxy in front and remove this block".into(),
        );
    }
    if !(1..=1000).contains(&gw.max_batch_size) {
        err("gateway.max_batch_size", "must be between 1 and 1000".into());
    }
    let mut trusted = Vec::new();
    for (i, s) in gw.trusted_proxies.iter().enumerate() {
        match Cidr::parse(s) {
            Ok(c) => trusted.push(c),
            Err(why) => err(&format!("gateway.trusted_proxies[{i}]"), why),
        }
    }
    let use_forwarded = match gw.forwarded_header.to_ascii_lowercase().as_str() {
        "x-forwarded-for" => false,
        "forwarded" => true,
        other => {
            err("gateway.forwarded_header", format!("{other:?} is not \"x-forwarded-for\" or \"forwarded\""));
            false
        }
    };
    for (i, o) in gw.cors_origins.iter().enumerate() {
        if let Some(why) = origin_problem(o) {
            err(&format!("gateway.cors_origins[{i}]"), why);
        }
    }
    for (i, r) in gw.query_token_routes.iter().enumerate() {
        if !r.starts_with('/') {
            err(&format!("gateway.query_token_routes[{i}]"), format!("{r:?} must be a path starting with /"));
        }
    }

    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let io_threads = match gw.io_threads {
        IoThreads::Auto => cores,
        IoThreads::Count(n) => n,
    };
    if !(1..=256).contains(&io_threads) {
        err("gateway.io_threads", format!("{io_threads} is out of range (1-256 or \"auto\")"));
    }
    let worker_threads = if gw.worker_threads == 0 { cores } else { gw.worker_threads };
    if worker_threads > 1024 {
        err("gateway.worker_threads", "at most 1024".into());
    }
    if gw.worker_queue == 0 {
        err("gateway.worker_queue", "must be at least 1".into());
    }
    if gw.max_connections == 0 {
        err("gateway.max_connections", "must be at least 1".into());
    }
    if gw.max_connections_per_ip == 0 {
        err("gateway.max_connections_per_ip", "must be at least 1".into());
    }
    let l = &gw.limits;
    for (name, v) in [
        ("header_timeout_ms", l.header_timeout_ms),
        ("body_idle_timeout_ms", l.body_idle_timeout_ms),
        ("body_timeout_ms", l.body_timeout_ms),
        ("keepalive_timeout_ms", l.keepalive_timeout_ms),
        ("write_timeout_ms", l.write_timeout_ms),
        ("max_requests_per_connection", l.max_requests_per_connection),
    ] {
        if v == 0 {
            err(&format!("gateway.limits.{name}"), "must be greater than 0".into());
        }
    }
    if l.max_request_line_bytes < 16 {
        err("gateway.limits.max_request_line_bytes", "must be at least 16".into());
    }
    if l.max_header_bytes < l.max_request_line_bytes {
        err("gateway.limits.max_header_bytes", "must be at least max_request_line_bytes".into());
    }
    if !(1..=10_000).contains(&l.max_headers) {
        err("gateway.limits.max_headers", "must be between 1 and 10000".into());
    }
    if gw.rate_limit.window_ms == 0 || gw.rate_limit.max_requests == 0 {
        err("gateway.rate_limit", "window_ms and max_requests must be greater than 0".into());
    }
    if gw.auth_rate_limit.window_ms == 0 || gw.auth_rate_limit.max_attempts == 0 {
        err("gateway.auth_rate_limit", "window_ms and max_attempts must be greater than 0".into());
    }
    let log_level = match c.logging.level.as_str() {
        "error" => LogLevel::Error,
        "warn" | "warning" => LogLevel::Warn,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        other => {
            err("logging.level", format!("{other:?} is not one of error, warn, info, debug, trace"));
            LogLevel::Info
        }
    };
    let log_json = match c.logging.format.as_str() {
        "json" => true,
        "text" => false,
        other => {
            err("logging.format", format!("{other:?} is not \"json\" or \"text\""));
            true
        }
    };
    if c.logging.queue_lines == 0 {
        err("logging.queue_lines", "must be at least 1".into());
    }
    let log_file =
        c.logging.file.as_deref().filter(|f| !f.is_empty() && *f != "-").map(|f| in_data_dir(&loaded.data_dir, f));

    let ingest = super::ingest::resolve(loaded, env, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let no_tokens = tokens.is_empty();
    Ok(Settings {
        bind: SocketAddr::new(ip, gw.port),
        io_threads,
        worker_threads,
        worker_queue: gw.worker_queue,
        max_connections: gw.max_connections,
        max_connections_per_ip: gw.max_connections_per_ip,
        limits: gw.limits,
        rate_limit: gw.rate_limit,
        auth_rate_limit: gw.auth_rate_limit,
        auth: AuthPolicy {
            tokens,
            open_loopback: no_tokens && ip.is_loopback(),
            open_all: no_tokens && gw.allow_public_bind,
            query_token_routes: gw.query_token_routes.clone(),
            trusted_proxies: trusted,
            use_forwarded,
        },
        cors_origins: gw.cors_origins.clone(),
        debug_routes: gw.debug_routes,
        shutdown_grace: Duration::from_millis(gw.shutdown_grace_ms),
        log_level,
        log_json,
        log_file,
        log_queue_lines: c.logging.queue_lines,
        data_dir: loaded.data_dir.clone(),
        ingest,
        config: c.clone(),
    })
}

fn errors_push(err: &mut impl FnMut(&str, String), e: ConfigError) {
    err(&e.path, e.reason);
}

/// Why a configured CORS origin is unusable, if it is.
fn origin_problem(origin: &str) -> Option<String> {
    if origin == "*" || origin.eq_ignore_ascii_case("null") {
        return Some(format!("{origin:?} is refused: list exact origins such as https://app.example.com"));
    }
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains('/') && !host.contains('*') => None,
        _ => Some(format!("{origin:?} is not an origin of the form scheme://host[:port] (no path, no wildcard)")),
    }
}
