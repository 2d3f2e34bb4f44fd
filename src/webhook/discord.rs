//! Discord interactions: `X-Signature-Ed25519` (hex of a 64-byte Ed25519 signature) over
//! `X-Signature-Timestamp || raw body`, checked against the application's public key.
//!
//! Guarantees: the timestamp must be plain decimal and within [`REPLAY_WINDOW_SECS`] of `now`
//! either way, checked before the (comparatively expensive) signature check; Discord itself
//! documents no window, so this only refuses replays older than five minutes. The signature is
//! length-checked and hex-decoded first, then verified with `verify_strict` (which also refuses
//! non-canonical signatures and small-order keys). Nothing here is secret, so no constant-time
//! comparison is involved. Discord sends deliberately bad signatures as probes; they must fail.

use ed25519_dalek::{Signature, VerifyingKey};

use super::{Header, REPLAY_WINDOW_SECS, VerifyError, check_timestamp, decode_hex_len, require_signature};

/// Signature header.
pub const SIGNATURE_HEADER: &str = "X-Signature-Ed25519";
/// Timestamp header.
pub const TIMESTAMP_HEADER: &str = "X-Signature-Timestamp";

/// An application's Ed25519 public key, parsed once from its configured hex form.
#[derive(Debug, Clone)]
pub struct DiscordKey(VerifyingKey);

impl DiscordKey {
    /// Parses the 64-hex-digit public key shown in the Discord developer portal.
    pub fn from_hex(hex: &str) -> Result<Self, VerifyError> {
        let tag = decode_hex_len(hex.as_bytes(), 32).map_err(|_| VerifyError::BadSecret)?;
        let bytes: [u8; 32] = tag.as_bytes().try_into().map_err(|_| VerifyError::BadSecret)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| VerifyError::BadSecret)?;
        // A small-order key would let trivial signatures verify; refuse it at configuration.
        if key.is_weak() {
            return Err(VerifyError::BadSecret);
        }
        Ok(Self(key))
    }
}

/// Verifies a Discord interaction at `now_unix_secs`.
pub fn verify(
    body: &[u8],
    signature: Option<&[u8]>,
    timestamp: Option<&[u8]>,
    key: &DiscordKey,
    now_unix_secs: u64,
) -> Result<(), VerifyError> {
    let sig = require_signature(signature)?;
    let ts = timestamp.ok_or(VerifyError::MissingHeader(Header::Timestamp))?;
    let decoded = decode_hex_len(sig, 64)?;
    check_timestamp(ts, now_unix_secs, REPLAY_WINDOW_SECS)?;
    let bytes: [u8; 64] = decoded.as_bytes().try_into().map_err(|_| VerifyError::WrongLength)?;
    let signature = Signature::from_bytes(&bytes);
    // The signed message is timestamp || body; build it once (bodies are capped upstream).
    let mut message = Vec::with_capacity(ts.len() + body.len());
    message.extend_from_slice(ts);
    message.extend_from_slice(body);
    key.0.verify_strict(&message, &signature).map_err(|_| VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_and_malformed_keys_are_refused() {
        // The identity point (small order): every "signature" with R = identity, S = 0 verifies
        // under non-strict rules, so it must never be configured.
        let identity = format!("01{}", "00".repeat(31));
        assert_eq!(DiscordKey::from_hex(&identity).map(|_| ()), Err(VerifyError::BadSecret));
        assert_eq!(DiscordKey::from_hex("").map(|_| ()), Err(VerifyError::BadSecret));
        assert_eq!(DiscordKey::from_hex(&"zz".repeat(32)).map(|_| ()), Err(VerifyError::BadSecret));
        let ok = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
        assert!(DiscordKey::from_hex(ok).is_ok());
    }
}
