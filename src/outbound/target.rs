//! Where a reply goes on each platform, as stored in the outbox row's `target` column (JSON).
//!
//! Guarantees: [`Target::from_parts`] checks every field the platform needs before anything is
//! queued, so a row in the outbox always names a complete destination; [`Target::parse`] of a
//! stored row that is not one (written by another version, edited by hand) is an error the
//! sender records as `failed`, never a panic.

use serde::{Deserialize, Serialize};

use crate::webhook::Channel;

/// Longest id, token or thread stamp accepted in a target (platform ids are far shorter; a
/// LINE reply token or a Discord interaction token is a few hundred bytes).
pub const MAX_TARGET_FIELD_BYTES: usize = 1024;

/// One destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Target {
    /// Telegram `sendMessage`.
    Telegram {
        /// `chat_id`: a number, or `@channelusername`.
        chat_id: String,
        /// `reply_to_message_id`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to_message_id: Option<i64>,
    },
    /// Slack `chat.postMessage`.
    Slack {
        /// Channel id.
        channel: String,
        /// Thread to reply in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_ts: Option<String>,
    },
    /// Discord: an interaction follow-up when `interaction_token` is set, else a channel message.
    Discord {
        /// Channel id (used without an interaction token).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel_id: Option<String>,
        /// The interaction's token (valid for 15 minutes after the interaction).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interaction_token: Option<String>,
    },
    /// WhatsApp Cloud `messages`.
    Whatsapp {
        /// Recipient phone number (wa_id).
        to: String,
        /// The message replied to (`context.message_id`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
    },
    /// LINE: `reply` with the reply token when there is one, else `push` to `to`.
    Line {
        /// User, group or room id (push).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        /// The event's reply token (single use, short lived).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_token: Option<String>,
    },
    /// Lark / Feishu message create (or reply when `reply_to` names a message).
    Lark {
        /// `receive_id` with `receive_id_type=chat_id`.
        chat_id: String,
        /// Message id to reply to (`/im/v1/messages/{id}/reply`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
    },
}

/// Why a target cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError(pub String);

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn field(name: &str, value: &str) -> Result<String, TargetError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(TargetError(format!("{name} is empty")));
    }
    if v.len() > MAX_TARGET_FIELD_BYTES {
        return Err(TargetError(format!("{name} is longer than {MAX_TARGET_FIELD_BYTES} bytes")));
    }
    if v.chars().any(char::is_control) {
        return Err(TargetError(format!("{name} contains control characters")));
    }
    Ok(v.to_owned())
}

fn optional(name: &str, value: Option<&str>) -> Result<Option<String>, TargetError> {
    value.filter(|v| !v.trim().is_empty()).map(|v| field(name, v)).transpose()
}

/// Path segments must not break out of the platform's path (`/`, `?`, `#`, `%`).
fn path_safe(name: &str, value: &str) -> Result<(), TargetError> {
    if value.contains(['/', '?', '#', '%', ' ']) {
        return Err(TargetError(format!("{name} contains a character not allowed in a URL path segment")));
    }
    Ok(())
}

impl Target {
    /// The destination for `channel` from the generic pair the runtime has: `target` (chat,
    /// channel, phone, user id) and `reply_context` (what the reply answers: Telegram message id,
    /// Slack `thread_ts`, Discord interaction token, WhatsApp message id, LINE reply token, Lark
    /// message id). For Discord and LINE `target` may be empty when `reply_context` is given.
    ///
    /// # Errors
    /// The channel has no send API, or a field is missing, too long or malformed.
    pub fn from_parts(channel: Channel, target: &str, reply_context: Option<&str>) -> Result<Self, TargetError> {
        Ok(match channel {
            Channel::Telegram => {
                let reply_to_message_id = match optional("reply_context", reply_context)? {
                    None => None,
                    Some(v) => Some(v.parse::<i64>().map_err(|_| {
                        TargetError(format!("telegram reply_context {v:?} is not a message id (an integer)"))
                    })?),
                };
                let chat_id = field("telegram chat id", target)?;
                path_safe("telegram chat id", &chat_id)?;
                Self::Telegram { chat_id, reply_to_message_id }
            }
            Channel::Slack => Self::Slack {
                channel: field("slack channel", target)?,
                thread_ts: optional("thread_ts", reply_context)?,
            },
            Channel::Discord => {
                let channel_id = optional("discord channel id", Some(target))?;
                let interaction_token = optional("discord interaction token", reply_context)?;
                for (name, v) in
                    [("discord channel id", &channel_id), ("discord interaction token", &interaction_token)]
                {
                    if let Some(v) = v {
                        path_safe(name, v)?;
                    }
                }
                if channel_id.is_none() && interaction_token.is_none() {
                    return Err(TargetError("discord needs a channel id or an interaction token".into()));
                }
                Self::Discord { channel_id, interaction_token }
            }
            Channel::WhatsApp => Self::Whatsapp {
                to: field("whatsapp recipient", target)?,
                reply_to: optional("reply_context", reply_context)?,
            },
            Channel::Line => {
                let to = optional("line push target", Some(target))?;
                let reply_token = optional("line reply token", reply_context)?;
                if to.is_none() && reply_token.is_none() {
                    return Err(TargetError("line needs a reply token or a user/group/room id".into()));
                }
                Self::Line { to, reply_token }
            }
            Channel::Lark => {
                let reply_to = optional("lark message id", reply_context)?;
                if let Some(id) = &reply_to {
                    path_safe("lark message id", id)?;
                }
                Self::Lark { chat_id: field("lark chat id", target)?, reply_to }
            }
            Channel::Generic | Channel::Hooks => {
                return Err(TargetError(format!("channel {} has no send API", channel.name())));
            }
        })
    }

    /// The channel it belongs to.
    #[must_use]
    pub const fn channel(&self) -> Channel {
        match self {
            Self::Telegram { .. } => Channel::Telegram,
            Self::Slack { .. } => Channel::Slack,
            Self::Discord { .. } => Channel::Discord,
            Self::Whatsapp { .. } => Channel::WhatsApp,
            Self::Line { .. } => Channel::Line,
            Self::Lark { .. } => Channel::Lark,
        }
    }

    /// The stored form.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A stored target.
    ///
    /// # Errors
    /// It is not a target this version knows.
    pub fn parse(stored: &str) -> Result<Self, TargetError> {
        serde_json::from_str(stored).map_err(|e| TargetError(format!("stored outbox target is not valid: {e}")))
    }

    /// The conversation this target writes into: parts of one reply to the same conversation
    /// are sent in order, one after the other.
    #[must_use]
    pub fn conversation(&self) -> String {
        match self {
            Self::Telegram { chat_id, .. } => format!("telegram:{chat_id}"),
            Self::Slack { channel, thread_ts } => format!("slack:{channel}:{}", thread_ts.as_deref().unwrap_or("")),
            Self::Discord { channel_id, interaction_token } => format!(
                "discord:{}:{}",
                channel_id.as_deref().unwrap_or(""),
                interaction_token.as_deref().unwrap_or("")
            ),
            Self::Whatsapp { to, .. } => format!("whatsapp:{to}"),
            Self::Line { to, reply_token } => {
                format!("line:{}:{}", to.as_deref().unwrap_or(""), reply_token.as_deref().unwrap_or(""))
            }
            Self::Lark { chat_id, .. } => format!("lark:{chat_id}"),
        }
    }
}
