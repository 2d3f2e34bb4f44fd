//! From an outbox row to a platform request, and from a response to a [`Verdict`]: the pure
//! part of the sender, with everything it needs passed in.
//!
//! Guarantees: a channel whose send credentials are not configured gives a clear permanent
//! error naming the missing `channels.<name>.*` key, never a request without them.

use super::target::Target;
use super::{OutRequest, OutResponse, Verdict, discord, idempotency_uuid, lark, line, slack, telegram, whatsapp};

/// The send-side settings of one channel, secrets resolved.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Creds {
    /// `channels.<name>.api_base`.
    pub api_base: String,
    /// Telegram/Slack/Discord `bot_token`, WhatsApp `access_token`, LINE
    /// `channel_access_token`; Lark: `app_secret`.
    pub token: Option<String>,
    /// Discord `application_id`, WhatsApp `phone_number_id`, Lark `app_id`.
    pub account: Option<String>,
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Creds")
            .field("api_base", &self.api_base)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("account", &self.account)
            .finish()
    }
}

/// The row being sent.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// Outbox id.
    pub id: i64,
    /// Its `created_ms` (part of the idempotency key).
    pub created_ms: u64,
    /// The text.
    pub text: &'a str,
}

fn need<'a>(value: Option<&'a String>, key: &str) -> Result<&'a str, String> {
    value.map(String::as_str).filter(|v| !v.is_empty()).ok_or_else(|| format!("{key} is not configured"))
}

/// The request for `row` to `target`. Lark needs its tenant token (`lark_token`), fetched by
/// the caller with [`lark::token_request`].
///
/// # Errors
/// A credential the call needs is missing (permanent: the row becomes `failed` with this text).
pub fn build(target: &Target, row: Row<'_>, creds: &Creds, lark_token: Option<&str>) -> Result<OutRequest, String> {
    let base = creds.api_base.as_str();
    Ok(match target {
        Target::Telegram { chat_id, reply_to_message_id } => telegram::request(
            base,
            need(creds.token.as_ref(), "channels.telegram.bot_token")?,
            chat_id,
            *reply_to_message_id,
            row.text,
        ),
        Target::Slack { channel, thread_ts } => slack::request(
            base,
            need(creds.token.as_ref(), "channels.slack.bot_token")?,
            channel,
            thread_ts.as_deref(),
            row.text,
        ),
        Target::Discord { interaction_token: Some(token), .. } => discord::followup_request(
            base,
            need(creds.account.as_ref(), "channels.discord.application_id")?,
            token,
            row.text,
        ),
        Target::Discord { channel_id: Some(channel), interaction_token: None } => {
            discord::channel_request(base, need(creds.token.as_ref(), "channels.discord.bot_token")?, channel, row.text)
        }
        Target::Discord { channel_id: None, interaction_token: None } => {
            return Err("discord target has neither a channel id nor an interaction token".into());
        }
        Target::Whatsapp { to, reply_to } => whatsapp::request(
            base,
            need(creds.token.as_ref(), "channels.whatsapp.access_token")?,
            need(creds.account.as_ref(), "channels.whatsapp.phone_number_id")?,
            to,
            reply_to.as_deref(),
            row.text,
        ),
        Target::Line { reply_token: Some(token), .. } => line::reply_request(
            base,
            need(creds.token.as_ref(), "channels.line.channel_access_token")?,
            token,
            row.text,
        ),
        Target::Line { to: Some(to), reply_token: None } => line::push_request(
            base,
            need(creds.token.as_ref(), "channels.line.channel_access_token")?,
            to,
            &idempotency_uuid(row.id, row.created_ms),
            row.text,
        ),
        Target::Line { to: None, reply_token: None } => {
            return Err("line target has neither a reply token nor a push target".into());
        }
        Target::Lark { chat_id, reply_to } => {
            let token = lark_token.ok_or("lark tenant token not available")?;
            let uuid = idempotency_uuid(row.id, row.created_ms);
            match reply_to {
                Some(message_id) => lark::reply_request(base, token, message_id, &uuid, row.text),
                None => lark::message_request(base, token, chat_id, &uuid, row.text),
            }
        }
    })
}

/// What `response` to a request for `target` means.
#[must_use]
pub fn classify(target: &Target, response: &OutResponse<'_>) -> Verdict {
    match target {
        Target::Telegram { .. } => telegram::classify(response),
        Target::Slack { .. } => slack::classify(response),
        Target::Discord { .. } => discord::classify(response),
        Target::Whatsapp { .. } => whatsapp::classify(response),
        Target::Line { reply_token, .. } => line::classify(response, reply_token.is_none()),
        Target::Lark { .. } => lark::classify(response),
    }
}

/// The secrets of `creds` (and a Lark token), to scrub from any text kept or logged.
#[must_use]
pub fn secrets<'a>(creds: &'a Creds, lark_token: Option<&'a str>) -> Vec<&'a str> {
    creds.token.as_deref().into_iter().chain(lark_token).filter(|s| !s.is_empty()).collect()
}

/// `text` with every secret replaced by `***`.
#[must_use]
pub fn scrub(mut text: String, secrets: &[&str]) -> String {
    for s in secrets {
        if !s.is_empty() && text.contains(s) {
            text = text.replace(s, "***");
        }
    }
    text
}
