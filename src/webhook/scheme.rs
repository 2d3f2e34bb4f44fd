//! Which verification scheme an endpoint uses, which header carries its signature (for the
//! body cap chosen before the body is read), and running that scheme over a delivery.
//!
//! Guarantees: the choice depends only on configuration, never on what the request claims;
//! a native channel without its own secret falls back to Human's `X-Signature` when
//! `ingest.webhook_hmac_secret` is set, and to `Unsigned` (bearer token or open loopback
//! gateway only, see `super::ingest`) otherwise. Lark's body-token and challenge rules are
//! handled by `super::ingest` because they need the parsed body.

use super::{Channel, VerifyError, comis, discord, hmac_hex, lark, line, slack, standard, telegram};
use crate::config::ingest::{ChannelSettings, HooksSettings, IngestSettings, NativeVerifier};

/// Human's generic signature header.
pub const X_SIGNATURE: &str = "x-signature";

/// How one endpoint authenticates deliveries.
#[derive(Debug, Clone, Copy)]
pub enum Scheme<'a> {
    /// The channel's own scheme.
    Native(&'a NativeVerifier),
    /// Human's `X-Signature` hex HMAC-SHA256.
    HumanHmac(&'a [u8]),
    /// Comis's configurable HMAC header, or the Standard Webhooks preset.
    Hooks(&'a HooksSettings),
    /// No secret configured: only a bearer token with the webhook scope (or an open
    /// loopback gateway) lets a delivery in.
    Unsigned,
}

impl<'a> Scheme<'a> {
    /// The scheme of `channel`'s endpoint; `None` when the endpoint is not enabled.
    #[must_use]
    pub fn of(settings: &'a IngestSettings, channel: Channel) -> Option<(Self, u64)> {
        let human = |cap| Some((settings.generic_secret.as_deref().map_or(Scheme::Unsigned, Scheme::HumanHmac), cap));
        match channel {
            Channel::Generic => human(settings.max_body_bytes),
            Channel::Hooks => settings.hooks.as_ref().map(|h| (Scheme::Hooks(h), h.max_body_bytes)),
            _ => {
                let ChannelSettings { native, max_body_bytes, .. } = settings.channel(channel)?;
                match native {
                    Some(v) => Some((Scheme::Native(v), *max_body_bytes)),
                    None => human(*max_body_bytes),
                }
            }
        }
    }

    /// The header whose presence marks a signed request (so the larger body cap applies).
    /// `None` when the credential is inside the body (Lark without an Encrypt Key) or is a
    /// bearer token (`Unsigned`).
    #[must_use]
    pub fn signature_header(&self) -> Option<&'a str> {
        match self {
            Self::Native(NativeVerifier::Telegram { .. }) => Some("x-telegram-bot-api-secret-token"),
            Self::Native(NativeVerifier::Slack { .. }) => Some("x-slack-signature"),
            Self::Native(NativeVerifier::Discord { .. }) => Some("x-signature-ed25519"),
            Self::Native(NativeVerifier::WhatsApp { .. }) => Some("x-hub-signature-256"),
            Self::Native(NativeVerifier::Line { .. }) => Some("x-line-signature"),
            Self::Native(NativeVerifier::Lark { encrypt_key: Some(_), .. }) => Some("x-lark-signature"),
            Self::Native(NativeVerifier::Lark { encrypt_key: None, .. }) => None,
            Self::HumanHmac(_) => Some(X_SIGNATURE),
            Self::Hooks(h) if h.standard_secret.is_some() => Some(standard::SIGNATURE_HEADER),
            Self::Hooks(h) => Some(h.signature_header.as_str()),
            // No signature: a bearer token, which `super::ingest::body_cap` checks itself.
            Self::Unsigned => None,
        }
    }

    /// Verify a delivery whose credential is in its headers. `header` looks a header up by
    /// lower-case name. Lark is checked here only for its `X-Lark-Signature`.
    ///
    /// # Errors
    /// Why the delivery is not authentic.
    pub fn verify<'h>(
        &self,
        header: &dyn Fn(&str) -> Option<&'h [u8]>,
        body: &[u8],
        now_secs: u64,
    ) -> Result<(), VerifyError> {
        match self {
            Self::Native(NativeVerifier::Telegram { secret_token }) => {
                telegram::verify(header("x-telegram-bot-api-secret-token"), secret_token)
            }
            Self::Native(NativeVerifier::Slack { signing_secret }) => slack::verify(
                body,
                header("x-slack-signature"),
                header("x-slack-request-timestamp"),
                signing_secret,
                now_secs,
            ),
            Self::Native(NativeVerifier::Discord { key }) => {
                discord::verify(body, header("x-signature-ed25519"), header("x-signature-timestamp"), key, now_secs)
            }
            Self::Native(NativeVerifier::WhatsApp { app_secret }) => {
                hmac_hex::verify_sha256_prefixed(body, header("x-hub-signature-256"), app_secret)
            }
            Self::Native(NativeVerifier::Line { channel_secret }) => {
                line::verify(body, header("x-line-signature"), channel_secret)
            }
            Self::Native(NativeVerifier::Lark { encrypt_key: Some(key), .. }) => lark::verify_signature(
                body,
                header("x-lark-signature"),
                header("x-lark-request-timestamp"),
                header("x-lark-request-nonce"),
                key,
                now_secs,
            ),
            // The token is in the body; `super::ingest` checks it after parsing.
            Self::Native(NativeVerifier::Lark { encrypt_key: None, .. }) | Self::Unsigned => Ok(()),
            Self::HumanHmac(secret) => hmac_hex::verify_bare(body, header(X_SIGNATURE), secret),
            Self::Hooks(h) => match &h.standard_secret {
                Some(secret) => standard::verify(
                    body,
                    header(standard::ID_HEADER),
                    header(standard::TIMESTAMP_HEADER),
                    header(standard::SIGNATURE_HEADER),
                    secret,
                    now_secs,
                ),
                None => {
                    let secret = h.secret.as_deref().unwrap_or_default();
                    let signature = header(&h.signature_header);
                    // Comis sends bare hex; senders that prefix the algorithm (`sha256=`) are accepted.
                    let prefix = algorithm_prefix(h.algorithm);
                    let prefixed = signature.is_some_and(|s| s.starts_with(prefix));
                    let config = comis::ComisConfig {
                        secret,
                        algorithm: h.algorithm,
                        prefix: prefixed.then_some(prefix),
                        max_age_secs: h.max_age_s,
                        require_timestamp: h.require_timestamp,
                    };
                    comis::verify(body, signature, header(&h.timestamp_header), &config, now_secs)
                }
            },
        }
    }
}

fn algorithm_prefix(algorithm: super::Algorithm) -> &'static [u8] {
    match algorithm {
        super::Algorithm::Sha256 => b"sha256=",
        super::Algorithm::Sha384 => b"sha384=",
        super::Algorithm::Sha512 => b"sha512=",
    }
}
