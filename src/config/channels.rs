//! The `channels` and `ingest.hooks` sections: per-channel verification secrets, send-API
//! settings and body caps, and Comis's generic HMAC endpoint.
//!
//! Guarantees: unknown keys are refused with their path like everywhere else; every secret
//! may be a literal or `{"env": "NAME"}`; defaults are those of `shared/CONFIG.md`. Keys read
//! by the outbound side (bot tokens, `api_base`) are accepted here and used by the channel
//! runtime; the ingestion side reads the verification secrets and `max_body_bytes`.

use serde::{Deserialize, Serialize};

use super::schema::Secret;

/// `channels`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsConfig {
    /// Telegram Bot API.
    pub telegram: TelegramConfig,
    /// Slack Events API.
    pub slack: SlackConfig,
    /// Discord interactions.
    pub discord: DiscordConfig,
    /// WhatsApp Cloud API.
    pub whatsapp: WhatsAppConfig,
    /// LINE Messaging API.
    pub line: LineConfig,
    /// Lark / Feishu.
    pub lark: LarkConfig,
    /// How replies are delivered back to the channels (the durable outbox's sender).
    pub outbound: OutboundConfig,
    /// The channel loop: an agent turn per inbound message, its reply through the outbox.
    pub replies: RepliesConfig,
}

/// `channels.replies`: inbound channel messages answered by agent turns.
///
/// The dispatcher runs a turn for each user message of a stored delivery from a channel whose
/// send side is configured, in the session `<channel>:<chat id>`, and the turn's end queues the
/// reply in the outbox in the same transaction. Values of 0 are raised to 1.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepliesConfig {
    /// Answer channel messages. Off: deliveries are only published (`message:received`) and
    /// left `dispatched`, as for a channel without send credentials.
    pub enabled: bool,
    /// Channel turns started by the dispatcher and not ended yet. Past it, the dispatcher starts
    /// no more turns until one ends: later deliveries wait (published and `dispatched`, stored)
    /// in line behind the first one it could not start, never dropped.
    pub max_in_flight: usize,
    /// First delay before the dispatcher tries again to start a turn the agent refused
    /// (its queue, or the session's, is full); doubles per refusal up to `retry_max_ms`.
    pub retry_base_ms: u64,
    /// Longest delay between two tries of the same delivery.
    pub retry_max_ms: u64,
    /// Sent to the user, through the outbox, when the turn answering them ends in an error
    /// (upstream down, timeout); the inbox row becomes `failed` either way. Empty: nothing is
    /// sent.
    pub error_text: String,
}

impl Default for RepliesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_in_flight: 16,
            retry_base_ms: 200,
            retry_max_ms: 5_000,
            error_text: "Sorry, I could not answer that just now. Please try again in a moment.".into(),
        }
    }
}

/// `channels.outbound`: the outbox sender's retry policy and pacing.
///
/// Values of 0 are raised to 1 (a zero attempt count, interval or timeout would make no sense);
/// the sender documents what each bound does when it is reached.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Run the sender thread. Off: messages stay `pending` in the outbox until it runs again.
    pub enabled: bool,
    /// Attempts per message (the first send included); after the last retryable failure the
    /// row becomes `failed` with the last error.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to `backoff_max_ms`. A platform's
    /// `Retry-After` / `retry_after` wins when it asks for longer.
    pub backoff_base_ms: u64,
    /// Largest backoff delay between two attempts.
    pub backoff_max_ms: u64,
    /// How often the outbox is read when no enqueue rang the doorbell.
    pub poll_interval_ms: u64,
    /// Most messages sent in one round; the rest wait for the next round (right after).
    pub batch: usize,
    /// TCP connect timeout of one send.
    pub connect_timeout_ms: u64,
    /// Whole-request timeout of one send (connect, upload, response); past it the attempt is a
    /// retryable failure.
    pub request_timeout_ms: u64,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_attempts: 8,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
            poll_interval_ms: 1_000,
            batch: 32,
            connect_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
        }
    }
}

/// `channels.telegram`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Serve `/webhook/telegram` (and the legacy `/telegram`).
    pub enabled: bool,
    /// Bot token for the send API.
    pub bot_token: Option<Secret>,
    /// The `secret_token` given to `setWebhook`; checked against `X-Telegram-Bot-Api-Secret-Token`.
    pub secret_token: Option<Secret>,
    /// Send API base URL.
    pub api_base: String,
    /// Largest signed delivery; larger is 413 before the body is read. Default `ingest.max_body_bytes`.
    pub max_body_bytes: Option<u64>,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bot_token: None,
            secret_token: None,
            api_base: "https://api.telegram.org".into(),
            max_body_bytes: None,
        }
    }
}

/// `channels.slack`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// Serve `/webhook/slack` (and the legacy `/slack/events`).
    pub enabled: bool,
    /// Signing secret for `X-Slack-Signature` (v0, 300 s window).
    pub signing_secret: Option<Secret>,
    /// Bot token for the send API.
    pub bot_token: Option<Secret>,
    /// Send API base URL.
    pub api_base: String,
    /// Largest signed delivery; larger is 413 before the body is read. Default `ingest.max_body_bytes`.
    pub max_body_bytes: Option<u64>,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            signing_secret: None,
            bot_token: None,
            api_base: "https://slack.com/api".into(),
            max_body_bytes: None,
        }
    }
}

/// `channels.discord`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Serve `/webhook/discord`.
    pub enabled: bool,
    /// The application's Ed25519 public key, 64 hex digits.
    pub public_key: Option<String>,
    /// Application id (send API).
    pub application_id: Option<String>,
    /// Bot token for the send API.
    pub bot_token: Option<Secret>,
    /// Send API base URL.
    pub api_base: String,
    /// Largest signed delivery; larger is 413 before the body is read. Default `ingest.max_body_bytes`.
    pub max_body_bytes: Option<u64>,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            public_key: None,
            application_id: None,
            bot_token: None,
            api_base: "https://discord.com/api/v10".into(),
            max_body_bytes: None,
        }
    }
}

/// `channels.whatsapp`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhatsAppConfig {
    /// Serve `/webhook/whatsapp`.
    pub enabled: bool,
    /// App secret for `X-Hub-Signature-256`.
    pub app_secret: Option<Secret>,
    /// The token Meta echoes in the `hub.verify_token` handshake.
    pub verify_token: Option<Secret>,
    /// Access token for the send API.
    pub access_token: Option<Secret>,
    /// Sender phone number id (send API).
    pub phone_number_id: Option<String>,
    /// Send API base URL.
    pub api_base: String,
    /// Largest signed delivery; larger is 413 before the body is read. Default `ingest.max_body_bytes`.
    pub max_body_bytes: Option<u64>,
}

impl Default for WhatsAppConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            app_secret: None,
            verify_token: None,
            access_token: None,
            phone_number_id: None,
            api_base: "https://graph.facebook.com/v21.0".into(),
            max_body_bytes: None,
        }
    }
}

/// `channels.line`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LineConfig {
    /// Serve `/webhook/line`.
    pub enabled: bool,
    /// Channel secret for `x-line-signature`.
    pub channel_secret: Option<Secret>,
    /// Access token for the send API.
    pub channel_access_token: Option<Secret>,
    /// Send API base URL.
    pub api_base: String,
    /// Largest signed delivery; larger is 413 before the body is read. Default `ingest.max_body_bytes`.
    pub max_body_bytes: Option<u64>,
}

impl Default for LineConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            channel_secret: None,
            channel_access_token: None,
            api_base: "https://api.line.me".into(),
            max_body_bytes: None,
        }
    }
}

/// `channels.lark`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LarkConfig {
    /// Serve `/webhook/lark`.
    pub enabled: bool,
    /// Verification Token (checked in `url_verification` and, without an Encrypt Key, in every event).
    pub verification_token: Option<Secret>,
    /// Encrypt Key: bodies arrive as `{"encrypt": ...}` and events carry `X-Lark-Signature`.
    pub encrypt_key: Option<Secret>,
    /// App id (send API).
    pub app_id: Option<String>,
    /// App secret (send API).
    pub app_secret: Option<Secret>,
    /// Send API base URL.
    pub api_base: String,
    /// Largest signed delivery; larger is 413 before the body is read. Default `ingest.max_body_bytes`.
    pub max_body_bytes: Option<u64>,
}

impl Default for LarkConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            verification_token: None,
            encrypt_key: None,
            app_id: None,
            app_secret: None,
            api_base: "https://open.feishu.cn/open-apis".into(),
            max_body_bytes: None,
        }
    }
}

/// `ingest.hooks`: Comis's `POST /hooks/webhook`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HooksConfig {
    /// Serve `/hooks/webhook` (Comis mounts it only when configured).
    pub enabled: bool,
    /// HMAC secret for `signature_header`.
    pub secret: Option<Secret>,
    /// `sha256`, `sha384` or `sha512`.
    pub algorithm: String,
    /// Header carrying the hex HMAC of the raw body (an `<algorithm>=` prefix is accepted).
    pub signature_header: String,
    /// Header carrying a Unix timestamp in seconds, checked against `max_age_s`.
    pub timestamp_header: String,
    /// Window either way for the timestamp.
    pub max_age_s: u64,
    /// Refuse deliveries without the timestamp header.
    pub require_timestamp: bool,
    /// `whsec_...`: verify with the Standard Webhooks preset (`webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`) instead of `secret`.
    pub standard_webhooks_secret: Option<Secret>,
    /// Largest signed delivery; larger is 413 before the body is read. Default `ingest.max_body_bytes`.
    pub max_body_bytes: Option<u64>,
}

impl Default for HooksConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            secret: None,
            algorithm: "sha256".into(),
            signature_header: "x-webhook-signature".into(),
            timestamp_header: "x-webhook-timestamp".into(),
            max_age_s: 300,
            require_timestamp: false,
            standard_webhooks_secret: None,
            max_body_bytes: None,
        }
    }
}
