//! Hex HMAC-SHA256 over the raw body: Human's `X-Signature` (bare hex) and the
//! GitHub / Meta / WhatsApp `X-Hub-Signature-256` form (`sha256=` + hex).
//!
//! Guarantees: the body is the exact bytes received (never re-serialised: Meta signs its
//! escaped-unicode form); the signature is length-checked, hex-decoded (either case) and
//! compared as bytes in constant time; an empty secret is refused rather than used.

use super::{Algorithm, VerifyError, decode_hex, hmac, require_signature, tags_equal};

/// Header Human sends: bare lowercase hex, no prefix.
pub const HUMAN_HEADER: &str = "X-Signature";
/// Header GitHub, Meta and WhatsApp send: `sha256=` + hex.
pub const HUB_HEADER: &str = "X-Hub-Signature-256";
/// Prefix of [`HUB_HEADER`] values.
pub const HUB_PREFIX: &[u8] = b"sha256=";

/// Verifies Human's `X-Signature: <hex HMAC-SHA256(secret, body)>`.
pub fn verify_bare(body: &[u8], signature: Option<&[u8]>, secret: &[u8]) -> Result<(), VerifyError> {
    let sig = require_signature(signature)?;
    check(body, sig, secret)
}

/// Verifies `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>` (GitHub, Meta, WhatsApp).
pub fn verify_sha256_prefixed(body: &[u8], signature: Option<&[u8]>, secret: &[u8]) -> Result<(), VerifyError> {
    let sig = require_signature(signature)?;
    let hex = sig.strip_prefix(HUB_PREFIX).ok_or(VerifyError::WrongPrefix)?;
    check(body, hex, secret)
}

fn check(body: &[u8], hex: &[u8], secret: &[u8]) -> Result<(), VerifyError> {
    let given = decode_hex(hex, Algorithm::Sha256)?;
    if secret.is_empty() {
        return Err(VerifyError::BadSecret);
    }
    let expected = hmac(Algorithm::Sha256, secret, &[body]);
    if tags_equal(&given, &expected) { Ok(()) } else { Err(VerifyError::Mismatch) }
}
