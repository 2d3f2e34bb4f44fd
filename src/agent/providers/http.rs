//! The HTTP side every upstream client shares: one `ureq` agent per attempt (rustls with ring),
//! retries with backoff, error bodies mapped to [`ProviderError`], and the read loop that feeds
//! a streamed body through the bounded SSE decoder into a chunk decoder.
//!
//! Guarantees:
//! - A request is retried only before any response body was read (so before any token was
//!   streamed): on a connection error, a 429 or a 5xx, at most `max_retries` times, waiting the
//!   upstream's `Retry-After` / `retry-after-ms` or the backoff, and never past the turn
//!   deadline (a wait that would pass it is not taken).
//! - Every attempt's agent is registered with the turn's [`AbortHandle`], so an abort closes
//!   the socket and a blocked read returns at once; the agent's global timeout is the time left
//!   in the turn, so a stalled upstream cannot hold the thread past the deadline.
//! - The API key is sent only in the header the provider names; error messages have it
//!   replaced by `***` before they are kept. [`ApiKey`]'s `Debug` never shows it.
//! - Bounded: error bodies are read up to [`MAX_ERROR_BODY_BYTES`], non-streaming bodies up to
//!   [`MAX_COMPLETION_BODY_BYTES`], streamed text and SSE framing as [`UpstreamStream`] bounds them.

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::abort::{AbortHandle, TurnControl};
use super::error::{HttpErrorKind, ProviderError, StreamError, TimeoutKind, upstream_message};
use super::retry::{RetryPolicy, upstream_demand};
use super::stream::{ChunkDecoder, UpstreamStream};
use super::types::{ModelInfo, StreamEvent, TurnSummary};

/// Most bytes of an error response body read (for its message); the rest is not read.
pub const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;

/// Largest non-streaming completion body. Larger: [`StreamError::OutputTooLarge`].
pub const MAX_COMPLETION_BODY_BYTES: u64 = 8 * 1024 * 1024;

/// Size of one read from the upstream body.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// Default of `providers.<name>.connect_timeout_ms`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default of `providers.<name>.response_timeout_ms`: how long to wait for the response head.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// The agent's input and output buffers (ureq's default is 128 KiB each), per upstream
/// connection: with 64 turns streaming at once the default cost about 16 MiB of resident
/// memory. 16 KiB holds any LLM API's response head and streams a body in pieces; a request
/// body larger than this is written in several passes.
const UPSTREAM_BUFFER_BYTES: usize = 16 * 1024;

/// Largest upstream response head accepted (ureq's default is 64 KiB; it must fit the input
/// buffer). LLM APIs send a few KiB; a longer head fails the attempt as a connection error.
const MAX_UPSTREAM_HEAD_BYTES: usize = UPSTREAM_BUFFER_BYTES;

/// Sent as `User-Agent`.
const USER_AGENT: &str = concat!("talon/", env!("CARGO_PKG_VERSION"));

/// An upstream API key. Its `Debug` shows `ApiKey(***)`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wrap a key (surrounding whitespace removed, as pasted keys often carry a newline).
    #[must_use]
    pub fn new(key: &str) -> Self {
        Self(key.trim().to_owned())
    }

    /// The key itself, for the one header that carries it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced by `***`.
    #[must_use]
    pub fn scrub(&self, text: String) -> String {
        if self.0.is_empty() || !text.contains(&self.0) { text } else { text.replace(&self.0, "***") }
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Where and how one provider sends its requests.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The full URL of the call (`{base_url}/chat/completions`, `{base_url}/v1/messages`).
    pub url: String,
    /// Headers besides `Content-Type`, including the key header; never logged.
    pub headers: Vec<(&'static str, HeaderValue)>,
    /// The key, to scrub it from error messages.
    pub key: Option<ApiKey>,
    /// Retries.
    pub retry: RetryPolicy,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Time to the response head.
    pub response_timeout: Duration,
}

/// A header value: plain, or secret (the key; kept out of `Debug`).
#[derive(Debug, Clone)]
pub enum HeaderValue {
    /// Shown in `Debug`.
    Plain(String),
    /// `prefix` followed by the key (`Bearer `, or empty for `x-api-key`).
    Secret {
        /// Text before the key.
        prefix: &'static str,
        /// The key.
        key: ApiKey,
    },
}

/// A successful response whose body has not been read, with the agent that owns it.
pub(crate) struct Opened {
    response: ureq::http::Response<ureq::Body>,
    abort: AbortHandle,
}

impl Drop for Opened {
    fn drop(&mut self) {
        self.abort.detach();
    }
}

/// Send `body` (JSON) to the endpoint, retrying as the module doc says, and return the first
/// 2xx response.
///
/// # Errors
/// Abort, the turn deadline, a connection error or an error status after the last retry.
pub(crate) fn send(endpoint: &Endpoint, body: &[u8], ctl: &TurnControl) -> Result<Opened, ProviderError> {
    let mut retry = 0u32;
    loop {
        ctl.check()?;
        let (error, demand) = match attempt(endpoint, body, ctl) {
            Ok(opened) => return Ok(opened),
            Err(Failure { error, retryable: false, .. }) => return Err(error),
            Err(Failure { error, demand, .. }) => (error, demand),
        };
        if retry >= endpoint.retry.max_retries {
            return Err(error);
        }
        let Some(delay) = endpoint.retry.delay(retry, demand) else { return Err(error) };
        if delay >= ctl.remaining() {
            return Err(error);
        }
        if ctl.abort.sleep(delay) {
            return Err(ProviderError::Aborted);
        }
        retry = retry.saturating_add(1);
    }
}

/// One failed attempt: the error, whether sending again may help, and the upstream's demand.
struct Failure {
    error: ProviderError,
    retryable: bool,
    demand: Option<Duration>,
}

impl From<ProviderError> for Failure {
    fn from(error: ProviderError) -> Self {
        Self { error, retryable: false, demand: None }
    }
}

fn attempt(endpoint: &Endpoint, body: &[u8], ctl: &TurnControl) -> Result<Opened, Failure> {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(USER_AGENT)
        .timeout_global(Some(ctl.remaining()))
        .timeout_connect(Some(endpoint.connect_timeout))
        .timeout_recv_response(Some(endpoint.response_timeout))
        .input_buffer_size(UPSTREAM_BUFFER_BYTES)
        .output_buffer_size(UPSTREAM_BUFFER_BYTES)
        .max_response_header_size(MAX_UPSTREAM_HEAD_BYTES)
        .build();
    let agent: ureq::Agent = config.into();
    ctl.abort.attach(&agent)?;
    let mut request = agent.post(&endpoint.url).header("content-type", "application/json");
    for (name, value) in &endpoint.headers {
        request = match value {
            HeaderValue::Plain(v) => request.header(*name, v.as_str()),
            HeaderValue::Secret { prefix, key } => request.header(*name, format!("{prefix}{}", key.expose())),
        };
    }
    let result = request.send(body);
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            ctl.abort.detach();
            let error = transport_error(&e, ctl, endpoint.key.as_ref());
            let retryable =
                matches!(error, ProviderError::Connect { .. } | ProviderError::Timeout(TimeoutKind::Connect));
            return Err(Failure { error, retryable, demand: None });
        }
    };
    let opened = Opened { response, abort: ctl.abort.clone() };
    let status = opened.response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(opened);
    }
    let header = |name: &str| opened.response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let demand = upstream_demand(header("retry-after-ms").as_deref(), header("retry-after").as_deref(), now);
    let mut opened = opened;
    let mut text = Vec::new();
    // A body that cannot be read still leaves a status to report.
    let _ = opened.response.body_mut().as_reader().take(MAX_ERROR_BODY_BYTES).read_to_end(&mut text);
    let message = upstream_message(&text);
    let message = endpoint.key.as_ref().map_or(message.clone(), |k| k.scrub(message));
    let kind = HttpErrorKind::of(status);
    let error = ProviderError::Http { status, kind, message, retry_after: demand };
    Err(Failure { error, retryable: kind.is_retryable(), demand })
}

/// Map a transport error of a request (before any body byte) to a provider error.
fn transport_error(e: &ureq::Error, ctl: &TurnControl, key: Option<&ApiKey>) -> ProviderError {
    if ctl.abort.is_aborted() {
        return ProviderError::Aborted;
    }
    match e {
        ureq::Error::Timeout(ureq::Timeout::Global | ureq::Timeout::PerCall) => {
            ProviderError::Timeout(TimeoutKind::Turn)
        }
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            ProviderError::Timeout(TimeoutKind::Connect)
        }
        ureq::Error::Timeout(_) if ctl.remaining().is_zero() => ProviderError::Timeout(TimeoutKind::Turn),
        ureq::Error::Timeout(_) => ProviderError::Timeout(TimeoutKind::Response),
        other => {
            let detail = other.to_string();
            ProviderError::Connect { detail: key.map_or(detail.clone(), |k| k.scrub(detail)) }
        }
    }
}

/// Map an error from reading the body.
fn read_error(e: &std::io::Error, ctl: &TurnControl) -> ProviderError {
    if ctl.abort.is_aborted() {
        return ProviderError::Aborted;
    }
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>());
    let timed_out = e.kind() == std::io::ErrorKind::TimedOut || matches!(inner, Some(ureq::Error::Timeout(_)));
    if timed_out || ctl.remaining().is_zero() {
        // The body has only the global (turn) timeout.
        return ProviderError::Timeout(TimeoutKind::Turn);
    }
    ProviderError::Read { detail: e.to_string() }
}

/// Read a streamed body to its end marker (or EOF), decoding as it arrives.
///
/// # Errors
/// Abort, the turn deadline, a read error, or a decoding error.
pub(crate) fn read_stream<D: ChunkDecoder>(
    mut opened: Opened,
    stream: &mut UpstreamStream<D>,
    ctl: &TurnControl,
    emit: &mut dyn FnMut(StreamEvent<'_>),
) -> Result<(), ProviderError> {
    let mut reader = opened.response.body_mut().as_reader();
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    loop {
        ctl.check()?;
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(&e, ctl)),
        };
        if n == 0 {
            break;
        }
        stream.feed(buf.get(..n).unwrap_or_default(), emit)?;
        if stream.is_ended() {
            // The end marker: do not wait for the connection to close.
            return Ok(());
        }
    }
    ctl.check()?;
    stream.finish(emit)?;
    Ok(())
}

/// Read a whole non-streaming body (bounded by [`MAX_COMPLETION_BODY_BYTES`]).
///
/// # Errors
/// Abort, the turn deadline, a read error, or a body over the bound.
pub(crate) fn read_body(opened: Opened, ctl: &TurnControl) -> Result<Vec<u8>, ProviderError> {
    read_body_up_to(opened, ctl, MAX_COMPLETION_BODY_BYTES)
}

/// Read a whole body of at most `limit` bytes.
///
/// # Errors
/// Abort, the deadline, a read error, or a body over `limit` ([`StreamError::OutputTooLarge`]).
pub(crate) fn read_body_up_to(mut opened: Opened, ctl: &TurnControl, limit: u64) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    let reader = opened.response.body_mut().as_reader();
    match reader.take(limit.saturating_add(1)).read_to_end(&mut body) {
        Ok(_) => {}
        Err(e) => return Err(read_error(&e, ctl)),
    }
    if u64::try_from(body.len()).unwrap_or(u64::MAX) > limit {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        return Err(StreamError::OutputTooLarge { limit }.into());
    }
    Ok(body)
}

/// A request body as bytes.
fn encode(body: &serde_json::Value) -> Vec<u8> {
    // A `Value` with string keys always serialises.
    serde_json::to_vec(body).unwrap_or_default()
}

/// The models an upstream provider is configured with, as `provider/model`.
pub(crate) fn listed_models(provider: &str, models: &[String]) -> Vec<ModelInfo> {
    let info = |m: &String| ModelInfo {
        id: format!("{provider}/{m}"),
        provider: provider.to_owned(),
        owned_by: provider.to_owned(),
        builtin: false,
    };
    models.iter().map(info).collect()
}

/// One streamed turn: send `body`, then decode the streamed answer with `decoder`.
pub(crate) fn stream_turn<D: ChunkDecoder>(
    endpoint: &Endpoint,
    body: &serde_json::Value,
    decoder: D,
    ctl: &TurnControl,
    emit: &mut dyn FnMut(StreamEvent<'_>),
) -> Result<TurnSummary, ProviderError> {
    let opened = send(endpoint, &encode(body), ctl)?;
    let mut summary = TurnSummary::default();
    let mut stream = UpstreamStream::new(decoder);
    read_stream(opened, &mut stream, ctl, &mut super::recording(&mut summary, emit))?;
    Ok(summary)
}

/// The decoder of a whole (non-streamed) answer.
pub(crate) type DecodeWhole = fn(&[u8], &mut dyn FnMut(StreamEvent<'_>)) -> Result<(), StreamError>;

/// One turn without streaming: send `body`, read the bounded answer, decode it with `decode`.
pub(crate) fn complete_turn(
    endpoint: &Endpoint,
    body: &serde_json::Value,
    decode: DecodeWhole,
    ctl: &TurnControl,
) -> Result<TurnSummary, ProviderError> {
    let opened = send(endpoint, &encode(body), ctl)?;
    let answer = read_body(opened, ctl)?;
    let mut summary = TurnSummary::default();
    decode(&answer, &mut |e| summary.record(e))?;
    Ok(summary)
}
