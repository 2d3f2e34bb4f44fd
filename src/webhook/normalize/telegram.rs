//! Telegram Bot API `Update` → [`Message`]: one per update.
//!
//! Message-like updates (`message`, `edited_message`, `channel_post`, `edited_channel_post`,
//! `business_message`, `edited_business_message`) give `from.id` (or `sender_chat.id` for
//! channel posts) as sender, `chat.id` as chat, `text` or `caption` as text, and the largest
//! `photo` size, `document`, `audio`, `video`, `voice`, `video_note`, `animation`, `sticker`
//! and `location` as attachments. `callback_query` gives its `data` as text and the chat of the
//! message its button was on; `inline_query` its `query`. Any other update is kind `update`.

use serde::Deserialize;

use super::{Attachment, Message, location};
use crate::webhook::Channel;
use crate::webhook::delivery::BodyError;
use crate::webhook::lenient::{List, Obj, Val, parse_object};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Update {
    message: Obj<TgMessage>,
    edited_message: Obj<TgMessage>,
    channel_post: Obj<TgMessage>,
    edited_channel_post: Obj<TgMessage>,
    business_message: Obj<TgMessage>,
    edited_business_message: Obj<TgMessage>,
    callback_query: Obj<Callback>,
    inline_query: Obj<Query>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TgMessage {
    from: Obj<Peer>,
    sender_chat: Obj<Peer>,
    chat: Obj<Peer>,
    text: Val,
    caption: Val,
    photo: List<Obj<File>>,
    document: Obj<File>,
    audio: Obj<File>,
    video: Obj<File>,
    voice: Obj<File>,
    video_note: Obj<File>,
    animation: Obj<File>,
    sticker: Obj<File>,
    location: Obj<Location>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Peer {
    id: Val,
    is_bot: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct File {
    file_id: Val,
    mime_type: Val,
    file_name: Val,
    width: Val,
    height: Val,
    file_size: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Location {
    latitude: Val,
    longitude: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Callback {
    from: Obj<Peer>,
    message: Obj<TgMessage>,
    data: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Query {
    from: Obj<Peer>,
    query: Val,
}

pub(super) fn normalize(body: &[u8]) -> Result<Vec<Message>, BodyError> {
    let u: Update = parse_object(body)?;
    let message_like = [
        ("message", &u.message),
        ("edited_message", &u.edited_message),
        ("channel_post", &u.channel_post),
        ("edited_channel_post", &u.edited_channel_post),
        // Business messages are messages a user sent to the connected business account.
        ("message", &u.business_message),
        ("edited_message", &u.edited_business_message),
    ];
    if let Some((kind, msg)) = message_like.into_iter().find_map(|(k, m)| m.get().map(|m| (k, m))) {
        return Ok(vec![message(kind, msg)]);
    }
    if let Some(cb) = u.callback_query.get() {
        let mut m = Message::new(Channel::Telegram, "callback_query");
        m.sender = peer_id(&cb.from);
        m.from_bot = cb.from.get().is_some_and(|p| p.is_bot == Val::Bool(true));
        m.chat = cb.message.get().and_then(|msg| peer_id(&msg.chat));
        m.text = cb.data.text();
        return Ok(vec![m]);
    }
    if let Some(q) = u.inline_query.get() {
        let mut m = Message::new(Channel::Telegram, "inline_query");
        m.sender = peer_id(&q.from);
        m.text = q.query.text();
        return Ok(vec![m]);
    }
    Ok(vec![Message::new(Channel::Telegram, "update")])
}

fn peer_id(p: &Obj<Peer>) -> Option<String> {
    p.get().and_then(|p| p.id.id())
}

fn message(kind: &str, msg: &TgMessage) -> Message {
    let mut m = Message::new(Channel::Telegram, kind);
    m.sender = peer_id(&msg.from).or_else(|| peer_id(&msg.sender_chat));
    m.from_bot = msg.from.get().is_some_and(|p| p.is_bot == Val::Bool(true));
    m.chat = peer_id(&msg.chat);
    m.text = msg.text.text().or_else(|| msg.caption.text());
    // Telegram lists every size of a photo; the largest is the one worth fetching.
    if let Some(p) = msg.photo.items().iter().filter_map(Obj::get).max_by_key(|p| area(p)) {
        m.attachments.push(file("photo", p));
    }
    let files = [
        ("document", &msg.document),
        ("audio", &msg.audio),
        ("video", &msg.video),
        ("voice", &msg.voice),
        ("video_note", &msg.video_note),
        ("animation", &msg.animation),
        ("sticker", &msg.sticker),
    ];
    m.attachments.extend(files.into_iter().filter_map(|(kind, f)| f.get().map(|f| file(kind, f))));
    if let Some(loc) = msg.location.get() {
        m.attachments.push(location(&loc.latitude, &loc.longitude, None));
    }
    m
}

/// Pixel count, else byte size, else 0: the order to pick the largest photo size by.
fn area(p: &File) -> (i128, i128) {
    let int = |v: &Val| match v {
        Val::Int(n) => *n,
        _ => 0,
    };
    (int(&p.width).saturating_mul(int(&p.height)), int(&p.file_size))
}

fn file(kind: &str, f: &File) -> Attachment {
    Attachment { mime: f.mime_type.text(), name: f.file_name.text(), ..Attachment::new(kind, f.file_id.text()) }
}
