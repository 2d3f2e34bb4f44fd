//! Telegram Bot API webhooks: `X-Telegram-Bot-Api-Secret-Token` must equal the `secret_token`
//! given to `setWebhook`. No body signature and no timestamp exist in this scheme.
//!
//! Guarantees: both sides are hashed with SHA-256 and the digests compared in constant time, so
//! neither the position of the first difference nor the configured secret's length shows in the
//! timing (testing.md §5 item 1: no early return on length); an empty configured secret never
//! matches.

use sha2::{Digest, Sha256};

use super::{VerifyError, require_signature};
use crate::auth::constant_time_eq;

/// Secret-token header.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// Verifies the secret-token header against the configured secret.
pub fn verify(token: Option<&[u8]>, secret: &[u8]) -> Result<(), VerifyError> {
    let token = require_signature(token)?;
    if secret.is_empty() {
        return Err(VerifyError::BadSecret);
    }
    // Equal digests mean equal inputs (SHA-256 collisions aside), and digests have one length.
    if constant_time_eq(&Sha256::digest(token), &Sha256::digest(secret)) { Ok(()) } else { Err(VerifyError::Mismatch) }
}
