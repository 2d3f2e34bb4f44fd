//! The `agent`, `providers` and `models` sections: which model a turn uses, how each upstream
//! provider is reached, and the fallback order.
//!
//! Guarantees: unknown keys are refused with their path; defaults are those of
//! `shared/CONFIG.md`. The two providers CONFIG.md lists (`openai`, `anthropic`) always exist:
//! an entry with one of those names overrides only the fields it sets, any other name is a new
//! provider (kind `openai-compatible` unless told, `base_url` required). `builtin` is reserved
//! for the offline provider. Keys may be literals or `{"env": "NAME"}` (`api_key`), or the name
//! of a variable (`api_key_env`); they are resolved when the router is built, never here.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::load::ConfigError;
use super::schema::Secret;
use crate::agent::providers::ModelRef;
use crate::agent::providers::http::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT};
use crate::agent::providers::retry::DEFAULT_MAX_RETRIES;

/// The provider name reserved for the built-in offline provider.
pub const BUILTIN_PROVIDER: &str = "builtin";

/// `agent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// The model a turn uses unless it names one: `provider/model`.
    pub default_model: String,
    /// Turns running at once (the agent thread pool's size).
    pub max_concurrent_turns: usize,
    /// Deadline of a whole turn, every retry and fallback included. Passed: the turn ends with
    /// a timeout error.
    pub turn_timeout_ms: u64,
    /// Prepended as a system message to every turn.
    pub system_prompt: Option<String>,
    /// Prices per model name (without the provider), for the cost of a turn.
    pub prices: BTreeMap<String, PriceConfig>,
    /// Turns waiting for a free agent thread. Past it a new turn is refused with 503
    /// (`UNAVAILABLE`, `Retry-After: 1`), never queued without bound.
    pub max_queued_turns: usize,
    /// Turns of one session waiting behind its running turn (turns of a session run one at a
    /// time, in order). Past it a new message for that session is refused with 503.
    pub max_queued_per_session: usize,
    /// Most stored messages sent upstream as a turn's history (the newest ones).
    pub history_messages: usize,
    /// Most characters of history sent upstream; older messages are left out first.
    pub history_chars: usize,
    /// The built-in tools offered to the model, and which of them need an operator's approval.
    pub tools: ToolsConfig,
    /// How long a tool call that needs approval waits for `exec.approval.resolve`. Passed: the
    /// tool does not run, the model is told it was not approved in time, and `approval:resolved`
    /// goes out with `decision: "timeout"`.
    pub approval_timeout_ms: u64,
    /// Most rounds of tool calls in one turn (the model asks, the tools run, the model is called
    /// again). A model that asks for tools once more after that ends the turn with the error
    /// `tool_rounds`.
    pub max_tool_rounds: usize,
}

/// `agent.tools`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsConfig {
    /// `"all"` (the default) or a list of tool names: only these are sent to the model and run.
    /// A name that is not a built-in tool is refused at start.
    pub enabled: ToolSelection,
    /// Tools that wait for `exec.approval.resolve` (at most `agent.approval_timeout_ms`) before
    /// every run. Default: none.
    pub require_approval: Vec<String>,
}

/// `agent.tools.enabled`: every built-in tool, or the ones named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ToolSelection {
    /// `"all"`.
    #[default]
    All,
    /// A list of names (`[]` turns tools off: no `tools` field goes upstream).
    Only(Vec<String>),
}

impl ToolSelection {
    /// Whether the tool `name` is enabled.
    #[must_use]
    pub fn includes(&self, name: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

impl Serialize for ToolSelection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::All => s.serialize_str("all"),
            Self::Only(names) => names.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ToolSelection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Word(String),
            Names(Vec<String>),
        }
        match Written::deserialize(d) {
            Ok(Written::Word(w)) if w == "all" => Ok(Self::All),
            Ok(Written::Names(names)) => Ok(Self::Only(names)),
            Ok(Written::Word(w)) => {
                Err(serde::de::Error::custom(format!("expected \"all\" or a list of tool names, not {w:?}")))
            }
            Err(_) => Err(serde::de::Error::custom("expected \"all\" or a list of tool names")),
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        let mut prices = BTreeMap::new();
        prices.insert("gpt-4o-mini".to_owned(), PriceConfig { input_per_mtok: 0.15, output_per_mtok: 0.6 });
        Self {
            default_model: "builtin/echo".to_owned(),
            max_concurrent_turns: 16,
            turn_timeout_ms: 120_000,
            system_prompt: None,
            prices,
            max_queued_turns: 256,
            max_queued_per_session: 8,
            history_messages: 50,
            history_chars: 100_000,
            tools: ToolsConfig::default(),
            approval_timeout_ms: 120_000,
            max_tool_rounds: 8,
        }
    }
}

/// `agent.prices.<model>`: US dollars per million tokens.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// Per million prompt tokens.
    pub input_per_mtok: f64,
    /// Per million generated tokens.
    pub output_per_mtok: f64,
}

/// `providers.<name>.kind`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum ProviderKind {
    /// `POST {base_url}/chat/completions` (OpenAI, llama.cpp, vLLM, Ollama, OpenRouter).
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
    /// `POST {base_url}/v1/messages` (Anthropic Messages).
    #[serde(rename = "anthropic")]
    Anthropic,
}

/// `providers.<name>`, with its defaults filled in.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProviderConfig {
    /// Wire protocol.
    pub kind: ProviderKind,
    /// API root: `https://api.openai.com/v1`, `http://127.0.0.1:8080/v1`, `https://api.anthropic.com`.
    pub base_url: String,
    /// The key itself (or `{"env": "NAME"}`); wins over `api_key_env`.
    pub api_key: Option<Secret>,
    /// Environment variable holding the key; unset means no key is sent (local servers).
    pub api_key_env: Option<String>,
    /// Models this provider serves, listed by `/v1/models` and matched for bare model names.
    pub models: Vec<String>,
    /// Retries after a connection error, 429 or 5xx before any token (0 = none).
    pub max_retries: u32,
    /// TCP connect timeout; passed: the attempt fails (and is retried).
    pub connect_timeout_ms: u64,
    /// Longest wait for the response head; passed: the attempt fails and the router may fall
    /// back. The body is bounded only by `agent.turn_timeout_ms`.
    pub response_timeout_ms: u64,
}

/// `providers.<name>` as written: every field optional, so a well-known name can override one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderEntry {
    kind: Option<ProviderKind>,
    base_url: Option<String>,
    api_key: Option<Secret>,
    api_key_env: Option<String>,
    models: Option<Vec<String>>,
    max_retries: Option<u32>,
    connect_timeout_ms: Option<u64>,
    response_timeout_ms: Option<u64>,
}

/// The built-in default of a well-known provider name, if it is one.
fn well_known(name: &str) -> Option<ProviderConfig> {
    let (kind, base_url, env) = match name {
        "openai" => (ProviderKind::OpenAiCompatible, "https://api.openai.com/v1", "OPENAI_API_KEY"),
        "anthropic" => (ProviderKind::Anthropic, "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
        _ => return None,
    };
    Some(ProviderConfig {
        kind,
        base_url: base_url.to_owned(),
        api_key: None,
        api_key_env: Some(env.to_owned()),
        models: Vec::new(),
        max_retries: DEFAULT_MAX_RETRIES,
        connect_timeout_ms: millis(DEFAULT_CONNECT_TIMEOUT),
        response_timeout_ms: millis(DEFAULT_RESPONSE_TIMEOUT),
    })
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `providers`: name → provider. Always holds `openai` and `anthropic`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(transparent)]
pub struct ProvidersConfig(pub BTreeMap<String, ProviderConfig>);

impl Default for ProvidersConfig {
    fn default() -> Self {
        Self(["openai", "anthropic"].iter().filter_map(|n| Some(((*n).to_owned(), well_known(n)?))).collect())
    }
}

impl<'de> Deserialize<'de> for ProvidersConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = BTreeMap::<String, ProviderEntry>::deserialize(d)?;
        let mut providers = Self::default();
        for (name, e) in entries {
            let base = well_known(&name).unwrap_or_else(|| ProviderConfig {
                kind: ProviderKind::OpenAiCompatible,
                base_url: String::new(),
                api_key: None,
                api_key_env: None,
                models: Vec::new(),
                max_retries: DEFAULT_MAX_RETRIES,
                connect_timeout_ms: millis(DEFAULT_CONNECT_TIMEOUT),
                response_timeout_ms: millis(DEFAULT_RESPONSE_TIMEOUT),
            });
            let merged = ProviderConfig {
                kind: e.kind.unwrap_or(base.kind),
                base_url: e.base_url.unwrap_or(base.base_url),
                api_key: e.api_key.or(base.api_key),
                api_key_env: e.api_key_env.or(base.api_key_env),
                models: e.models.unwrap_or(base.models),
                max_retries: e.max_retries.unwrap_or(base.max_retries),
                connect_timeout_ms: e.connect_timeout_ms.unwrap_or(base.connect_timeout_ms),
                response_timeout_ms: e.response_timeout_ms.unwrap_or(base.response_timeout_ms),
            };
            providers.0.insert(name, merged);
        }
        Ok(providers)
    }
}

/// `models`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Models tried in order when the turn's model fails before streaming anything.
    pub fallbacks: Vec<String>,
    /// The model `POST /v1/embeddings` uses when the request names none: `provider/model` of an
    /// OpenAI-compatible provider (forwarded to its `/embeddings`), or `null` (the default) for
    /// the built-in offline model `builtin/embed`, which is always served too.
    pub embeddings: Option<String>,
}

/// Check the three sections; every problem is pushed with its key path.
pub fn validate(
    agent: &AgentConfig,
    providers: &ProvidersConfig,
    models: &ModelsConfig,
    errors: &mut Vec<ConfigError>,
) {
    let mut check_model = |path: String, id: &str| match ModelRef::parse(id) {
        Err(why) => errors.push(ConfigError::new(path, why)),
        Ok(r) if r.provider == BUILTIN_PROVIDER && r.model != "echo" => {
            errors.push(ConfigError::new(
                path,
                format!("the built-in provider has only the model echo, not {:?}", r.model),
            ));
        }
        Ok(r) if r.provider != BUILTIN_PROVIDER && !providers.0.contains_key(&r.provider) => {
            errors.push(ConfigError::new(path, format!("no provider named {:?} under providers", r.provider)));
        }
        Ok(_) => {}
    };
    check_model("agent.default_model".to_owned(), &agent.default_model);
    for (i, id) in models.fallbacks.iter().enumerate() {
        check_model(format!("models.fallbacks[{i}]"), id);
    }
    if let Some(id) = &models.embeddings {
        check_embeddings_model(id, providers, errors);
    }
    if agent.max_concurrent_turns == 0 {
        errors.push(ConfigError::new("agent.max_concurrent_turns", "must be at least 1"));
    }
    for (key, v, max) in [
        ("max_queued_turns", agent.max_queued_turns, 1_000_000),
        ("max_queued_per_session", agent.max_queued_per_session, 10_000),
        ("history_messages", agent.history_messages, crate::store::MAX_QUERY_LIMIT),
        ("history_chars", agent.history_chars, 100_000_000),
    ] {
        if v == 0 || v > max {
            errors.push(ConfigError::new(format!("agent.{key}"), format!("must be between 1 and {max}")));
        }
    }
    if agent.turn_timeout_ms == 0 {
        errors.push(ConfigError::new("agent.turn_timeout_ms", "must be at least 1"));
    }
    validate_tools(agent, errors);
    for (model, price) in &agent.prices {
        for (field, v) in [("input_per_mtok", price.input_per_mtok), ("output_per_mtok", price.output_per_mtok)] {
            if !v.is_finite() || v < 0.0 {
                errors.push(ConfigError::new(format!("agent.prices.{model}.{field}"), "must be a price of 0 or more"));
            }
        }
    }
    for (name, p) in &providers.0 {
        let path = format!("providers.{name}");
        if name == BUILTIN_PROVIDER {
            errors.push(ConfigError::new(path.clone(), "the name builtin is reserved for the offline provider"));
        }
        if name.is_empty() || name.contains('/') {
            errors.push(ConfigError::new(path.clone(), "a provider name must be non-empty and contain no '/'"));
        }
        if let Some(why) = base_url_problem(&p.base_url) {
            errors.push(ConfigError::new(format!("{path}.base_url"), why));
        }
        if p.connect_timeout_ms == 0 || p.response_timeout_ms == 0 {
            errors
                .push(ConfigError::new(path.clone(), "connect_timeout_ms and response_timeout_ms must be at least 1"));
        }
        if p.models.iter().any(|m| m.trim().is_empty()) {
            errors.push(ConfigError::new(format!("{path}.models"), "model names must not be empty"));
        }
    }
}

/// Longest `agent.approval_timeout_ms` accepted (one day): a turn waiting longer would hold its
/// agent thread and its session for no useful purpose.
pub const MAX_APPROVAL_TIMEOUT_MS: u64 = 24 * 3600 * 1000;

/// Largest `agent.max_tool_rounds` accepted.
pub const MAX_TOOL_ROUNDS: usize = 64;

fn validate_tools(agent: &AgentConfig, errors: &mut Vec<ConfigError>) {
    let known = crate::agent::tools::BUILTIN_TOOL_NAMES;
    let mut check = |path: String, name: &str| {
        if !known.contains(&name) {
            errors.push(ConfigError::new(
                path,
                format!("no built-in tool named {name:?} (the built-in tools are: {})", known.join(", ")),
            ));
        }
    };
    if let ToolSelection::Only(names) = &agent.tools.enabled {
        for (i, name) in names.iter().enumerate() {
            check(format!("agent.tools.enabled[{i}]"), name);
        }
    }
    for (i, name) in agent.tools.require_approval.iter().enumerate() {
        check(format!("agent.tools.require_approval[{i}]"), name);
    }
    if agent.approval_timeout_ms == 0 || agent.approval_timeout_ms > MAX_APPROVAL_TIMEOUT_MS {
        errors.push(ConfigError::new(
            "agent.approval_timeout_ms",
            format!("must be between 1 and {MAX_APPROVAL_TIMEOUT_MS}"),
        ));
    }
    if agent.max_tool_rounds == 0 || agent.max_tool_rounds > MAX_TOOL_ROUNDS {
        errors.push(ConfigError::new("agent.max_tool_rounds", format!("must be between 1 and {MAX_TOOL_ROUNDS}")));
    }
}

/// `models.embeddings`: `builtin/embed`, or a model of an OpenAI-compatible provider (the
/// request goes to its `/embeddings`; Anthropic has no embeddings API).
fn check_embeddings_model(id: &str, providers: &ProvidersConfig, errors: &mut Vec<ConfigError>) {
    let path = "models.embeddings";
    match ModelRef::parse(id) {
        Err(why) => errors.push(ConfigError::new(path, why)),
        Ok(r) if r.provider == BUILTIN_PROVIDER && r.model != crate::embed::builtin::EMBED_MODEL => {
            errors.push(ConfigError::new(
                path,
                format!("the built-in embeddings model is builtin/embed, not {:?}", r.to_string()),
            ));
        }
        Ok(r) if r.provider == BUILTIN_PROVIDER => {}
        Ok(r) => match providers.0.get(&r.provider) {
            None => errors.push(ConfigError::new(path, format!("no provider named {:?} under providers", r.provider))),
            Some(p) if p.kind == ProviderKind::Anthropic => errors.push(ConfigError::new(
                path,
                format!("provider {:?} is of kind anthropic, which has no embeddings API", r.provider),
            )),
            Some(_) => {}
        },
    }
}

/// Why `url` cannot be an API root, if it cannot.
fn base_url_problem(url: &str) -> Option<String> {
    if url.is_empty() {
        return Some("required for a provider that is not openai or anthropic".to_owned());
    }
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        None => Some(format!("{url:?} must start with http:// or https://")),
        Some(r) if r.is_empty() || r.starts_with('/') => Some(format!("{url:?} has no host")),
        Some(r) if r.contains(['?', '#', ' ']) => Some(format!("{url:?} must not have a query, fragment or space")),
        Some(_) => None,
    }
}
