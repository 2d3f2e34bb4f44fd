//! The messages in a stored webhook delivery, in one shape for every channel: what the
//! `message:received` event carries. One file per native channel beside this one.
//!
//! Sans-IO: a pure function of the channel, the `Content-Type` value and the body bytes.
//! Guarantees:
//! - never panics on any input; fails only where [`super::delivery::classify`] would refuse the
//!   body itself (empty, not JSON, not an object, too deep, Comis schema, undecrypted Lark,
//!   Slack `payload` not JSON) or on a duplicated field; anything classify delivers normalizes,
//!   except for a duplicated field, or an unpaired surrogate escape in a key or where an object
//!   is expected, that only this module reads (both only from a hostile sender);
//! - one [`Message`] per item the delivery carries: each WhatsApp message and status, each LINE
//!   event, else one per delivery; a handshake (Slack/Lark challenge, Discord PING, LINE verify)
//!   carries none and gives an empty `Vec`;
//! - **an item that is not a user message still gives a [`Message`]**, with a `kind` naming it
//!   (`status`, `reaction_added`, `follow`, …) and usually no text, so every stored delivery is
//!   visible to the `message:received` consumer, which filters on `kind`; [`Message::is_user_message`]
//!   is that filter for the common case;
//! - fields are read leniently: a field of an unexpected type counts as absent, never as an error,
//!   so a platform adding or retyping a field degrades one value, not the message;
//! - `kind` is at most 64 bytes of `[A-Za-z0-9_.:-]`: a platform's own event name is used when it
//!   fits, else a fixed fallback; ids are rendered as text (Telegram's integers in decimal).
//!
//! Vocabulary. `kind`: `message`, `edited_message`, `channel_post`, `edited_channel_post`,
//! `callback_query`, `inline_query`, `update` (Telegram, other), `app_mention`, `deleted_message`,
//! `command`, `interaction`, `component`, `autocomplete`, `modal_submit`, `reaction`, `postback`,
//! `status`, `event`, or the platform's event name. Attachment `kind`: the platform's own word:
//! `photo`, `document`, `audio`, `video`, `voice`, `video_note`, `animation`, `sticker`, `image`,
//! `file`, `location` (`url` is then a `geo:lat,lon` URI, RFC 5870).

mod discord;
mod lark;
mod line;
mod slack;
mod telegram;
mod whatsapp;

use serde::{Deserialize, Serialize};

use super::Channel;
use super::delivery::{BodyError, hooks_body};
use super::lenient::{IdLike, Val, parse_object};

/// Longest `kind` taken verbatim from a platform's event name.
const MAX_KIND_BYTES: usize = 64;

/// One message (or other item) of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// The channel's stable name ([`Channel::name`]).
    pub channel: &'static str,
    /// Who sent it: the platform's user id (Telegram `from.id`, Slack `user`, WhatsApp `from`, …).
    pub sender: Option<String>,
    /// Where to reply: the conversation id (Telegram `chat.id`, Slack `channel`, WhatsApp `from`,
    /// LINE group/room/user, Lark `chat_id`, …).
    pub chat: Option<String>,
    /// The text (or caption, command line, button data, …).
    pub text: Option<String>,
    /// Files, media and locations, in the order the payload lists them.
    pub attachments: Vec<Attachment>,
    /// What the item is (see the module vocabulary).
    pub kind: String,
    /// What a reply must name to answer this item: Slack's `thread_ts`, Discord's interaction
    /// `token`, LINE's `replyToken` (as `outbound::Target::from_parts` reads it). Never
    /// published: a Discord or LINE token lets whoever holds it reply as the bot.
    #[serde(skip)]
    pub reply_context: Option<String>,
    /// The thread within `chat` the item belongs to (Slack `thread_ts`): part of its session.
    #[serde(skip)]
    pub thread: Option<String>,
    /// Sent by a bot (Telegram `from.is_bot`, Slack `bot_id` or `bot_message`, Lark
    /// `sender_type: app`): never answered, so a bot never answers itself or another bot.
    #[serde(skip)]
    pub from_bot: bool,
}

impl Message {
    /// An empty message of `kind` from `channel`.
    fn new(channel: Channel, kind: impl Into<String>) -> Self {
        Self {
            channel: channel.name(),
            sender: None,
            chat: None,
            text: None,
            attachments: Vec::new(),
            kind: kind.into(),
            reply_context: None,
            thread: None,
            from_bot: false,
        }
    }

    /// Whether this is something a person wrote or sent (a message, edit, command, button
    /// press), as opposed to a status, reaction or other platform event.
    #[must_use]
    pub fn is_user_message(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "message"
                | "edited_message"
                | "channel_post"
                | "edited_channel_post"
                | "app_mention"
                | "callback_query"
                | "command"
                | "interaction"
                | "component"
                | "modal_submit"
                | "postback"
        )
    }
}

/// A file, medium or location attached to a [`Message`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    /// What it is (see the module vocabulary).
    pub kind: String,
    /// The platform's id for fetching it (Telegram `file_id`, WhatsApp media id, LINE message id,
    /// Lark `image_key` / `file_key`, Slack file id).
    pub id: Option<String>,
    /// A URL for it, where the payload has one (Slack `url_private`, Discord `url`, `geo:` URI).
    pub url: Option<String>,
    /// MIME type, where the payload says.
    pub mime: Option<String>,
    /// File name (or a location's name), where the payload says.
    pub name: Option<String>,
}

impl Attachment {
    /// An attachment of `kind` with the given platform id.
    fn new(kind: &str, id: Option<String>) -> Self {
        Self { kind: kind.to_owned(), id, url: None, mime: None, name: None }
    }
}

/// The messages in a stored delivery from `channel` (see the module guarantees).
pub fn normalize(channel: Channel, content_type: Option<&str>, body: &[u8]) -> Result<Vec<Message>, BodyError> {
    match channel {
        Channel::Generic => generic(body),
        Channel::Hooks => hooks(body),
        Channel::Telegram => telegram::normalize(body),
        Channel::Slack => slack::normalize(content_type, body),
        Channel::Discord => discord::normalize(body),
        Channel::WhatsApp => whatsapp::normalize(body),
        Channel::Line => line::normalize(body),
        Channel::Lark => lark::normalize(body),
    }
}

/// Human's `/webhook`: `{"message"|"text": …, "sender"|"from": …, "chat"|"channel": …}`; a body
/// that is not a JSON object is taken whole as the text (a JSON string unquoted).
fn generic(body: &[u8]) -> Result<Vec<Message>, BodyError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Body {
        message: Val,
        text: Val,
        sender: IdLike,
        from: IdLike,
        chat: IdLike,
        channel: IdLike,
    }
    let mut m = Message::new(Channel::Generic, "message");
    match parse_object::<Body>(body) {
        Ok(b) => {
            m.text = b.message.text().or_else(|| b.text.text());
            if m.text.is_none() {
                // No message field: the agent gets the payload itself (a GitHub event, say).
                m.kind = "event".to_owned();
                m.text = Some(String::from_utf8_lossy(body).into_owned());
            }
            m.sender = b.sender.0.or(b.from.0);
            m.chat = b.chat.0.or(b.channel.0);
        }
        Err(BodyError::Empty) => return Err(BodyError::Empty),
        Err(_) => {
            m.text = match serde_json::from_slice::<String>(body) {
                Ok(s) => Some(s),
                Err(_) => Some(String::from_utf8_lossy(body).into_owned()),
            };
        }
    }
    Ok(vec![m])
}

/// Comis's `/hooks/webhook`: `source` is the sender, the event name the kind, and the text is
/// `data.text` / `data.message` when `data` has one, else `data` itself (a string unquoted,
/// anything else as its JSON text).
fn hooks(body: &[u8]) -> Result<Vec<Message>, BodyError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Data {
        text: Val,
        message: Val,
    }
    let h = hooks_body(body)?;
    let mut m = Message::new(Channel::Hooks, kind_or(h.event.as_str(), "event"));
    m.sender = h.source.text();
    if let Some(raw) = h.data.0 {
        let json = raw.get();
        let text = match Val::from_raw(json) {
            Val::Str(s) => Some(s),
            // A re-parse of a captured object; if it fails (a duplicated `text`), the JSON it is.
            Val::Object => {
                serde_json::from_str::<Data>(json).ok().and_then(|d| d.text.text().or_else(|| d.message.text()))
            }
            _ => None,
        };
        m.text = text.or_else(|| Some(json.to_owned()));
    }
    Ok(vec![m])
}

/// `name` as a kind when it is a plausible identifier, else `fallback`.
fn kind_or(name: Option<&str>, fallback: &str) -> String {
    match name {
        Some(n)
            if !n.is_empty()
                && n.len() <= MAX_KIND_BYTES
                && n.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')) =>
        {
            n.to_owned()
        }
        _ => fallback.to_owned(),
    }
}

/// A `geo:lat,lon` URI (RFC 5870) when both coordinates are numbers.
fn geo(lat: &Val, lon: &Val) -> Option<String> {
    let num = |v: &Val| match v {
        Val::Int(_) | Val::Float(_) => v.scalar(),
        _ => None,
    };
    Some(format!("geo:{},{}", num(lat)?, num(lon)?))
}

/// A location attachment.
fn location(lat: &Val, lon: &Val, name: Option<String>) -> Attachment {
    Attachment { url: geo(lat, lon), name, ..Attachment::new("location", None) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_bounded_identifiers() {
        assert_eq!(kind_or(Some("im.message.receive_v1"), "event"), "im.message.receive_v1");
        assert_eq!(kind_or(Some("a b"), "event"), "event");
        assert_eq!(kind_or(Some(""), "event"), "event");
        assert_eq!(kind_or(Some(&"x".repeat(65)), "event"), "event");
        assert_eq!(kind_or(None, "update"), "update");
    }

    #[test]
    fn geo_needs_two_numbers() {
        assert_eq!(geo(&Val::Float(35.5), &Val::Int(139)), Some("geo:35.5,139".into()));
        assert_eq!(geo(&Val::Str("1".into()), &Val::Int(1)), None);
    }

    #[test]
    fn generic_takes_any_body() {
        let one = |b: &[u8]| normalize(Channel::Generic, None, b).map(|v| v.into_iter().next());
        let m = one(b"plain words").ok().flatten().expect("a message");
        assert_eq!((m.kind.as_str(), m.text.as_deref()), ("message", Some("plain words")));
        let m = one(br#""quoted""#).ok().flatten().expect("a message");
        assert_eq!(m.text.as_deref(), Some("quoted"));
        assert_eq!(one(b"  ").err(), Some(BodyError::Empty));
    }
}
