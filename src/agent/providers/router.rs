//! Model routing: which provider runs a turn, the ordered fallbacks, and provider health.
//!
//! Guarantees:
//! - A turn runs on its model (the one asked for, else `agent.default_model`), then on each
//!   of `models.fallbacks` in order (skipping repeats), until one succeeds. The next model is
//!   tried only if the failed one streamed nothing (no text, no tool call) and the error allows
//!   it ([`ProviderError::allows_fallback`]: not an abort, not the turn deadline).
//! - Events go through an [`EventSink`]: `model:fallback_attempt` before each fallback,
//!   `model:fallback_exhausted` when every candidate of a turn that had fallbacks failed,
//!   `provider:degraded` at a provider's first failure (not again until it recovers), and
//!   `provider:recovered` at its first success after that. An abort is not the provider's
//!   fault and changes no health.
//! - Error messages in event payloads are those of [`ProviderError`], which carry no key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};

use super::abort::TurnControl;
use super::echo::EchoProvider;
use super::error::ProviderError;
use super::http::ApiKey;
use super::openai::{OpenAiProvider, OpenAiSettings};
use super::retry::RetryPolicy;
use super::types::{ModelInfo, ModelRef, StreamEvent, TurnRequest, TurnSummary};
use super::{Provider, anthropic::AnthropicProvider};
use crate::config::agent::{BUILTIN_PROVIDER, ProviderConfig, ProviderKind};
use crate::config::load::{ConfigError, resolve_secret};
use crate::config::schema::Config;

/// Where the router publishes its events (the event bus in the gateway, a recorder in tests).
pub trait EventSink: Send + Sync {
    /// Publish event `name` (a catalogue name) with `payload`.
    fn publish(&self, name: &'static str, payload: Value);
}

/// A sink that drops everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl EventSink for NullSink {
    fn publish(&self, _: &'static str, _: Value) {}
}

impl EventSink for crate::events::EventBus {
    fn publish(&self, name: &'static str, payload: Value) {
        // The router publishes only catalogue names (a unit test checks them), so this
        // cannot be refused; were it, a health event is not worth failing a turn for.
        let _ = Self::publish(self, name, &payload);
    }
}

/// The event names the router publishes.
pub const ROUTER_EVENTS: [&str; 4] =
    ["model:fallback_attempt", "model:fallback_exhausted", "provider:degraded", "provider:recovered"];

/// Runs one candidate: the provider, the model, and a flag it sets once something streamed.
type RunOne<'a> = dyn FnMut(&dyn Provider, &ModelRef, &mut bool) -> Result<TurnSummary, ProviderError> + 'a;

/// A turn that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedTurn {
    /// The model that produced it.
    pub model: ModelRef,
    /// What it produced.
    pub summary: TurnSummary,
    /// Models tried (1 when the first succeeded).
    pub attempts: u32,
}

/// A turn that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnFailure {
    /// The last error.
    pub error: ProviderError,
    /// The model that gave it (`None` when the model id could not be resolved at all).
    pub model: Option<ModelRef>,
    /// Whether text or a tool call had already been streamed when it failed.
    pub streamed: bool,
    /// Models tried.
    pub attempts: u32,
}

/// Routes turns to providers.
pub struct Router {
    providers: Vec<Arc<dyn Provider>>,
    default_model: ModelRef,
    fallbacks: Vec<ModelRef>,
    /// Provider name → degraded.
    degraded: Mutex<HashMap<String, bool>>,
    sink: Arc<dyn EventSink>,
    turn_timeout: Duration,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("providers", &self.providers)
            .field("default_model", &self.default_model)
            .field("fallbacks", &self.fallbacks)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router over `providers` (the built-in one is added if missing).
    #[must_use]
    pub fn new(
        mut providers: Vec<Arc<dyn Provider>>,
        default_model: ModelRef,
        fallbacks: Vec<ModelRef>,
        turn_timeout: Duration,
        sink: Arc<dyn EventSink>,
    ) -> Self {
        if !providers.iter().any(|p| p.name() == BUILTIN_PROVIDER) {
            providers.insert(0, Arc::new(EchoProvider::new()));
        }
        Self { providers, default_model, fallbacks, degraded: Mutex::new(HashMap::new()), sink, turn_timeout }
    }

    /// The router the configuration describes. Keys are resolved here: `api_key` (a literal or
    /// `{"env": …}`, which must be set), else the `api_key_env` variable (unset: no key).
    ///
    /// # Errors
    /// A model id that does not parse, or an `api_key` naming an unset variable.
    pub fn from_config(
        config: &Config,
        env: &dyn Fn(&str) -> Option<String>,
        sink: Arc<dyn EventSink>,
    ) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut providers: Vec<Arc<dyn Provider>> = vec![Arc::new(EchoProvider::new())];
        for (name, p) in &config.providers.0 {
            match settings(name, p, env) {
                Ok(s) if p.kind == ProviderKind::Anthropic => providers.push(Arc::new(AnthropicProvider::new(s))),
                Ok(s) => providers.push(Arc::new(OpenAiProvider::new(s))),
                Err(e) => errors.push(e),
            }
        }
        let parse = |path: String, id: &str| ModelRef::parse(id).map_err(|why| ConfigError::new(path, why));
        let default_model = parse("agent.default_model".to_owned(), &config.agent.default_model);
        let fallbacks: Vec<_> = config
            .models
            .fallbacks
            .iter()
            .enumerate()
            .map(|(i, id)| parse(format!("models.fallbacks[{i}]"), id))
            .collect();
        let default_model = default_model.map_err(|e| errors.push(e)).ok();
        let fallbacks: Vec<ModelRef> =
            fallbacks.into_iter().filter_map(|r| r.map_err(|e| errors.push(e)).ok()).collect();
        match default_model {
            Some(default_model) if errors.is_empty() => {
                let timeout = Duration::from_millis(config.agent.turn_timeout_ms);
                Ok(Self::new(providers, default_model, fallbacks, timeout, sink))
            }
            _ => Err(errors),
        }
    }

    /// The model a turn uses when it names none.
    #[must_use]
    pub const fn default_model(&self) -> &ModelRef {
        &self.default_model
    }

    /// `agent.turn_timeout_ms`, for building a [`TurnControl`].
    #[must_use]
    pub const fn turn_timeout(&self) -> Duration {
        self.turn_timeout
    }

    /// Every listed model: the default first, then each provider's, without repeats.
    #[must_use]
    pub fn models(&self) -> Vec<ModelInfo> {
        let mut all: Vec<ModelInfo> = Vec::new();
        let default_id = self.default_model.to_string();
        let listed = self.providers.iter().flat_map(|p| p.models());
        if let Some(p) = self.provider(&self.default_model.provider) {
            let info = p.models().into_iter().find(|m| m.id == default_id).unwrap_or_else(|| ModelInfo {
                id: default_id.clone(),
                provider: p.name().to_owned(),
                owned_by: p.name().to_owned(),
                builtin: p.name() == BUILTIN_PROVIDER,
            });
            all.push(info);
        }
        for m in listed {
            if !all.iter().any(|a| a.id == m.id) {
                all.push(m);
            }
        }
        all
    }

    /// The provider named `name`.
    #[must_use]
    pub fn provider(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.iter().find(|p| p.name() == name)
    }

    /// Resolve a model id: `provider/model`, or a bare name some provider lists (what OpenAI
    /// clients send), or `None` for the default model.
    ///
    /// # Errors
    /// [`ProviderError::UnknownModel`].
    pub fn resolve(&self, id: Option<&str>) -> Result<ModelRef, ProviderError> {
        let Some(id) = id.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(self.default_model.clone()) };
        if let Ok(r) = ModelRef::parse(id)
            && self.provider(&r.provider).is_some()
        {
            return Ok(r);
        }
        self.providers
            .iter()
            .flat_map(|p| p.models())
            .find(|m| m.id.split_once('/').is_some_and(|(_, model)| model == id))
            .and_then(|m| ModelRef::parse(&m.id).ok())
            .ok_or_else(|| ProviderError::UnknownModel(super::types::truncate(id, 128).to_owned()))
    }

    /// Run a streaming turn with fallbacks; see the module doc.
    ///
    /// # Errors
    /// [`TurnFailure`] with the last error.
    pub fn stream(
        &self,
        model: Option<&str>,
        request: &TurnRequest,
        ctl: &TurnControl,
        emit: &mut dyn FnMut(StreamEvent<'_>),
    ) -> Result<RoutedTurn, TurnFailure> {
        self.route(model, ctl, &mut |provider, m, streamed| {
            provider.stream(&m.model, request, ctl, &mut |e| {
                if matches!(e, StreamEvent::TextDelta(_) | StreamEvent::ToolCall(_)) {
                    *streamed = true;
                }
                emit(e);
            })
        })
    }

    /// Run a non-streaming turn with fallbacks.
    ///
    /// # Errors
    /// [`TurnFailure`] with the last error.
    pub fn complete(
        &self,
        model: Option<&str>,
        request: &TurnRequest,
        ctl: &TurnControl,
    ) -> Result<RoutedTurn, TurnFailure> {
        self.route(model, ctl, &mut |provider, m, _| provider.complete(&m.model, request, ctl))
    }

    fn route(&self, model: Option<&str>, ctl: &TurnControl, run: &mut RunOne<'_>) -> Result<RoutedTurn, TurnFailure> {
        let first =
            self.resolve(model).map_err(|error| TurnFailure { error, model: None, streamed: false, attempts: 0 })?;
        let mut candidates = vec![first];
        for f in &self.fallbacks {
            if !candidates.contains(f) {
                candidates.push(f.clone());
            }
        }
        let mut attempts = 0u32;
        let mut last: Option<(ModelRef, ProviderError)> = None;
        for candidate in candidates {
            if let Some((from, error)) = &last {
                self.sink.publish(
                    "model:fallback_attempt",
                    json!({ "fromModel": from.to_string(), "toModel": candidate.to_string(),
                            "attempt": attempts, "error": error_json(error) }),
                );
            }
            attempts = attempts.saturating_add(1);
            let mut streamed = false;
            let result = match self.provider(&candidate.provider) {
                Some(p) => run(p.as_ref(), &candidate, &mut streamed),
                None => Err(ProviderError::UnknownModel(candidate.to_string())),
            };
            match result {
                Ok(summary) => {
                    self.mark_healthy(&candidate);
                    return Ok(RoutedTurn { model: candidate, summary, attempts });
                }
                Err(error) => {
                    if !matches!(error, ProviderError::Aborted | ProviderError::UnknownModel(_)) {
                        self.mark_degraded(&candidate, &error);
                    }
                    if streamed || !error.allows_fallback() || ctl.check().is_err() {
                        return Err(TurnFailure { error, model: Some(candidate), streamed, attempts });
                    }
                    last = Some((candidate, error));
                }
            }
        }
        let Some((model, error)) = last else {
            // Unreachable: the candidate list is never empty. Report it rather than panic.
            return Err(TurnFailure {
                error: ProviderError::UnknownModel(String::new()),
                model: None,
                streamed: false,
                attempts,
            });
        };
        if attempts > 1 {
            self.sink.publish(
                "model:fallback_exhausted",
                json!({ "attempts": attempts, "lastModel": model.to_string(), "error": error_json(&error) }),
            );
        }
        Err(TurnFailure { error, model: Some(model), streamed: false, attempts })
    }

    fn mark_degraded(&self, model: &ModelRef, error: &ProviderError) {
        let newly = {
            let mut map = self.degraded.lock();
            let entry = map.entry(model.provider.clone()).or_insert(false);
            !std::mem::replace(entry, true)
        };
        if newly {
            self.sink.publish(
                "provider:degraded",
                json!({ "provider": model.provider, "model": model.to_string(), "error": error_json(error) }),
            );
        }
    }

    fn mark_healthy(&self, model: &ModelRef) {
        let recovered = self.degraded.lock().get_mut(&model.provider).is_some_and(|d| std::mem::replace(d, false));
        if recovered {
            self.sink.publish("provider:recovered", json!({ "provider": model.provider, "model": model.to_string() }));
        }
    }

    /// Whether the provider named `name` is currently degraded.
    #[must_use]
    pub fn is_degraded(&self, name: &str) -> bool {
        self.degraded.lock().get(name).copied().unwrap_or(false)
    }
}

fn error_json(e: &ProviderError) -> Value {
    json!({ "code": e.code(), "message": e.to_string() })
}

/// Client settings for one configured provider, with its key resolved.
pub(crate) fn settings(
    name: &str,
    p: &ProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<OpenAiSettings, ConfigError> {
    let key = match (&p.api_key, &p.api_key_env) {
        (Some(secret), _) => Some(ApiKey::new(&resolve_secret(&format!("providers.{name}.api_key"), secret, env)?)),
        (None, Some(var)) => env(var).filter(|k| !k.trim().is_empty()).map(|k| ApiKey::new(&k)),
        (None, None) => None,
    };
    Ok(OpenAiSettings {
        name: name.to_owned(),
        base_url: p.base_url.clone(),
        key,
        models: p.models.clone(),
        retry: RetryPolicy { max_retries: p.max_retries, ..RetryPolicy::default() },
        connect_timeout: Duration::from_millis(p.connect_timeout_ms),
        response_timeout: Duration::from_millis(p.response_timeout_ms),
    })
}
