//! Telegram Bot API webhooks: `X-Telegram-Bot-Api-Secret-Token` must equal the `secret_token`
//! given to `setWebhook`. No body signature and no timestamp exist in this scheme.
//!
//! Guarantees: the comparison is constant time over the bytes (the length of the configured
//! secret is not secret: Telegram fixes its alphabet and range, 1-256 characters); an empty
//! configured secret never matches.

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
    if constant_time_eq(token, secret) { Ok(()) } else { Err(VerifyError::Mismatch) }
}
