//! Slack request signing: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:" + ts + ":" + body)>`
//! with `X-Slack-Request-Timestamp` in unix seconds.
//!
//! Guarantees: the timestamp must be plain decimal and within [`REPLAY_WINDOW_SECS`] of `now`
//! in either direction (stale *and* future refused), checked before the HMAC is computed; the
//! signature is length-checked, hex-decoded and compared in constant time.

use super::{
    Algorithm, Header, REPLAY_WINDOW_SECS, VerifyError, check_timestamp, decode_hex, hmac, require_signature,
    tags_equal,
};

/// Signature header.
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// Timestamp header.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// Version prefix of the signature (and of the signed base string).
pub const PREFIX: &[u8] = b"v0=";

/// Verifies a Slack request against the signing secret at `now_unix_secs`.
pub fn verify(
    body: &[u8],
    signature: Option<&[u8]>,
    timestamp: Option<&[u8]>,
    secret: &[u8],
    now_unix_secs: u64,
) -> Result<(), VerifyError> {
    let sig = require_signature(signature)?;
    let ts = timestamp.ok_or(VerifyError::MissingHeader(Header::Timestamp))?;
    let hex = sig.strip_prefix(PREFIX).ok_or(VerifyError::WrongPrefix)?;
    let given = decode_hex(hex, Algorithm::Sha256)?;
    check_timestamp(ts, now_unix_secs, REPLAY_WINDOW_SECS)?;
    if secret.is_empty() {
        return Err(VerifyError::BadSecret);
    }
    // Sign the timestamp exactly as received (it is all digits, checked above).
    let expected = hmac(Algorithm::Sha256, secret, &[b"v0:", ts, b":", body]);
    if tags_equal(&given, &expected) { Ok(()) } else { Err(VerifyError::Mismatch) }
}
