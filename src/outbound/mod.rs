//! Durable outbound delivery: the replies going back to chat platforms.
//!
//! Shape: [`Outbound::enqueue`] splits a reply into the platform's message size, writes one
//! outbox row per part through the store's writer (never blocking the caller) and rings the
//! sender's doorbell; the `talon-outbound` thread ([`sender`]) takes due rows, builds each
//! platform's request with a sans-IO builder (one file per channel), sends it with `ureq` and
//! records the classified outcome (`sent`, `pending` with a later `next_attempt_ms`, or
//! `failed` with the platform's error text).
//!
//! Guarantees:
//! - **At least once.** A row is marked `sent` only after the platform accepted the request.
//!   The duplicate window is a crash (or a failed state write) between the platform's 2xx and
//!   the commit of `sent`: the row is still `pending` and is sent again after the restart.
//!   Where the platform deduplicates, the key comes from the row (LINE `X-Line-Retry-Key`,
//!   Lark `uuid`), so that resend is absorbed; Telegram, Slack, Discord and WhatsApp have no
//!   idempotency key for these calls, so a duplicate is possible there in that window.
//! - **Builders and classifiers are pure**: bytes and time in, request or verdict out; they are
//!   table-tested against `proto/outbound/*.json`.
//! - **Secrets never leave**: tokens travel only in the header or path the platform names;
//!   every error text stored or logged has them replaced by `***`.

mod api;
pub mod backoff;
pub mod discord;
mod http;
pub mod lark;
pub mod line;
pub mod request;
mod sender;
pub mod slack;
pub mod split;
pub mod stats;
pub mod target;
pub mod telegram;
pub mod whatsapp;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use api::{EnqueueError, Outbound, QueuedRows, missing_send_key, reply_rows};
pub use target::Target;

/// Largest text one [`Outbound::enqueue`] takes; longer is refused with
/// [`EnqueueError::TooLong`] (a runaway reply must not fill the outbox with hundreds of rows).
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// Most bytes of a platform response read (to classify it and keep its error text).
pub const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// Most characters of a platform's error text kept in the outbox row.
pub const MAX_ERROR_CHARS: usize = 512;

/// One HTTP request to a platform, built without I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRequest {
    /// Always `POST` for the calls here.
    pub method: &'static str,
    /// The full URL (`api_base` + path + query).
    pub url: String,
    /// Headers besides `Content-Type` (which is always `application/json; charset=utf-8`).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// A platform response, as the classifiers see it.
#[derive(Debug, Clone, Copy)]
pub struct OutResponse<'a> {
    /// HTTP status.
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<&'a str>,
    /// The body (at most [`MAX_RESPONSE_BYTES`]).
    pub body: &'a [u8],
}

/// What a response means for the outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The platform accepted it.
    Sent,
    /// Try again later: rate limit, 5xx, a transient platform error. `after` is what the
    /// platform asked for (it wins over the backoff when longer).
    Retry {
        /// The platform's demanded delay.
        after: Option<Duration>,
        /// Why, for the row's `error`.
        error: String,
    },
    /// Never going to work as is (bad target, bad token, message refused).
    Failed {
        /// The platform's error text.
        error: String,
    },
}

/// The `Retry-After` header in its delta-seconds form (the platforms here never send a date).
#[must_use]
pub fn retry_after_header(value: Option<&str>) -> Option<Duration> {
    let secs: f64 = value?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(backoff::MAX_RETRY_AFTER.as_secs_f64())))
}

/// The usual classification by status alone: 2xx sent, 429/5xx retry, other failed.
fn by_status(response: &OutResponse<'_>, error: String, after: Option<Duration>) -> Verdict {
    match response.status {
        200..=299 => Verdict::Sent,
        429 | 500..=599 => Verdict::Retry { after: after.or_else(|| retry_after_header(response.retry_after)), error },
        _ => Verdict::Failed { error },
    }
}

/// `text` cut to [`MAX_ERROR_CHARS`] characters.
#[must_use]
pub fn clip_error(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The body's text when it is not the JSON a classifier expected (bounded).
fn raw_text(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() { format!("HTTP {status}") } else { clip_error(&format!("HTTP {status}: {text}")) }
}

/// A JSON body as a value (`Null` when it is not JSON).
fn json_body(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or(serde_json::Value::Null)
}

/// A deterministic RFC 4122-shaped UUID (version 4 bits) for an outbox row: the same row always
/// gets the same key, two rows (or two databases) practically never share one.
#[must_use]
pub fn idempotency_uuid(outbox_id: i64, created_ms: u64) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("talon-outbox:{outbox_id}:{created_ms}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}
