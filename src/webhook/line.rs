//! LINE Messaging API: `x-line-signature: base64(HMAC-SHA256(channel secret, body))`.
//!
//! Guarantees: the signature must be canonical padded standard base64 of exactly 32 bytes
//! (length checked before decoding); it is compared as bytes in constant time over the raw body.

use super::{Algorithm, VerifyError, decode_base64_sha256, hmac, require_signature, tags_equal};

/// Signature header (LINE sends it lowercase; HTTP header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "x-line-signature";

/// Verifies a LINE webhook against the channel secret.
pub fn verify(body: &[u8], signature: Option<&[u8]>, channel_secret: &[u8]) -> Result<(), VerifyError> {
    let sig = require_signature(signature)?;
    let given = decode_base64_sha256(sig)?;
    if channel_secret.is_empty() {
        return Err(VerifyError::BadSecret);
    }
    let expected = hmac(Algorithm::Sha256, channel_secret, &[body]);
    if tags_equal(&given, &expected) { Ok(()) } else { Err(VerifyError::Mismatch) }
}
