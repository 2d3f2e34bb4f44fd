//! Sans-IO JSON-RPC for the WebSocket `/ws` endpoint: decode one text frame into calls, encode
//! replies, events and notifications. Two dialects share the socket and are chosen per frame:
//!
//! * **Frames** (Human/OpenClaw): `{"type":"req","id":"1","method":"chat.send","params":{…}}`,
//!   answered with `{"type":"res","id":…,"ok":true,"payload":…}` or `"ok":false,"error":{…}`;
//!   server pushes are `{"type":"event","event":…,"payload":…,"seq":N}`.
//! * **JSON-RPC 2.0** (Comis): `{"jsonrpc":"2.0","id":1,"method":"system.ping","params":{}}`,
//!   batches as a top-level array, notifications without `id`.
//!
//! Guarantees:
//! * [`decode`] never panics and never builds a `serde_json::Value`: `id` and `params` are
//!   borrowed [`RawValue`] slices of the frame (ids are echoed byte-for-byte, so numbers beyond
//!   `f64` survive), and the method is borrowed unless it contains a JSON escape.
//! * Every input ends in exactly one [`Inbound`]; every [`Rejected`] deserves one error reply
//!   (JSON-RPC: "if there was an error in detecting the id … it MUST be Null").
//! * The decoder says *what* was wrong ([`DecodeError`]), never which numeric code that is:
//!   `crate::error` is the one place that maps errors to codes, and the encoders take the code
//!   as an argument ([`ErrorBody`]).
//! * The encoders append one complete JSON text to `out`, escape every string they are given,
//!   and copy ids and payloads verbatim (payloads are trusted: they come from the server).
//!
//! Not checked here: the shape of `params` beyond "object" (Frames) or "object or array"
//! (JSON-RPC). Nesting inside `id`/`params` is skipped iteratively, so depth cannot overflow the
//! stack; whoever deserializes `params` later meets serde_json's recursion limit there.

use std::borrow::Cow;
use std::fmt;

use serde_json::value::RawValue;

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use decode::{decode, decode_str};
pub use encode::{encode_batch, encode_error, encode_event, encode_notification, encode_result};

/// Batch length a caller should pass to [`decode`] when the configuration says nothing.
///
/// A longer batch is answered with a single [`DecodeError::BatchTooLarge`] error (not an array)
/// and none of its calls run, so one frame cannot queue unbounded work.
pub const DEFAULT_MAX_BATCH: usize = 50;

/// Which of the two wire formats a frame (and so its reply) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `{"type":"req",…}` requests, `{"type":"res",…}` replies, `{"type":"event",…}` pushes.
    Frames,
    /// Strict JSON-RPC 2.0, including batches and notifications.
    JsonRpc,
}

/// One well-formed call, borrowing from the decoded frame. Equality compares ids and params
/// as raw text (as sent), since that is what a reply echoes.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The dialect to answer in.
    pub dialect: Dialect,
    /// The request id exactly as sent (a JSON string or number; `null` is possible in
    /// JSON-RPC). `None` only for a JSON-RPC notification, which gets no reply.
    pub id: Option<&'a RawValue>,
    /// The method name, non-empty; borrowed unless the name contained a JSON escape.
    pub method: Cow<'a, str>,
    /// The params exactly as sent: an object (Frames), or an object or array (JSON-RPC).
    /// `None` when absent (or `null` in Frames); callers treat that as `{}`.
    pub params: Option<&'a RawValue>,
}

/// `RawValue` has no `PartialEq`; two raw slices are equal when their text is.
fn raw_eq(a: Option<&RawValue>, b: Option<&RawValue>) -> bool {
    a.map(RawValue::get) == b.map(RawValue::get)
}

impl PartialEq for Call<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.dialect == other.dialect
            && raw_eq(self.id, other.id)
            && self.method == other.method
            && raw_eq(self.params, other.params)
    }
}

impl Eq for Call<'_> {}

impl PartialEq for Rejected<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.dialect == other.dialect && raw_eq(self.id, other.id) && self.error == other.error
    }
}

impl Eq for Rejected<'_> {}

impl Call<'_> {
    /// True for a JSON-RPC notification: run it, but send no reply.
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }
}

/// What was wrong with a frame or a batch element. Small and `Copy`; no numeric codes here
/// (see `crate::error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// Not JSON, trailing bytes after the value, nesting past serde_json's recursion limit, or
    /// valid JSON that is neither an object nor an array.
    Parse,
    /// The frame is not UTF-8 (only from [`decode`] on bytes).
    NotUtf8,
    /// Valid JSON, but not a request of its dialect; the text says which rule was broken.
    InvalidRequest(&'static str),
    /// A JSON-RPC batch with no elements (`[]`).
    EmptyBatch,
    /// A JSON-RPC batch longer than the caller's `max_batch`.
    BatchTooLarge {
        /// Elements in the batch.
        len: usize,
        /// The limit it exceeded.
        max: usize,
    },
}

impl DecodeError {
    /// A short, client-safe description; allocates only for [`DecodeError::BatchTooLarge`].
    pub fn message(&self) -> Cow<'static, str> {
        match *self {
            DecodeError::Parse => Cow::Borrowed("malformed JSON"),
            DecodeError::NotUtf8 => Cow::Borrowed("text frame is not valid UTF-8"),
            DecodeError::InvalidRequest(why) => Cow::Borrowed(why),
            DecodeError::EmptyBatch => Cow::Borrowed("empty batch"),
            DecodeError::BatchTooLarge { len, max } => Cow::Owned(format!("batch of {len} exceeds maximum of {max}")),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for DecodeError {}

/// A frame or batch element that is not a valid call, with what is known for the reply.
/// Equality compares the id as raw text.
#[derive(Debug, Clone, Copy)]
pub struct Rejected<'a> {
    /// The dialect the element claimed; `None` when it could not be told (parse errors, objects
    /// with neither `jsonrpc` nor `type`): answer in the connection's preferred dialect.
    pub dialect: Option<Dialect>,
    /// The element's id when it was readable (a string, number or `null`); `None` encodes as
    /// `null`.
    pub id: Option<&'a RawValue>,
    /// What was wrong.
    pub error: DecodeError,
}

/// Everything one text frame can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// One object (or a frame that failed before a batch could be seen): one reply, unless it
    /// is a JSON-RPC notification.
    Single(Result<Call<'a>, Rejected<'a>>),
    /// A JSON-RPC batch of 1..=`max_batch` elements, in order. Reply with one array of the
    /// replies that are due ([`encode_batch`]); if every element is a notification, send
    /// nothing at all.
    Batch(Vec<Result<Call<'a>, Rejected<'a>>>),
    /// A JSON-RPC batch refused as a whole (empty or too long): reply with this one error
    /// object, not an array, and run nothing.
    BatchRejected(Rejected<'a>),
}

/// An error reply's contents, in both dialects' terms; the caller maps the error to codes.
#[derive(Debug, Clone, Copy)]
pub struct ErrorBody<'a> {
    /// JSON-RPC numeric code (e.g. -32601); unused in Frames.
    pub code: i32,
    /// Frames string code (e.g. `INVALID_REQUEST`); unused in JSON-RPC.
    pub frame_code: &'a str,
    /// Human-readable message; escaped on output.
    pub message: &'a str,
    /// Frames `retryable` flag; unused in JSON-RPC.
    pub retryable: bool,
    /// Frames `retryAfterMs`, written only when `Some`; unused in JSON-RPC.
    pub retry_after_ms: Option<u64>,
    /// Extra JSON, copied verbatim: JSON-RPC `error.data`, Frames `error.details`. Omitted
    /// when `None`.
    pub data: Option<&'a RawValue>,
}
