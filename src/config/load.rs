//! Where configuration comes from: file, then environment, then command-line flags.
//!
//! Guarantees: a missing default file means embedded defaults; a missing file named with
//! `--config` is an error. Every refusal names the key path (or variable / flag) and the
//! reason. Human's and Comis's keys that live elsewhere in our schema are moved to their
//! place here, so the rest of the program sees one spelling.

use std::path::{Path, PathBuf};

use super::schema::{Config, IoThreads, Secret};

/// One refusal: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Key path (`gateway.limits.max_body_bytes`), variable (`TALON_GATEWAY_PORT`) or flag.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// A refusal of `path` for `reason`.
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { path: path.into(), reason: reason.into() }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Values given on the command line; they override file and environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

/// A configuration as loaded, before validation.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The merged configuration.
    pub config: Config,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The file that was (or would have been) read.
    pub config_path: PathBuf,
    /// Whether that file existed.
    pub file_found: bool,
}

/// Read the configuration from its three sources.
///
/// `env` looks up an environment variable (a parameter so tests need not touch the
/// process environment).
///
/// # Errors
/// Every problem found, each with its path and reason.
pub fn load(overrides: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, Vec<ConfigError>> {
    let data_dir = overrides
        .data_dir
        .clone()
        .or_else(|| env("TALON_HOME").filter(|s| !s.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| home_dir(env).join(".talon"));
    let config_path = overrides.config.clone().unwrap_or_else(|| data_dir.join("config.json"));
    let (mut config, file_found) = match std::fs::read(&config_path) {
        Ok(bytes) => (parse(&bytes).map_err(|e| vec![e])?, true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && overrides.config.is_none() => (Config::default(), false),
        Err(e) => {
            return Err(vec![ConfigError::new(
                config_path.display().to_string(),
                format!("cannot read config file: {e}"),
            )]);
        }
    };
    let mut errors = Vec::new();
    apply_env(&mut config, env, &mut errors);
    if let Some(host) = &overrides.host {
        config.gateway.host.clone_from(host);
    }
    if let Some(port) = overrides.port {
        config.gateway.port = port;
    }
    if errors.is_empty() { Ok(Loaded { config, data_dir, config_path, file_found }) } else { Err(errors) }
}

/// Parse a configuration document and move seed-system keys to their place; the error
/// names the key path that failed.
///
/// # Errors
/// Malformed JSON, an unknown key or a value of the wrong type.
pub fn parse(bytes: &[u8]) -> Result<Config, ConfigError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut config: Config = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { "config".to_owned() } else { path };
        ConfigError::new(path, e.into_inner().to_string())
    })?;
    move_seed_aliases(&mut config);
    Ok(config)
}

/// Human keeps the webhook secret under `gateway`, Comis the body limit under `gateway`.
fn move_seed_aliases(config: &mut Config) {
    let gw = &mut config.gateway;
    if let Some(secret) = gw.webhook_hmac_secret.take() {
        config.ingest.webhook_hmac_secret.get_or_insert(secret);
    }
    if let Some(limit) = gw.http_body_limit_bytes.take() {
        gw.limits.max_body_bytes = limit;
    }
    if let Some(ms) = gw.ws_heartbeat_ms.take() {
        gw.ws.ping_interval_ms = ms;
    }
    if let Some(bytes) = gw.ws_max_message_bytes.take() {
        gw.ws.max_message_bytes = bytes;
    }
    if let Some(limit) = gw.ws_message_rate_limit.take() {
        gw.ws.message_rate_limit = limit;
    }
}

/// The environment variables we read, documented in docs/COMPAT.md and README.
pub const ENV_VARS: &[&str] = &[
    "TALON_HOME",
    "TALON_GATEWAY_HOST",
    "TALON_GATEWAY_PORT",
    "TALON_GATEWAY_TOKEN",
    "TALON_GATEWAY_IO_THREADS",
    "TALON_GATEWAY_MAX_CONNECTIONS",
    "TALON_GATEWAY_ALLOW_PUBLIC_BIND",
    "TALON_GATEWAY_CORS_ORIGINS",
    "TALON_WEBHOOK_HMAC_SECRET",
    "TALON_LOG_LEVEL",
    "TALON_LOG_FORMAT",
    "TALON_LOG_FILE",
];

fn apply_env(config: &mut Config, env: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<ConfigError>) {
    let gw = &mut config.gateway;
    if let Some(v) = env("TALON_GATEWAY_HOST") {
        gw.host = v;
    }
    if let Some(v) = env("TALON_GATEWAY_PORT") {
        match v.trim().parse() {
            Ok(p) => gw.port = p,
            Err(_) => {
                errors.push(ConfigError::new("TALON_GATEWAY_PORT", format!("{v:?} is not a port number (0-65535)")))
            }
        }
    }
    if let Some(v) = env("TALON_GATEWAY_TOKEN") {
        gw.auth_token = Some(Secret::Literal(v));
    }
    if let Some(v) = env("TALON_GATEWAY_IO_THREADS") {
        match (v.trim(), v.trim().parse::<usize>()) {
            ("auto", _) => gw.io_threads = IoThreads::Auto,
            (_, Ok(n)) => gw.io_threads = IoThreads::Count(n),
            _ => {
                errors.push(ConfigError::new("TALON_GATEWAY_IO_THREADS", format!("{v:?} is not a number or \"auto\"")))
            }
        }
    }
    if let Some(v) = env("TALON_GATEWAY_MAX_CONNECTIONS") {
        match v.trim().parse() {
            Ok(n) => gw.max_connections = n,
            Err(_) => errors.push(ConfigError::new("TALON_GATEWAY_MAX_CONNECTIONS", format!("{v:?} is not a number"))),
        }
    }
    if let Some(v) = env("TALON_GATEWAY_ALLOW_PUBLIC_BIND") {
        match parse_bool(&v) {
            Some(b) => gw.allow_public_bind = b,
            None => {
                errors.push(ConfigError::new("TALON_GATEWAY_ALLOW_PUBLIC_BIND", format!("{v:?} is not true/false")))
            }
        }
    }
    if let Some(v) = env("TALON_GATEWAY_CORS_ORIGINS") {
        gw.cors_origins = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    }
    if let Some(v) = env("TALON_WEBHOOK_HMAC_SECRET") {
        config.ingest.webhook_hmac_secret = Some(Secret::Literal(v));
    }
    if let Some(v) = env("TALON_LOG_LEVEL") {
        config.logging.level = v.trim().to_ascii_lowercase();
    }
    if let Some(v) = env("TALON_LOG_FORMAT") {
        config.logging.format = v.trim().to_ascii_lowercase();
    }
    if let Some(v) = env("TALON_LOG_FILE") {
        config.logging.file = if v.is_empty() { None } else { Some(v) };
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn home_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    env("HOME").filter(|h| !h.is_empty()).map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// Resolve a secret: a literal as is, `{"env": NAME}` from the environment.
///
/// # Errors
/// The variable is not set.
pub fn resolve_secret(
    path: &str,
    secret: &Secret,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    match secret {
        Secret::Literal(s) => Ok(s.clone()),
        Secret::Env { env: name } => {
            env(name).ok_or_else(|| ConfigError::new(path, format!("environment variable {name} is not set")))
        }
    }
}

/// Resolve `path` against the data directory unless it is absolute.
#[must_use]
pub fn in_data_dir(data_dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() { p.to_path_buf() } else { data_dir.join(p) }
}
