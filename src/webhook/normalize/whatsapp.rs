//! WhatsApp Cloud API notification → [`Message`]s: one per `entry[].changes[].value.messages[]`
//! and one per `statuses[]`, in payload order; a change with neither gives one `event`.
//!
//! Messages: sender and chat are `from` (the user's WhatsApp id: the conversation to reply into,
//! as Human keys its sessions; `metadata.phone_number_id` is the business number it arrived on,
//! the same for every conversation). Text is `text.body`, a media caption, an interactive
//! reply's or button's title, or a reaction's emoji (kind `reaction`). `image`, `document`,
//! `audio` (`voice` when flagged), `video` and `sticker` become attachments with their media
//! `id` and `mime_type`; `location` a `geo:` attachment. Statuses are kind `status` with the
//! recipient as chat and no text.

use serde::Deserialize;

use super::{Attachment, Message, location};
use crate::webhook::Channel;
use crate::webhook::delivery::BodyError;
use crate::webhook::lenient::{List, Obj, Val, parse_object};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Notification {
    entry: List<Obj<Entry>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Entry {
    changes: List<Obj<Change>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Change {
    value: Obj<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Value {
    messages: List<Obj<WaMessage>>,
    statuses: List<Obj<Status>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WaMessage {
    from: Val,
    #[serde(rename = "type")]
    kind: Val,
    text: Obj<Text>,
    image: Obj<Media>,
    document: Obj<Media>,
    audio: Obj<Media>,
    video: Obj<Media>,
    sticker: Obj<Media>,
    location: Obj<Location>,
    reaction: Obj<Reaction>,
    button: Obj<Button>,
    interactive: Obj<Interactive>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Text {
    body: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Media {
    id: Val,
    mime_type: Val,
    caption: Val,
    filename: Val,
    voice: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Location {
    latitude: Val,
    longitude: Val,
    name: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Reaction {
    emoji: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Button {
    text: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Interactive {
    button_reply: Obj<Reply>,
    list_reply: Obj<Reply>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Reply {
    title: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Status {
    recipient_id: Val,
}

pub(super) fn normalize(body: &[u8]) -> Result<Vec<Message>, BodyError> {
    let n: Notification = parse_object(body)?;
    let mut out = Vec::new();
    let changes =
        n.entry.items().iter().filter_map(Obj::get).flat_map(|e| e.changes.items().iter().filter_map(Obj::get));
    for change in changes {
        let Some(value) = change.value.get() else {
            out.push(Message::new(Channel::WhatsApp, "event"));
            continue;
        };
        let before = out.len();
        out.extend(value.messages.items().iter().filter_map(Obj::get).map(message));
        out.extend(value.statuses.items().iter().filter_map(Obj::get).map(|s| {
            let mut m = Message::new(Channel::WhatsApp, "status");
            m.chat = s.recipient_id.id();
            m
        }));
        if out.len() == before {
            // account_update, template status and the like: no message, still a delivery.
            out.push(Message::new(Channel::WhatsApp, "event"));
        }
    }
    Ok(out)
}

fn message(msg: &WaMessage) -> Message {
    let kind = if msg.kind.as_str() == Some("reaction") { "reaction" } else { "message" };
    let mut m = Message::new(Channel::WhatsApp, kind);
    m.sender = msg.from.id();
    m.chat = m.sender.clone();
    let media = [
        ("image", &msg.image),
        ("document", &msg.document),
        ("audio", &msg.audio),
        ("video", &msg.video),
        ("sticker", &msg.sticker),
    ];
    let mut caption = None;
    for (kind, media) in media {
        let Some(md) = media.get() else { continue };
        let kind = if kind == "audio" && md.voice == Val::Bool(true) { "voice" } else { kind };
        caption = caption.or_else(|| md.caption.text());
        m.attachments.push(Attachment {
            mime: md.mime_type.text(),
            name: md.filename.text(),
            ..Attachment::new(kind, md.id.text())
        });
    }
    if let Some(loc) = msg.location.get() {
        m.attachments.push(location(&loc.latitude, &loc.longitude, loc.name.text()));
    }
    let interactive = msg.interactive.get().and_then(|i| {
        let title = |r: &Obj<Reply>| r.get().and_then(|r| r.title.text());
        title(&i.button_reply).or_else(|| title(&i.list_reply))
    });
    m.text = msg
        .text
        .get()
        .and_then(|t| t.body.text())
        .or(caption)
        .or(interactive)
        .or_else(|| msg.button.get().and_then(|b| b.text.text()))
        .or_else(|| msg.reaction.get().and_then(|r| r.emoji.text()));
    m
}
