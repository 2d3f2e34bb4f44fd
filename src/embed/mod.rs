//! Embeddings: `POST /v1/embeddings` with the built-in offline model (`builtin/embed`) or
//! forwarded to the OpenAI-compatible provider model named by `models.embeddings`.
//!
//! - [`wire`]: the client's request and the answer (float or base64), with the input limits.
//! - [`builtin`]: the deterministic feature-hashing model.
//! - [`upstream`]: the forwarding client and the decoder of the upstream's answer.
//!
//! Guarantees:
//! - Model choice: no `model` means the configured one (`models.embeddings`, else
//!   `builtin/embed`); `builtin/embed` (or `embed`) is always served; the configured
//!   `provider/model` is also matched by its bare model name; any other model is a 404
//!   `model_not_found` before any work is queued.
//! - Nothing runs on the I/O loop but the parse of the (bounded) body and this choice. The
//!   built-in model runs on the worker pool (a few microseconds per input). A forwarded call
//!   runs on its own pool, `talon-embed-N`: [`UPSTREAM_THREADS`] threads behind a queue of
//!   [`UPSTREAM_QUEUE`] calls, so an upstream that takes seconds holds only those threads and
//!   never the worker pool that serves config and inbox RPCs; a full queue is a 503 with
//!   `Retry-After: 1`. The pool exists only when `models.embeddings` names an upstream.
//! - A forwarded call is bounded by the provider's `connect_timeout_ms`/`response_timeout_ms`
//!   per attempt and by `agent.turn_timeout_ms` in all (retries included); past it: 504.
//!   Shutdown aborts calls in flight (their sockets are closed at once) and refuses new ones.

pub mod builtin;
pub mod upstream;
pub mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::agent::providers::abort::{AbortHandle, TurnControl};
use crate::agent::providers::echo::BUILTIN_OWNER;
use crate::agent::providers::error::{ProviderError, StreamError};
use crate::agent::providers::types::{ModelInfo, ModelRef, truncate};
use crate::config::agent::BUILTIN_PROVIDER;
use crate::config::load::ConfigError;
use crate::config::schema::Config;
use crate::error::GatewayError;
use crate::workers::{Job, WorkerPool};
use upstream::{UpstreamEmbeddings, UpstreamError};
use wire::{EmbedRequest, Embedded};

/// Threads that run forwarded embeddings calls (their own pool, see the module doc).
pub const UPSTREAM_THREADS: usize = 2;

/// Forwarded calls waiting for one of [`UPSTREAM_THREADS`]; past it a new call gets 503 with
/// `Retry-After: 1`.
pub const UPSTREAM_QUEUE: usize = 32;

/// `builtin/embed`.
#[must_use]
pub fn builtin_id() -> String {
    format!("{BUILTIN_PROVIDER}/{}", builtin::EMBED_MODEL)
}

/// Where a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The built-in model, on the worker pool.
    Builtin,
    /// The configured upstream, on the embeddings pool.
    Upstream,
}

/// What every forwarded call shares.
#[derive(Debug)]
struct Shared {
    /// `provider/model` and its client, when `models.embeddings` names an upstream.
    upstream: Option<(ModelRef, UpstreamEmbeddings)>,
    /// Abort handles of the calls in flight, by call number.
    running: Mutex<HashMap<u64, AbortHandle>>,
    next_call: AtomicU64,
    closing: AtomicBool,
    /// `agent.turn_timeout_ms`: the deadline of one forwarded call.
    timeout: Duration,
}

/// The embeddings service of a running gateway.
#[derive(Debug)]
pub struct Embeddings {
    shared: Arc<Shared>,
    pool: Option<WorkerPool>,
}

/// A checked request bound to its model, ready to run on its [`Target`]'s pool.
#[derive(Debug)]
pub struct Call {
    target: Target,
    request: EmbedRequest,
    model_id: String,
    shared: Arc<Shared>,
}

impl Embeddings {
    /// The service `config` describes (the key of the provider is resolved here, as the
    /// router does), and its pool when an upstream is configured.
    ///
    /// # Errors
    /// The provider's key names an unset variable, or a thread cannot start.
    pub fn from_config(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> std::io::Result<Self> {
        let configured = config.models.embeddings.as_deref().map(ModelRef::parse).transpose();
        let configured = configured.map_err(|why| config_error(&[ConfigError::new("models.embeddings", why)]))?;
        let upstream = match configured {
            Some(r) if r.provider != BUILTIN_PROVIDER => {
                let Some(p) = config.providers.0.get(&r.provider) else {
                    let why = format!("no provider named {:?} under providers", r.provider);
                    return Err(config_error(&[ConfigError::new("models.embeddings", why)]));
                };
                let settings =
                    crate::agent::providers::router::settings(&r.provider, p, env).map_err(|e| config_error(&[e]))?;
                let client = UpstreamEmbeddings::new(&settings, &r.model);
                Some((r, client))
            }
            _ => None,
        };
        let pool = match upstream {
            Some(_) => Some(WorkerPool::start_named("talon-embed", UPSTREAM_THREADS, UPSTREAM_QUEUE)?),
            None => None,
        };
        let shared = Shared {
            upstream,
            running: Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            timeout: Duration::from_millis(config.agent.turn_timeout_ms),
        };
        Ok(Self { shared: Arc::new(shared), pool })
    }

    /// The embeddings models for `/v1/models`: `builtin/embed`, then the configured one.
    #[must_use]
    pub fn models(&self) -> Vec<ModelInfo> {
        let mut list = vec![ModelInfo {
            id: builtin_id(),
            provider: BUILTIN_PROVIDER.to_owned(),
            owned_by: BUILTIN_OWNER.to_owned(),
            builtin: true,
        }];
        if let Some((r, _)) = &self.shared.upstream {
            list.push(ModelInfo {
                id: r.to_string(),
                provider: r.provider.clone(),
                owned_by: r.provider.clone(),
                builtin: false,
            });
        }
        list
    }

    /// Bind `request` to its model and check what can be checked before queuing it.
    ///
    /// # Errors
    /// [`GatewayError::ModelNotFound`] (404) for a model not served here; 400 for a built-in
    /// `dimensions` over [`builtin::MAX_BUILTIN_DIMENSIONS`].
    pub fn prepare(&self, request: EmbedRequest) -> Result<Call, GatewayError> {
        let builtin_id = builtin_id();
        let upstream = self.shared.upstream.as_ref().map(|(r, _)| r);
        let target = match (request.model.as_deref(), upstream) {
            (None, Some(_)) => Target::Upstream,
            (None, None) => Target::Builtin,
            (Some(m), _) if m == builtin_id || m == builtin::EMBED_MODEL => Target::Builtin,
            (Some(m), Some(r)) if m == r.to_string() || m == r.model => Target::Upstream,
            (Some(m), _) => return Err(GatewayError::ModelNotFound(truncate(m, 128).to_owned())),
        };
        if target == Target::Builtin
            && let Some(d) = request.dimensions.filter(|d| *d > builtin::MAX_BUILTIN_DIMENSIONS)
        {
            return Err(GatewayError::InvalidParams(format!(
                "dimensions {d} is more than {} ({builtin_id} allows 1 to {0})",
                builtin::MAX_BUILTIN_DIMENSIONS
            )));
        }
        let model_id = match (target, upstream) {
            (Target::Upstream, Some(r)) => r.to_string(),
            _ => builtin_id,
        };
        Ok(Call { target, request, model_id, shared: Arc::clone(&self.shared) })
    }

    /// Queue a forwarded call's job on the embeddings pool, without blocking.
    ///
    /// # Errors
    /// The queue is full or stopping (or no upstream is configured): the job comes back.
    #[allow(clippy::result_large_err)]
    pub fn submit_upstream(&self, job: Job) -> Result<(), Job> {
        match &self.pool {
            Some(pool) => pool.submit(job),
            None => Err(job),
        }
    }

    /// Forwarded calls waiting for a thread of the embeddings pool (0 without an upstream).
    #[must_use]
    pub fn queued(&self) -> usize {
        self.pool.as_ref().map_or(0, WorkerPool::depth)
    }

    /// Refuse new forwarded calls, abort those in flight, and join the pool's threads.
    pub fn shutdown(&self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        let running: Vec<AbortHandle> = self.shared.running.lock().values().cloned().collect();
        for handle in running {
            handle.abort();
        }
        if let Some(pool) = &self.pool {
            pool.shutdown();
        }
    }
}

fn config_error(errors: &[ConfigError]) -> std::io::Error {
    let why: Vec<String> = errors.iter().map(ToString::to_string).collect();
    std::io::Error::other(format!("embeddings configuration: {}", why.join("; ")))
}

impl Call {
    /// Which pool this call must run on.
    #[must_use]
    pub const fn target(&self) -> Target {
        self.target
    }

    /// Run the call (on its pool, never on the I/O loop) and build the answer body.
    ///
    /// # Errors
    /// 502 / 504 ([`GatewayError::Upstream`]) when the upstream fails or answers something
    /// unusable; 503 when the gateway is shutting down.
    pub fn run(self) -> Result<Vec<u8>, GatewayError> {
        let embedded = match self.target {
            Target::Builtin => run_builtin(&self.request),
            Target::Upstream => self.shared.forward(&self.request)?,
        };
        Ok(wire::answer_body(&embedded, &self.model_id, self.request.format))
    }
}

fn run_builtin(request: &EmbedRequest) -> Embedded {
    let dims = request.dimensions.unwrap_or(builtin::DEFAULT_DIMENSIONS);
    let vectors = request.inputs.iter().map(|t| builtin::embed(t, dims)).collect();
    let prompt_tokens = request.inputs.iter().map(|t| builtin::count_tokens(t)).fold(0u64, u64::saturating_add);
    Embedded { vectors, prompt_tokens }
}

impl Shared {
    fn forward(&self, request: &EmbedRequest) -> Result<Embedded, GatewayError> {
        let Some((_, client)) = &self.upstream else {
            return Err(GatewayError::Internal("no embeddings upstream is configured".into()));
        };
        if self.closing.load(Ordering::SeqCst) {
            return Err(GatewayError::ShuttingDown);
        }
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        let ctl = TurnControl::new(self.timeout);
        self.running.lock().insert(call, ctl.abort.clone());
        // Shutdown may have aborted the running set just before this call joined it.
        let result = if self.closing.load(Ordering::SeqCst) {
            Err(UpstreamError::Provider(ProviderError::Aborted))
        } else {
            client.embed(request, &ctl)
        };
        self.running.lock().remove(&call);
        result.map_err(|e| upstream_error(e, self.timeout))
    }
}

/// The one mapping from a failed forwarded call to a gateway error (status chosen in
/// `crate::error`).
fn upstream_error(e: UpstreamError, timeout: Duration) -> GatewayError {
    let upstream = |kind: &str, message: String| GatewayError::Upstream { kind: kind.to_owned(), message };
    match e {
        UpstreamError::Provider(ProviderError::Aborted) => GatewayError::ShuttingDown,
        UpstreamError::Provider(ProviderError::Stream(StreamError::OutputTooLarge { limit })) => upstream(
            "upstream_answer_too_large",
            format!("the upstream's answer is larger than {limit} bytes; send fewer inputs per request"),
        ),
        UpstreamError::Provider(e @ ProviderError::Timeout(crate::agent::providers::TimeoutKind::Turn)) => upstream(
            e.code(),
            format!("the embeddings call took longer than {} ms (agent.turn_timeout_ms)", timeout.as_millis()),
        ),
        UpstreamError::Provider(e) => upstream(e.code(), e.to_string()),
        UpstreamError::Answer(bad) => upstream("bad_upstream_answer", bad.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(embeddings: Option<&str>) -> Embeddings {
        let mut config = Config::default();
        config.models.embeddings = embeddings.map(str::to_owned);
        let mut p = config.providers.0.get("openai").cloned().unwrap_or_else(|| panic!("openai provider"));
        p.base_url = "http://127.0.0.1:9/v1".into();
        config.providers.0.insert("local".into(), p);
        Embeddings::from_config(&config, &|_| None).unwrap_or_else(|e| panic!("{e}"))
    }

    fn request(model: Option<&str>) -> EmbedRequest {
        EmbedRequest {
            model: model.map(str::to_owned),
            inputs: vec!["hi".into()],
            format: wire::EncodingFormat::Float,
            dimensions: None,
        }
    }

    #[test]
    fn model_choice() {
        let builtin = service(None);
        assert!(builtin.pool.is_none(), "no pool without an upstream");
        let target = |s: &Embeddings, m| s.prepare(request(m)).map(|c| c.target());
        assert_eq!(target(&builtin, None), Ok(Target::Builtin));
        assert_eq!(target(&builtin, Some("builtin/embed")), Ok(Target::Builtin));
        assert_eq!(target(&builtin, Some("embed")), Ok(Target::Builtin));
        assert_eq!(target(&builtin, Some("local/minilm")), Err(GatewayError::ModelNotFound("local/minilm".into())));
        assert_eq!(target(&builtin, Some("builtin/echo")), Err(GatewayError::ModelNotFound("builtin/echo".into())));
        let forwarded = service(Some("local/minilm"));
        assert_eq!(target(&forwarded, None), Ok(Target::Upstream));
        assert_eq!(target(&forwarded, Some("minilm")), Ok(Target::Upstream));
        assert_eq!(target(&forwarded, Some("local/minilm")), Ok(Target::Upstream));
        assert_eq!(target(&forwarded, Some("builtin/embed")), Ok(Target::Builtin));
        let ids: Vec<String> = forwarded.models().into_iter().map(|m| m.id).collect();
        assert_eq!(ids, ["builtin/embed", "local/minilm"]);
        forwarded.shutdown();
        let mut big = request(None);
        big.dimensions = Some(builtin::MAX_BUILTIN_DIMENSIONS + 1);
        assert!(matches!(builtin.prepare(big), Err(GatewayError::InvalidParams(_))));
    }
}
