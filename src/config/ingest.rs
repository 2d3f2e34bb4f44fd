//! Resolved webhook-ingestion settings: secrets read, keys parsed, caps chosen, once at start.
//!
//! Guarantees: a channel that is enabled but cannot verify anything it would need to (a
//! Discord channel without a valid public key, a Standard Webhooks secret that is not base64,
//! an unknown HMAC algorithm, an empty secret) is refused at start with its key path, so the
//! request path never meets a half-configured verifier.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;

use super::channels::ChannelsConfig;
use super::load::{ConfigError, Loaded, in_data_dir, resolve_secret};
use super::schema::Secret;
use crate::webhook::discord::DiscordKey;
use crate::webhook::{Algorithm, Channel};

/// How one native channel proves a delivery is genuine.
#[derive(Debug, Clone)]
pub enum NativeVerifier {
    /// `X-Telegram-Bot-Api-Secret-Token` equals this.
    Telegram {
        /// The `secret_token` given to `setWebhook`.
        secret_token: Vec<u8>,
    },
    /// Slack v0 signature.
    Slack {
        /// The app's signing secret.
        signing_secret: Vec<u8>,
    },
    /// Ed25519 over timestamp + body.
    Discord {
        /// The application's public key.
        key: DiscordKey,
    },
    /// `X-Hub-Signature-256`.
    WhatsApp {
        /// The Meta app secret.
        app_secret: Vec<u8>,
    },
    /// `x-line-signature`.
    Line {
        /// The channel secret.
        channel_secret: Vec<u8>,
    },
    /// `X-Lark-Signature` with an Encrypt Key, else the Verification Token in the body.
    Lark {
        /// The Verification Token.
        verification_token: Option<Vec<u8>>,
        /// The Encrypt Key.
        encrypt_key: Option<Vec<u8>>,
    },
}

/// One enabled channel.
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    /// Which channel.
    pub channel: Channel,
    /// The native verifier, when its secret is configured. Without one, Human's `X-Signature`
    /// applies if `ingest.webhook_hmac_secret` is set, else the delivery is unsigned.
    pub native: Option<NativeVerifier>,
    /// WhatsApp's `hub.verify_token` for the GET handshake.
    pub verify_token: Option<Vec<u8>>,
    /// Largest signed body.
    pub max_body_bytes: u64,
}

/// Comis's `/hooks/webhook`, resolved.
#[derive(Debug, Clone)]
pub struct HooksSettings {
    /// HMAC secret for the configurable header.
    pub secret: Option<Vec<u8>>,
    /// Digest algorithm.
    pub algorithm: Algorithm,
    /// Signature header name, lower case.
    pub signature_header: String,
    /// Timestamp header name, lower case.
    pub timestamp_header: String,
    /// Timestamp window either way.
    pub max_age_s: u64,
    /// Refuse deliveries without a timestamp.
    pub require_timestamp: bool,
    /// The Standard Webhooks secret (`whsec_...`), which takes precedence over `secret`.
    pub standard_secret: Option<String>,
    /// Largest signed body.
    pub max_body_bytes: u64,
}

/// When the store acknowledges a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckPolicy {
    /// After the commit that holds it is synced.
    Durable,
    /// After the commit; the log is synced every `interval`.
    Buffered {
        /// The sync interval (the loss window on power failure).
        interval: Duration,
    },
}

/// Everything the ingestion path reads.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Acknowledgement policy.
    pub ack: AckPolicy,
    /// Duplicate window.
    pub dedup_window: Duration,
    /// Most dedup keys held in memory.
    pub dedup_max_keys: usize,
    /// Cap of a request without a signature header.
    pub max_unsigned_body_bytes: u64,
    /// Human's `X-Signature` secret.
    pub generic_secret: Option<Vec<u8>>,
    /// Generic endpoint body cap.
    pub max_body_bytes: u64,
    /// Comis's endpoint, when enabled.
    pub hooks: Option<HooksSettings>,
    /// Enabled native channels, indexed by [`Channel::index`].
    pub channels: Vec<Option<ChannelSettings>>,
    /// Store file.
    pub store_path: PathBuf,
    /// `store.sync` is `full`.
    pub store_sync_full: bool,
    /// Store queue bound.
    pub queue: usize,
    /// Body bytes queued for the store writer at most.
    pub max_queued_bytes: u64,
    /// Store batch bound.
    pub max_batch: usize,
    /// Unacknowledged dispatches younger than this are dispatched again at start.
    pub resume_window: Duration,
}

impl IngestSettings {
    /// The settings of an enabled native channel.
    #[must_use]
    pub fn channel(&self, channel: Channel) -> Option<&ChannelSettings> {
        self.channels.get(channel.index()).and_then(Option::as_ref)
    }
}

/// Resolve the ingestion settings, pushing every problem into `errors`.
pub fn resolve(loaded: &Loaded, env: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<ConfigError>) -> IngestSettings {
    let c = &loaded.config;
    let ingest = &c.ingest;
    let mut secret = |path: &str, s: &Option<Secret>| -> Option<Vec<u8>> {
        let s = s.as_ref()?;
        match resolve_secret(path, s, env) {
            Ok(v) if v.is_empty() => {
                errors.push(ConfigError::new(path, String::from("is empty: remove the key or give the secret")));
                None
            }
            Ok(v) => Some(v.into_bytes()),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    };
    let generic_secret = secret("ingest.webhook_hmac_secret", &ingest.webhook_hmac_secret);
    let cap = |own: Option<u64>| own.unwrap_or(ingest.max_body_bytes);
    let channels = native_channels(&c.channels, &mut secret, &cap);
    let mut errors_after = Vec::new();
    let hooks = if ingest.hooks.enabled {
        let h = &ingest.hooks;
        let algorithm = match h.algorithm.to_ascii_lowercase().as_str() {
            "sha256" | "sha-256" => Algorithm::Sha256,
            "sha384" | "sha-384" => Algorithm::Sha384,
            "sha512" | "sha-512" => Algorithm::Sha512,
            other => {
                errors_after.push(ConfigError::new(
                    "ingest.hooks.algorithm",
                    format!("{other:?} is not sha256, sha384 or sha512"),
                ));
                Algorithm::Sha256
            }
        };
        let hmac_secret = secret("ingest.hooks.secret", &h.secret);
        let standard_secret = secret("ingest.hooks.standard_webhooks_secret", &h.standard_webhooks_secret)
            .and_then(|s| String::from_utf8(s).ok());
        if let Some(s) = &standard_secret {
            let key = s.strip_prefix(crate::webhook::standard::SECRET_PREFIX).unwrap_or(s);
            if base64::engine::general_purpose::STANDARD.decode(key).map_or(true, |k| k.is_empty()) {
                errors_after.push(ConfigError::new(
                    "ingest.hooks.standard_webhooks_secret",
                    "must be whsec_ followed by base64 of the key",
                ));
            }
        }
        if hmac_secret.is_none() && standard_secret.is_none() {
            errors_after.push(ConfigError::new(
                "ingest.hooks",
                "enabled without secret or standard_webhooks_secret: /hooks/webhook would accept anything",
            ));
        }
        Some(HooksSettings {
            secret: hmac_secret,
            algorithm,
            signature_header: h.signature_header.to_ascii_lowercase(),
            timestamp_header: h.timestamp_header.to_ascii_lowercase(),
            max_age_s: h.max_age_s,
            require_timestamp: h.require_timestamp,
            standard_secret,
            max_body_bytes: cap(h.max_body_bytes),
        })
    } else {
        None
    };
    errors.append(&mut errors_after);
    let discord = &c.channels.discord;
    if discord.enabled {
        match discord.public_key.as_deref().map(DiscordKey::from_hex) {
            None => errors.push(ConfigError::new(
                "channels.discord.public_key",
                "Discord requires every interaction to be verified: set the application's public key",
            )),
            Some(Err(_)) => errors.push(ConfigError::new(
                "channels.discord.public_key",
                "is not a valid Ed25519 public key (64 hex digits)",
            )),
            Some(Ok(_)) => {}
        }
    }
    if !matches!(ingest.ack.as_str(), "durable" | "buffered") {
        errors.push(ConfigError::new("ingest.ack", format!("{:?} is not \"durable\" or \"buffered\"", ingest.ack)));
    }
    if !matches!(c.store.sync.as_str(), "full" | "normal") {
        errors.push(ConfigError::new("store.sync", format!("{:?} is not \"full\" or \"normal\"", c.store.sync)));
    }
    for (path, v) in [
        ("ingest.buffered_sync_interval_ms", ingest.buffered_sync_interval_ms),
        ("ingest.max_body_bytes", ingest.max_body_bytes),
        ("ingest.dedup_window_s", ingest.dedup_window_s),
        ("ingest.queue", ingest.queue as u64),
        ("ingest.max_queued_bytes", ingest.max_queued_bytes),
        ("ingest.max_batch", ingest.max_batch as u64),
        ("ingest.dedup_max_keys", ingest.dedup_max_keys as u64),
    ] {
        if v == 0 {
            errors.push(ConfigError::new(path, "must be greater than 0"));
        }
    }
    let ack = if ingest.ack == "buffered" {
        AckPolicy::Buffered { interval: Duration::from_millis(ingest.buffered_sync_interval_ms) }
    } else {
        AckPolicy::Durable
    };
    IngestSettings {
        ack,
        dedup_window: Duration::from_secs(ingest.dedup_window_s),
        dedup_max_keys: ingest.dedup_max_keys,
        max_unsigned_body_bytes: ingest.max_unsigned_body_bytes,
        generic_secret,
        max_body_bytes: ingest.max_body_bytes,
        hooks,
        channels,
        store_path: in_data_dir(&loaded.data_dir, &c.store.path),
        store_sync_full: c.store.sync == "full",
        queue: ingest.queue,
        max_queued_bytes: ingest.max_queued_bytes,
        max_batch: ingest.max_batch,
        resume_window: Duration::from_secs(ingest.resume_window_s),
    }
}

fn native_channels(
    c: &ChannelsConfig,
    secret: &mut impl FnMut(&str, &Option<Secret>) -> Option<Vec<u8>>,
    cap: &impl Fn(Option<u64>) -> u64,
) -> Vec<Option<ChannelSettings>> {
    let mut out: Vec<Option<ChannelSettings>> = vec![None; Channel::ALL.len()];
    let mut put = |channel: Channel, native: Option<NativeVerifier>, verify_token, max: Option<u64>| {
        if let Some(slot) = out.get_mut(channel.index()) {
            *slot = Some(ChannelSettings { channel, native, verify_token, max_body_bytes: cap(max) });
        }
    };
    if c.telegram.enabled {
        let s = secret("channels.telegram.secret_token", &c.telegram.secret_token);
        put(
            Channel::Telegram,
            s.map(|secret_token| NativeVerifier::Telegram { secret_token }),
            None,
            c.telegram.max_body_bytes,
        );
    }
    if c.slack.enabled {
        let s = secret("channels.slack.signing_secret", &c.slack.signing_secret);
        put(
            Channel::Slack,
            s.map(|signing_secret| NativeVerifier::Slack { signing_secret }),
            None,
            c.slack.max_body_bytes,
        );
    }
    if c.discord.enabled {
        // A missing or bad key is reported by the caller; the channel then has no verifier.
        let key = c.discord.public_key.as_deref().and_then(|k| DiscordKey::from_hex(k).ok());
        put(Channel::Discord, key.map(|key| NativeVerifier::Discord { key }), None, c.discord.max_body_bytes);
    }
    if c.whatsapp.enabled {
        let s = secret("channels.whatsapp.app_secret", &c.whatsapp.app_secret);
        let token = secret("channels.whatsapp.verify_token", &c.whatsapp.verify_token);
        put(
            Channel::WhatsApp,
            s.map(|app_secret| NativeVerifier::WhatsApp { app_secret }),
            token,
            c.whatsapp.max_body_bytes,
        );
    }
    if c.line.enabled {
        let s = secret("channels.line.channel_secret", &c.line.channel_secret);
        put(
            Channel::Line,
            s.map(|channel_secret| NativeVerifier::Line { channel_secret }),
            None,
            c.line.max_body_bytes,
        );
    }
    if c.lark.enabled {
        let verification_token = secret("channels.lark.verification_token", &c.lark.verification_token);
        let encrypt_key = secret("channels.lark.encrypt_key", &c.lark.encrypt_key);
        let native = (verification_token.is_some() || encrypt_key.is_some())
            .then_some(NativeVerifier::Lark { verification_token, encrypt_key });
        put(Channel::Lark, native, None, c.lark.max_body_bytes);
    }
    out
}
