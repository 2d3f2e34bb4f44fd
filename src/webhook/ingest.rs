//! The ingestion decision for one webhook request, made inline on the event loop: verify over
//! the raw bytes, answer handshakes, classify the body, and either refuse or hand the store a
//! delivery to make durable.
//!
//! Guarantees: nothing is parsed before the signature (or secret token) is verified, except
//! for Lark, whose credential is inside the body (token) or whose challenge is unsigned by
//! design; a handshake is answered without being stored; a refusal names its reason with a
//! stable code (for `channels.status`) and says whether the sender was unverified (so the
//! caller charges the per-IP limiter). Nothing here acknowledges a delivery: that is the
//! store writer's job, after the commit.

use serde::Deserialize;

use super::delivery::{BodyError, Classified, classify};
use super::scheme::Scheme;
use super::{Channel, VerifyError, lark};
use crate::auth::constant_time_eq;
use crate::config::ingest::{IngestSettings, NativeVerifier};
use crate::error::GatewayError;
use crate::protocol::http1::{Method, RequestHead, Response};
use crate::store::NewDelivery;

/// Headers kept with a stored delivery: what tells a retry from a first attempt and when it
/// was signed. Credentials (secret tokens, signatures) are not kept.
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "user-agent",
    "x-slack-retry-num",
    "x-slack-retry-reason",
    "x-slack-request-timestamp",
    "x-signature-timestamp",
    "x-line-retry-key",
    "x-lark-request-timestamp",
    "webhook-id",
    "webhook-timestamp",
];

/// How the 2xx of a stored delivery looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `{"ok":true,"id":..,"duplicate":..}`.
    Standard,
    /// Discord wants an interaction response: type 5 (deferred; the agent answers later).
    DiscordDeferred,
    /// A Discord autocomplete request: type 8 with no choices (the only answer it accepts).
    DiscordAutocomplete,
}

/// Who sent a request that needs no signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsigned {
    /// A bearer token with the webhook scope: authenticated.
    Token,
    /// The gateway is open (loopback without tokens): accepted, but unverified.
    Open,
    /// Neither: refused.
    Refused,
}

/// What to do with the request.
#[derive(Debug)]
pub enum Decision {
    /// Answer now; nothing is stored (handshakes).
    Respond(Response),
    /// Refuse.
    Refuse {
        /// The error to answer with.
        error: GatewayError,
        /// Stable reason code for the channel's counters.
        reason: &'static str,
        /// The sender proved nothing: the per-IP limiter applies.
        unverified: bool,
    },
    /// Make this durable, then answer.
    Store {
        /// The record.
        delivery: NewDelivery,
        /// The shape of the 2xx.
        reply: Reply,
        /// Whether the sender was verified (unverified ones are rate limited).
        verified: bool,
    },
}

/// Decide what to do with a complete webhook request.
#[must_use]
pub fn decide(
    settings: &IngestSettings,
    channel: Channel,
    head: &RequestHead,
    body: Vec<u8>,
    now_ms: u64,
    unsigned: &dyn Fn() -> Unsigned,
) -> Decision {
    let Some((scheme, _)) = Scheme::of(settings, channel) else {
        return refuse(GatewayError::ChannelDisabled(channel.name()), "disabled", true);
    };
    if channel == Channel::WhatsApp && matches!(head.method, Method::Get | Method::Head) {
        return whatsapp_handshake(settings, head);
    }
    let header = |name: &str| head.header(name);
    let now_secs = now_ms / 1000;
    let mut verified = true;
    match scheme {
        Scheme::Unsigned => match unsigned() {
            Unsigned::Token => {}
            Unsigned::Open => verified = false,
            Unsigned::Refused => return refuse(GatewayError::WebhookUnsigned, "unsigned", true),
        },
        Scheme::Native(NativeVerifier::Lark { .. }) => return lark_delivery(scheme, head, body, now_ms),
        _ => {
            if let Err(e) = scheme.verify(&header, &body, now_secs) {
                return refuse(GatewayError::WebhookSignature(e), e.code(), true);
            }
        }
    }
    let content_type = head.header_str("content-type");
    // The Standard Webhooks preset takes any payload (`{"type", "timestamp", "data"}` by
    // convention); Comis's `{event, source, data}` schema applies only to Comis's own HMAC.
    let standard = matches!(scheme, Scheme::Hooks(h) if h.standard_secret.is_some());
    let shape = if standard { Channel::Generic } else { channel };
    match classify(shape, content_type, &body) {
        Ok(Classified::Deliver { delivery_id }) => {
            // Standard Webhooks names each message (`webhook-id`, covered by the signature) and
            // keeps the name across retries: that is the dedup key, not the body.
            let delivery_id = match head.header_str(super::standard::ID_HEADER) {
                Some(id) if standard => super::delivery::bounded_id(id),
                _ => delivery_id,
            };
            let reply = match channel {
                Channel::Discord if discord_type(&body) == Some(DISCORD_AUTOCOMPLETE) => Reply::DiscordAutocomplete,
                Channel::Discord => Reply::DiscordDeferred,
                _ => Reply::Standard,
            };
            Decision::Store { delivery: delivery(channel, head, delivery_id, body, now_ms), reply, verified }
        }
        Ok(Classified::SlackChallenge { challenge }) => challenge_reply(&challenge),
        Ok(Classified::DiscordPing) => Decision::Respond(Response::json(200, br#"{"type":1}"#.to_vec())),
        Ok(Classified::LineVerify) => Decision::Respond(Response::json(200, b"{}".to_vec())),
        // A Lark challenge on another channel's endpoint is just a body that channel never sends.
        Ok(Classified::LarkChallenge { .. }) => {
            refuse(GatewayError::WebhookBody("a Lark challenge on another channel".into()), "bad_body", false)
        }
        Err(e) => body_refusal(e, !verified),
    }
}

/// Discord's interaction type 4: an autocomplete request, which only accepts a type 8 answer.
const DISCORD_AUTOCOMPLETE: u64 = 4;

/// The `type` of a Discord interaction (already verified and classified).
fn discord_type(body: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Interaction {
        #[serde(rename = "type")]
        kind: u64,
    }
    serde_json::from_slice::<Interaction>(body).ok().map(|i| i.kind)
}

/// Lark: with an Encrypt Key, events are signed (`X-Lark-Signature`) and encrypted, and the
/// URL challenge is encrypted but unsigned; without one, the Verification Token in the body is
/// the credential.
fn lark_delivery(scheme: Scheme<'_>, head: &RequestHead, body: Vec<u8>, now_ms: u64) -> Decision {
    let Scheme::Native(NativeVerifier::Lark { verification_token, encrypt_key }) = scheme else {
        return refuse(GatewayError::Internal("lark scheme expected".into()), "internal", false);
    };
    let signed = head.header("x-lark-signature").is_some();
    if let (Some(_), true) = (encrypt_key, signed) {
        let header = |name: &str| head.header(name);
        if let Err(e) = scheme.verify(&header, &body, now_ms / 1000) {
            return refuse(GatewayError::WebhookSignature(e), e.code(), true);
        }
    }
    let plain = match encrypt_key {
        Some(key) => match encrypted_payload(&body).map(|e| lark::decrypt(e.as_bytes(), key)) {
            Some(Ok(p)) => p,
            // A verified sender may learn why its body is unusable. An unsigned one must not:
            // telling bad padding from a bad token would be a padding oracle on the key.
            Some(Err(e)) if signed => {
                return refuse(GatewayError::WebhookBody(format!("cannot decrypt: {}", e.code())), e.code(), false);
            }
            None if signed => {
                return refuse(GatewayError::WebhookBody("expected {\"encrypt\": ...}".into()), "bad_body", false);
            }
            Some(Err(_)) | None => {
                return refuse(GatewayError::WebhookSignature(VerifyError::Mismatch), "token_mismatch", true);
            }
        },
        None => body.clone(),
    };
    let token_ok = |given: Option<&str>| match (verification_token, given) {
        (Some(expected), Some(given)) => secrets_equal(expected, given.as_bytes()),
        // Proving the Encrypt Key (the body decrypted) is enough when no token is configured.
        (None, _) => encrypt_key.is_some(),
        (Some(_), None) => false,
    };
    match classify(Channel::Lark, head.header_str("content-type"), &plain) {
        Ok(Classified::LarkChallenge { challenge, token }) => {
            if token_ok(token.as_deref()) {
                challenge_reply(&challenge)
            } else {
                refuse(GatewayError::WebhookChallenge("verification token does not match"), "token_mismatch", true)
            }
        }
        Ok(Classified::Deliver { delivery_id }) => {
            if encrypt_key.is_some() && !signed {
                let e = VerifyError::MissingHeader(super::Header::Signature);
                return refuse(GatewayError::WebhookSignature(e), e.code(), true);
            }
            if encrypt_key.is_none() && !token_ok(lark_event_token(&plain).as_deref()) {
                return refuse(GatewayError::WebhookSignature(VerifyError::Mismatch), "token_mismatch", true);
            }
            Decision::Store {
                delivery: delivery(Channel::Lark, head, delivery_id, body, now_ms),
                reply: Reply::Standard,
                verified: true,
            }
        }
        Ok(_) => refuse(GatewayError::WebhookBody("not a Lark event".into()), "bad_body", true),
        Err(e) => match (encrypt_key, signed) {
            // Unauthenticated bytes: do not tell them apart from a bad credential.
            (None, _) | (Some(_), false) => {
                refuse(GatewayError::WebhookSignature(VerifyError::Mismatch), "token_mismatch", true)
            }
            (Some(_), true) => body_refusal(e, false),
        },
    }
}

fn encrypted_payload(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Encrypted {
        encrypt: String,
    }
    serde_json::from_slice::<Encrypted>(body).ok().map(|e| e.encrypt)
}

/// The Verification Token of a Lark event: `header.token` (schema 2.0) or `token` (1.0).
fn lark_event_token(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Header {
        token: Option<String>,
    }
    #[derive(Deserialize)]
    struct Event {
        header: Option<Header>,
        token: Option<String>,
    }
    let e: Event = serde_json::from_slice(body).ok()?;
    e.header.and_then(|h| h.token).or(e.token)
}

/// Meta's subscription handshake: `GET ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`.
fn whatsapp_handshake(settings: &IngestSettings, head: &RequestHead) -> Decision {
    let query = head.query().unwrap_or_default();
    let param = |name| crate::auth::query_param(query, name);
    let expected = settings.channel(Channel::WhatsApp).and_then(|c| c.verify_token.as_deref());
    let (Some(mode), Some(token), Some(challenge)) =
        (param("hub.mode"), param("hub.verify_token"), param("hub.challenge"))
    else {
        return refuse(
            GatewayError::WebhookChallenge("hub.mode, hub.verify_token and hub.challenge are required"),
            "bad_handshake",
            true,
        );
    };
    match expected {
        Some(expected) if mode == b"subscribe" && secrets_equal(expected, &token) => {
            Decision::Respond(Response::new(200, "text/plain; charset=utf-8", challenge))
        }
        None => refuse(
            GatewayError::WebhookChallenge("channels.whatsapp.verify_token is not configured"),
            "token_mismatch",
            true,
        ),
        Some(_) => refuse(GatewayError::WebhookChallenge("hub.verify_token does not match"), "token_mismatch", true),
    }
}

/// Compare a presented secret with the configured one without leaking either's length:
/// digests have one length, and equal digests mean equal inputs.
fn secrets_equal(expected: &[u8], given: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    constant_time_eq(&Sha256::digest(expected), &Sha256::digest(given))
}

fn challenge_reply(challenge: &str) -> Decision {
    let body = serde_json::json!({ "challenge": challenge }).to_string().into_bytes();
    Decision::Respond(Response::json(200, body))
}

fn delivery(channel: Channel, head: &RequestHead, delivery_id: String, body: Vec<u8>, now_ms: u64) -> NewDelivery {
    let headers = KEPT_HEADERS
        .iter()
        .filter_map(|&name| head.header(name).map(|v| (name.to_owned(), String::from_utf8_lossy(v).into_owned())))
        .collect();
    NewDelivery { channel: channel.name(), delivery_id, received_ms: now_ms, headers, body }
}

fn body_refusal(e: BodyError, unverified: bool) -> Decision {
    let error = if e.is_schema() {
        GatewayError::WebhookSchema(e.to_string())
    } else {
        GatewayError::WebhookBody(e.to_string())
    };
    refuse(error, e.code(), unverified)
}

fn refuse(error: GatewayError, reason: &'static str, unverified: bool) -> Decision {
    Decision::Refuse { error, reason, unverified }
}

/// The 2xx of a delivery the store made durable (or recognised as a duplicate).
#[must_use]
pub fn stored_reply(reply: Reply, id: i64, duplicate: bool, durability: &'static str) -> Response {
    let body = match reply {
        Reply::DiscordDeferred => br#"{"type":5}"#.to_vec(),
        Reply::DiscordAutocomplete => br#"{"type":8,"data":{"choices":[]}}"#.to_vec(),
        Reply::Standard => format!(r#"{{"ok":true,"id":{id},"duplicate":{duplicate}}}"#).into_bytes(),
    };
    Response::json(200, body).with_header("X-Talon-Delivery", if duplicate { "duplicate" } else { durability })
}

/// The body cap of a webhook request, from its head: the endpoint's cap when the request
/// carries the scheme's signature header (on an unsigned endpoint: a valid webhook-scope
/// token, which `token_ok` checks), `ingest.max_unsigned_body_bytes` otherwise.
///
/// # Errors
/// The channel is not enabled.
pub fn body_cap(
    settings: &IngestSettings,
    channel: Channel,
    head: &RequestHead,
    token_ok: &dyn Fn() -> bool,
) -> Result<u64, GatewayError> {
    let (scheme, cap) = Scheme::of(settings, channel).ok_or(GatewayError::ChannelDisabled(channel.name()))?;
    if channel == Channel::WhatsApp && matches!(head.method, Method::Get | Method::Head) {
        return Ok(0);
    }
    let signed = match (scheme, scheme.signature_header()) {
        (Scheme::Unsigned, _) => token_ok(),
        (_, Some(name)) => head.header(name).is_some(),
        // The credential is inside the body (Lark without an Encrypt Key).
        (_, None) => true,
    };
    Ok(if signed { cap } else { settings.max_unsigned_body_bytes })
}
