//! Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` and
//! `webhook-signature`, the last holding space-separated `v1,<base64 HMAC-SHA256>` entries.
//!
//! Guarantees: the key is base64-decode(secret without its `whsec_` prefix) and the signed
//! content is `id.timestamp.body`; the timestamp is checked (±[`REPLAY_WINDOW_SECS`], decimal
//! only) before the HMAC is computed; the HMAC is computed once and every `v1` entry is
//! compared to it in constant time, accepting if any matches (secret rotation); entries of
//! unknown schemes are ignored; malformed `v1` entries never match.

use base64::Engine as _;

use super::{
    Algorithm, Header, REPLAY_WINDOW_SECS, VerifyError, check_timestamp, decode_base64_sha256, hmac, require_signature,
    tags_equal,
};

/// Message id header.
pub const ID_HEADER: &str = "webhook-id";
/// Timestamp header.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Signature list header.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// Optional prefix of the configured secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Verifies a Standard Webhooks delivery at `now_unix_secs`.
///
/// When no entry matches, the error is `Mismatch` if at least one `v1` entry was well formed,
/// else the first malformed `v1` entry's error, else `WrongPrefix` (no `v1` entry at all).
pub fn verify(
    body: &[u8],
    id: Option<&[u8]>,
    timestamp: Option<&[u8]>,
    signature: Option<&[u8]>,
    secret: &str,
    now_unix_secs: u64,
) -> Result<(), VerifyError> {
    let id = id.ok_or(VerifyError::MissingHeader(Header::Id))?;
    let ts = timestamp.ok_or(VerifyError::MissingHeader(Header::Timestamp))?;
    let sigs = require_signature(signature)?;
    if sigs.iter().all(|&c| c == b' ') {
        return Err(VerifyError::EmptySignature);
    }
    check_timestamp(ts, now_unix_secs, REPLAY_WINDOW_SECS)?;
    let key = decode_secret(secret)?;
    let expected = hmac(Algorithm::Sha256, &key, &[id, b".", ts, b".", body]);

    let mut matched = false;
    let mut saw_well_formed = false;
    let mut first_error: Option<VerifyError> = None;
    for entry in sigs.split(|&c| c == b' ').filter(|e| !e.is_empty()) {
        // Unknown schemes (`v1a,`, `v2,`, ...) are skipped, not errors: senders may add them.
        let Some(encoded) = entry.strip_prefix(b"v1,") else { continue };
        match decode_base64_sha256(encoded) {
            Ok(given) => {
                saw_well_formed = true;
                // No early exit: every entry costs the same whether or not an earlier one matched.
                matched |= tags_equal(&given, &expected);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if matched {
        Ok(())
    } else if saw_well_formed {
        Err(VerifyError::Mismatch)
    } else {
        Err(first_error.unwrap_or(VerifyError::WrongPrefix))
    }
}

/// The HMAC key: base64 of the secret after an optional `whsec_` prefix.
fn decode_secret(secret: &str) -> Result<Vec<u8>, VerifyError> {
    let raw = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    match base64::engine::general_purpose::STANDARD.decode(raw) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(VerifyError::BadSecret),
    }
}
