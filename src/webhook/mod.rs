//! Sans-IO signature verifiers for webhook ingestion, one file per scheme; then, over a
//! verified body, [`delivery`] (handshake or delivery, and its dedup id) and [`normalize`] (the
//! messages in it, one shape for every channel), with their lenient JSON readers in `lenient`.
//!
//! Every verifier is a pure function over the raw body bytes, the header values it needs
//! (`None` when the header was absent), the configured secret and, where the scheme carries
//! a timestamp, the caller's clock as `now_unix_secs`. Guarantees shared by all of them:
//! - they never panic on any input and never index peer-controlled data;
//! - signatures are decoded first and compared as bytes with [`constant_time_eq`], so the
//!   comparison leaks neither where the first difference is nor (the length being fixed by the
//!   algorithm and checked before decoding) anything about the expected value;
//! - a timestamp is parsed and checked against its window *before* any HMAC is computed, so a
//!   stale, future or non-numeric timestamp costs no hashing;
//! - a malformed signature header is refused with a specific [`VerifyError`] (for metrics and
//!   logs); mapping those to HTTP statuses is `crate::error`'s job, not this module's.

pub mod channel;
pub mod comis;
pub mod delivery;
pub mod discord;
pub mod dispatch;
pub mod hmac_hex;
pub mod inbox;
pub mod ingest;
pub mod lark;
mod lenient;
pub mod line;
pub mod normalize;
pub mod scheme;
pub mod slack;
pub mod standard;
pub mod stats;
pub mod telegram;

use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};

use crate::auth::constant_time_eq;
pub use channel::Channel;

/// Replay window used by Slack, Standard Webhooks and Comis by default: 300 s either way.
pub const REPLAY_WINDOW_SECS: u64 = 300;

/// Which header a verifier found missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The signature (or shared secret token) header.
    Signature,
    /// The timestamp header of a timestamped scheme.
    Timestamp,
    /// The message id header (Standard Webhooks `webhook-id`).
    Id,
}

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// A header the scheme requires was absent.
    MissingHeader(Header),
    /// The signature header was present but empty.
    EmptySignature,
    /// The signature does not start with the scheme's prefix (`sha256=`, `v0=`, `v1,`).
    WrongPrefix,
    /// The encoded signature has the wrong length for the algorithm (truncated, padded, ...).
    WrongLength,
    /// The signature is not hexadecimal.
    NotHex,
    /// The signature is not canonical padded standard base64.
    NotBase64,
    /// Well-formed, but not the signature of this body under this secret.
    Mismatch,
    /// The timestamp is older than the window allows.
    StaleTimestamp,
    /// The timestamp is further in the future than the window allows.
    FutureTimestamp,
    /// The timestamp is not a plain unsigned decimal number of seconds.
    BadTimestamp,
    /// The configured secret is unusable (empty, a `whsec_` secret that is not base64, or a
    /// Discord public key that is not 64 hex digits of a valid Ed25519 point).
    /// A configuration fault, reported per delivery so nothing is ever accepted with it.
    BadSecret,
}

impl VerifyError {
    /// A stable snake_case name for metrics labels, logs and the test vectors.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing_header",
            Self::EmptySignature => "empty_signature",
            Self::WrongPrefix => "wrong_prefix",
            Self::WrongLength => "wrong_length",
            Self::NotHex => "not_hex",
            Self::NotBase64 => "not_base64",
            Self::Mismatch => "mismatch",
            Self::StaleTimestamp => "stale_timestamp",
            Self::FutureTimestamp => "future_timestamp",
            Self::BadTimestamp => "bad_timestamp",
            Self::BadSecret => "bad_secret",
        }
    }
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for VerifyError {}

/// HMAC digest algorithms the verifiers support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA256 (32-byte tag).
    Sha256,
    /// HMAC-SHA384 (48-byte tag).
    Sha384,
    /// HMAC-SHA512 (64-byte tag).
    Sha512,
}

/// Largest tag any [`Algorithm`] produces, so tags live on the stack.
const MAX_TAG: usize = 64;

impl Algorithm {
    /// Tag length in bytes.
    #[must_use]
    pub fn tag_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// A computed tag: fixed buffer plus its length.
pub(crate) struct Tag {
    buf: [u8; MAX_TAG],
    len: usize,
}

impl Tag {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// HMAC over the concatenation of `parts` (so callers never build `ts:body` copies).
pub(crate) fn hmac(alg: Algorithm, key: &[u8], parts: &[&[u8]]) -> Tag {
    // `new_from_slice` accepts keys of any length for HMAC; the error arm is unreachable in
    // practice but is handled without a panic anyway (an all-zero tag matches nothing real,
    // and callers refuse empty secrets before getting here).
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]], out: &mut [u8; MAX_TAG]) -> usize {
        let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else { return 0 };
        for part in parts {
            mac.update(part);
        }
        let tag = mac.finalize().into_bytes();
        let n = tag.len().min(MAX_TAG);
        if let (Some(dst), Some(src)) = (out.get_mut(..n), tag.get(..n)) {
            dst.copy_from_slice(src);
        }
        n
    }
    let mut buf = [0u8; MAX_TAG];
    let len = match alg {
        Algorithm::Sha256 => run::<Hmac<Sha256>>(key, parts, &mut buf),
        Algorithm::Sha384 => run::<Hmac<Sha384>>(key, parts, &mut buf),
        Algorithm::Sha512 => run::<Hmac<Sha512>>(key, parts, &mut buf),
    };
    Tag { buf, len }
}

/// Decodes `text` as hex (either case) of exactly `alg.tag_len()` bytes.
///
/// Length is checked on the encoded form first, so a truncated signature is `WrongLength`
/// whatever its characters, and the decode loop always runs over the same number of bytes.
pub(crate) fn decode_hex(text: &[u8], alg: Algorithm) -> Result<Tag, VerifyError> {
    decode_hex_len(text, alg.tag_len())
}

/// Decodes `text` as hex (either case) of exactly `len` bytes (`len <= 64`), length first.
pub(crate) fn decode_hex_len(text: &[u8], len: usize) -> Result<Tag, VerifyError> {
    if len > MAX_TAG {
        return Err(VerifyError::WrongLength);
    }
    if text.len() != len * 2 {
        return Err(VerifyError::WrongLength);
    }
    let mut buf = [0u8; MAX_TAG];
    let mut bad = false;
    for (dst, pair) in buf.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [hi, lo] => (hex_digit(*hi), hex_digit(*lo)),
            _ => (None, None),
        };
        match (hi, lo) {
            (Some(h), Some(l)) => *dst = (h << 4) | l,
            _ => bad = true,
        }
    }
    if bad { Err(VerifyError::NotHex) } else { Ok(Tag { buf, len }) }
}

/// Decodes `text` as canonical padded standard base64 of a 32-byte HMAC-SHA256 tag.
pub(crate) fn decode_base64_sha256(text: &[u8]) -> Result<Tag, VerifyError> {
    use base64::Engine as _;
    // 32 bytes encode to exactly 44 characters with one `=`; anything else cannot be a tag.
    if text.len() != 44 {
        return Err(VerifyError::WrongLength);
    }
    let mut buf = [0u8; MAX_TAG];
    match base64::engine::general_purpose::STANDARD.decode_slice(text, &mut buf) {
        Ok(32) => Ok(Tag { buf, len: 32 }),
        // 44 characters ending in `==` decode to 31 bytes: right size on the wire, wrong tag.
        Ok(_) => Err(VerifyError::WrongLength),
        Err(_) => Err(VerifyError::NotBase64),
    }
}

/// Parses a unix-seconds timestamp (ASCII digits only, no sign, no spaces) and checks it is
/// within `window` seconds of `now` either way (the boundary itself is accepted).
pub(crate) fn check_timestamp(raw: &[u8], now: u64, window: u64) -> Result<u64, VerifyError> {
    if raw.is_empty() {
        return Err(VerifyError::BadTimestamp);
    }
    let mut ts: u64 = 0;
    for &c in raw {
        if !c.is_ascii_digit() {
            return Err(VerifyError::BadTimestamp);
        }
        ts = ts.checked_mul(10).and_then(|v| v.checked_add(u64::from(c - b'0'))).ok_or(VerifyError::BadTimestamp)?;
    }
    if ts.saturating_add(window) < now {
        return Err(VerifyError::StaleTimestamp);
    }
    if ts > now.saturating_add(window) {
        return Err(VerifyError::FutureTimestamp);
    }
    Ok(ts)
}

/// Present and non-empty, or the matching error.
pub(crate) fn require_signature(value: Option<&[u8]>) -> Result<&[u8], VerifyError> {
    match value {
        None => Err(VerifyError::MissingHeader(Header::Signature)),
        Some([]) => Err(VerifyError::EmptySignature),
        Some(v) => Ok(v),
    }
}

/// Constant-time equality of two tags.
pub(crate) fn tags_equal(a: &Tag, b: &Tag) -> bool {
    constant_time_eq(a.as_bytes(), b.as_bytes())
}

/// The value of one hexadecimal digit (either case).
fn hex_digit(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_window_is_inclusive_and_both_ways() {
        assert_eq!(check_timestamp(b"1000", 1300, 300), Ok(1000));
        assert_eq!(check_timestamp(b"1000", 700, 300), Ok(1000));
        assert_eq!(check_timestamp(b"1000", 1301, 300), Err(VerifyError::StaleTimestamp));
        assert_eq!(check_timestamp(b"1000", 699, 300), Err(VerifyError::FutureTimestamp));
        // Near the ends of u64 the window arithmetic saturates instead of wrapping.
        assert_eq!(check_timestamp(b"18446744073709551615", u64::MAX, 300), Ok(u64::MAX));
        assert_eq!(check_timestamp(b"0", 0, 300), Ok(0));
    }

    #[test]
    fn timestamp_must_be_plain_digits() {
        for bad in [&b""[..], b" 1000", b"1000 ", b"+1000", b"-1", b"1e3", b"10.0", b"18446744073709551616"] {
            assert_eq!(check_timestamp(bad, 1000, 300), Err(VerifyError::BadTimestamp), "{bad:?}");
        }
    }

    #[test]
    fn hex_decoding_checks_length_before_characters() {
        let good = [b'a'; 64];
        assert!(decode_hex(&good, Algorithm::Sha256).is_ok());
        assert!(matches!(decode_hex(&[b'z'; 63], Algorithm::Sha256), Err(VerifyError::WrongLength)));
        assert!(matches!(decode_hex(&[b'z'; 64], Algorithm::Sha256), Err(VerifyError::NotHex)));
        assert!(matches!(decode_hex(&[b'0'; 96], Algorithm::Sha384), Ok(t) if t.as_bytes() == [0u8; 48]));
        assert!(matches!(decode_hex(&[b'F'; 128], Algorithm::Sha512), Ok(t) if t.as_bytes() == [0xffu8; 64]));
    }

    /// The secret is only looked at right before the HMAC, so an empty secret reports
    /// `BadSecret` exactly when the HMAC would have been computed: a timestamp error coming
    /// back instead shows the window was checked first.
    #[test]
    fn timestamps_are_refused_before_any_hmac() {
        let sig = [b"v0=".as_slice(), &[b'0'; 64]].concat();
        assert_eq!(slack::verify(b"x", Some(&sig), Some(b"1"), b"", 1000), Err(VerifyError::StaleTimestamp));
        assert_eq!(slack::verify(b"x", Some(&sig), Some(b"9999"), b"", 1000), Err(VerifyError::FutureTimestamp));
        assert_eq!(slack::verify(b"x", Some(&sig), Some(b"abc"), b"", 1000), Err(VerifyError::BadTimestamp));
        assert_eq!(slack::verify(b"x", Some(&sig), Some(b"1000"), b"", 1000), Err(VerifyError::BadSecret));
        let entry = b"v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let sw = |ts: &[u8]| standard::verify(b"x", Some(b"id"), Some(ts), Some(entry), "whsec_!", 1000);
        assert_eq!(sw(b"1"), Err(VerifyError::StaleTimestamp));
        assert_eq!(sw(b"x"), Err(VerifyError::BadTimestamp));
        assert_eq!(sw(b"1000"), Err(VerifyError::BadSecret));
        let cfg = comis::ComisConfig::new(b"");
        let hex = [b'0'; 64];
        assert_eq!(comis::verify(b"x", Some(&hex), Some(b"1"), &cfg, 1000), Err(VerifyError::StaleTimestamp));
        assert_eq!(comis::verify(b"x", Some(&hex), None, &cfg, 1000), Err(VerifyError::BadSecret));
    }

    #[test]
    fn empty_secrets_never_accept() {
        let tag = hmac(Algorithm::Sha256, b"", &[b"body"]);
        let hex: String = tag.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hmac_hex::verify_bare(b"body", Some(hex.as_bytes()), b""), Err(VerifyError::BadSecret));
        assert_eq!(telegram::verify(Some(b""), b""), Err(VerifyError::EmptySignature));
        assert_eq!(telegram::verify(Some(b"x"), b""), Err(VerifyError::BadSecret));
    }

    #[test]
    fn every_error_has_a_distinct_code() {
        let all = [
            VerifyError::MissingHeader(Header::Signature),
            VerifyError::EmptySignature,
            VerifyError::WrongPrefix,
            VerifyError::WrongLength,
            VerifyError::NotHex,
            VerifyError::NotBase64,
            VerifyError::Mismatch,
            VerifyError::StaleTimestamp,
            VerifyError::FutureTimestamp,
            VerifyError::BadTimestamp,
            VerifyError::BadSecret,
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
    }
}
