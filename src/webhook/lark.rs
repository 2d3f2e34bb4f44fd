//! Lark / Feishu event subscriptions: the `X-Lark-Signature` check and the AES-256-CBC
//! decryption of `{"encrypt":"…"}` bodies, both used only when an Encrypt Key is configured.
//!
//! Signature: `hex(SHA-256(timestamp + nonce + encrypt_key || raw body))` (a plain digest, not
//! an HMAC), with `X-Lark-Request-Timestamp` and `X-Lark-Request-Nonce`. Guarantees: the
//! timestamp is plain decimal and within [`REPLAY_WINDOW_SECS`] of `now` either way, checked
//! before hashing (Lark documents no window; this refuses replays older than five minutes); the
//! signature is length-checked, hex-decoded and compared in constant time.
//!
//! Decryption: key = SHA-256(encrypt_key), payload = base64(IV(16) || ciphertext), PKCS#7.
//! Guarantees: never panics on any input; every failure is one [`DecryptError`]. The
//! `url_verification` challenge arrives encrypted but unsigned, so callers must not reveal
//! which decryption step failed to the peer (one status for all; padding oracles need more).

use base64::Engine as _;
use cbc::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use sha2::{Digest, Sha256};

use super::{Header, REPLAY_WINDOW_SECS, VerifyError, check_timestamp, decode_hex_len, require_signature};
use crate::auth::constant_time_eq;

/// Signature header.
pub const SIGNATURE_HEADER: &str = "X-Lark-Signature";
/// Timestamp header.
pub const TIMESTAMP_HEADER: &str = "X-Lark-Request-Timestamp";
/// Nonce header.
pub const NONCE_HEADER: &str = "X-Lark-Request-Nonce";

/// AES block and IV size.
const BLOCK: usize = 16;

/// Verifies `X-Lark-Signature` at `now_unix_secs` (a missing nonce counts as a missing id).
pub fn verify_signature(
    body: &[u8],
    signature: Option<&[u8]>,
    timestamp: Option<&[u8]>,
    nonce: Option<&[u8]>,
    encrypt_key: &[u8],
    now_unix_secs: u64,
) -> Result<(), VerifyError> {
    let sig = require_signature(signature)?;
    let ts = timestamp.ok_or(VerifyError::MissingHeader(Header::Timestamp))?;
    let nonce = nonce.ok_or(VerifyError::MissingHeader(Header::Id))?;
    let given = decode_hex_len(sig, 32)?;
    check_timestamp(ts, now_unix_secs, REPLAY_WINDOW_SECS)?;
    if encrypt_key.is_empty() {
        return Err(VerifyError::BadSecret);
    }
    let expected = Sha256::new().chain_update(ts).chain_update(nonce).chain_update(encrypt_key).chain_update(body);
    if constant_time_eq(given.as_bytes(), &expected.finalize()) { Ok(()) } else { Err(VerifyError::Mismatch) }
}

/// Why an `encrypt` payload could not be decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptError {
    /// The payload is not standard padded base64.
    NotBase64,
    /// Shorter than an IV plus one block, or the ciphertext is not whole blocks.
    BadLength,
    /// The PKCS#7 padding is wrong (wrong key, or a corrupted payload).
    BadPadding,
    /// The configured Encrypt Key is empty.
    BadKey,
}

impl DecryptError {
    /// A stable snake_case name for metrics labels, logs and the test vectors.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::NotBase64 => "not_base64",
            Self::BadLength => "bad_length",
            Self::BadPadding => "bad_padding",
            Self::BadKey => "bad_key",
        }
    }
}

/// Decrypts a Lark `encrypt` field with the configured Encrypt Key.
pub fn decrypt(encrypt: &[u8], encrypt_key: &[u8]) -> Result<Vec<u8>, DecryptError> {
    if encrypt_key.is_empty() {
        return Err(DecryptError::BadKey);
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(encrypt).map_err(|_| DecryptError::NotBase64)?;
    if raw.len() < 2 * BLOCK || raw.len() % BLOCK != 0 {
        return Err(DecryptError::BadLength);
    }
    let (iv, ciphertext) = raw.split_at(BLOCK);
    let key = Sha256::digest(encrypt_key);
    // Lengths are fixed (32-byte digest, 16-byte IV), so this cannot fail; mapped anyway.
    let dec = cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, iv).map_err(|_| DecryptError::BadKey)?;
    let mut buf = ciphertext.to_vec();
    let plain = dec.decrypt_padded_mut::<Pkcs7>(&mut buf).map_err(|_| DecryptError::BadPadding)?;
    let n = plain.len();
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Feishu documentation's vector (reference/systems.md §2).
    #[test]
    fn official_decrypt_vector() {
        assert_eq!(decrypt(b"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=", b"test key"), Ok(b"hello world".to_vec()));
    }

    #[test]
    fn decrypt_refusals() {
        let good = b"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=";
        assert_eq!(decrypt(good, b"other key"), Err(DecryptError::BadPadding));
        assert_eq!(decrypt(good, b""), Err(DecryptError::BadKey));
        assert_eq!(decrypt(b"P37w+VZImNgPEO1RBhJ6Rg==", b"test key"), Err(DecryptError::BadLength));
        assert_eq!(decrypt(b"", b"test key"), Err(DecryptError::BadLength));
        assert_eq!(decrypt(b"not base64!", b"test key"), Err(DecryptError::NotBase64));
        // 33 bytes: IV plus one block plus one stray byte.
        let odd = base64::engine::general_purpose::STANDARD.encode([0u8; 33]);
        assert_eq!(decrypt(odd.as_bytes(), b"test key"), Err(DecryptError::BadLength));
    }
}
