//! Comis-style generic HMAC: a configurable header carrying hex HMAC-SHA256/384/512 of the raw
//! body, optionally behind a prefix such as `sha256=`, and an optional timestamp header
//! (`x-webhook-timestamp` by default) checked against a ±`max_age_secs` window.
//!
//! Guarantees: the timestamp, when present (or required and then absent: refused), is checked
//! before the HMAC is computed; Comis signs the body only, the timestamp is a freshness check;
//! the signature is length-checked for the configured algorithm, hex-decoded and compared in
//! constant time.

use super::{
    Algorithm, Header, REPLAY_WINDOW_SECS, VerifyError, check_timestamp, decode_hex, hmac, require_signature,
    tags_equal,
};

/// Default signature header name (Comis `x-webhook-signature`).
pub const DEFAULT_SIGNATURE_HEADER: &str = "x-webhook-signature";
/// Default timestamp header name (Comis `x-webhook-timestamp`).
pub const DEFAULT_TIMESTAMP_HEADER: &str = "x-webhook-timestamp";

/// How a Comis endpoint verifies. Header *names* are the caller's business; this takes values.
#[derive(Debug, Clone, Copy)]
pub struct ComisConfig<'a> {
    /// The shared HMAC secret.
    pub secret: &'a [u8],
    /// Digest algorithm.
    pub algorithm: Algorithm,
    /// Prefix the signature must carry before the hex (e.g. `sha256=`); `None` for bare hex.
    pub prefix: Option<&'a [u8]>,
    /// Window either way for the timestamp header, in seconds.
    pub max_age_secs: u64,
    /// Refuse deliveries without a timestamp header (Comis default: `false`).
    pub require_timestamp: bool,
}

impl<'a> ComisConfig<'a> {
    /// Comis defaults: SHA-256, bare hex, 300 s window, timestamp optional.
    #[must_use]
    pub fn new(secret: &'a [u8]) -> Self {
        Self {
            secret,
            algorithm: Algorithm::Sha256,
            prefix: None,
            max_age_secs: REPLAY_WINDOW_SECS,
            require_timestamp: false,
        }
    }
}

/// Verifies a Comis-style delivery at `now_unix_secs`.
pub fn verify(
    body: &[u8],
    signature: Option<&[u8]>,
    timestamp: Option<&[u8]>,
    config: &ComisConfig<'_>,
    now_unix_secs: u64,
) -> Result<(), VerifyError> {
    let sig = require_signature(signature)?;
    let hex = match config.prefix {
        Some(prefix) => sig.strip_prefix(prefix).ok_or(VerifyError::WrongPrefix)?,
        None => sig,
    };
    let given = decode_hex(hex, config.algorithm)?;
    match timestamp {
        Some(ts) => {
            check_timestamp(ts, now_unix_secs, config.max_age_secs)?;
        }
        None if config.require_timestamp => return Err(VerifyError::MissingHeader(Header::Timestamp)),
        None => {}
    }
    if config.secret.is_empty() {
        return Err(VerifyError::BadSecret);
    }
    let expected = hmac(config.algorithm, config.secret, &[body]);
    if tags_equal(&given, &expected) { Ok(()) } else { Err(VerifyError::Mismatch) }
}
