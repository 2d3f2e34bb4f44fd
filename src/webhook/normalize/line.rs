//! LINE Messaging API webhook → [`Message`]s: one per `events[]` entry (none for the console's
//! empty "Verify" body).
//!
//! Sender `source.userId`; chat `source.groupId`, else `roomId`, else `userId` (a 1:1 chat is
//! the user). `message` events are kind `message`: `text` as text; `image`, `video`, `audio`,
//! `file` (with `fileName`) and `sticker` as attachments whose id is `message.id` (what the
//! content API fetches), with `contentProvider.originalContentUrl` as url when the content is
//! external; `location` as a `geo:` attachment named by its `title`. `postback` events are
//! kind `postback` with `postback.data` as text; any other event (`follow`, `join`, `unsend`,
//! …) is kind = its type, without text.

use serde::Deserialize;

use super::{Attachment, Message, kind_or, location};
use crate::webhook::Channel;
use crate::webhook::delivery::BodyError;
use crate::webhook::lenient::{List, Obj, Val, parse_object};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Callback {
    events: List<Obj<Event>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Event {
    #[serde(rename = "type")]
    kind: Val,
    source: Obj<Source>,
    message: Obj<LineMessage>,
    postback: Obj<Postback>,
    #[serde(rename = "replyToken")]
    reply_token: Val,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Source {
    user_id: Val,
    group_id: Val,
    room_id: Val,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct LineMessage {
    id: Val,
    #[serde(rename = "type")]
    kind: Val,
    text: Val,
    file_name: Val,
    title: Val,
    latitude: Val,
    longitude: Val,
    content_provider: Obj<ContentProvider>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ContentProvider {
    original_content_url: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Postback {
    data: Val,
}

pub(super) fn normalize(body: &[u8]) -> Result<Vec<Message>, BodyError> {
    let c: Callback = parse_object(body)?;
    Ok(c.events.items().iter().filter_map(Obj::get).map(event).collect())
}

fn event(ev: &Event) -> Message {
    let kind = ev.kind.as_str();
    let mut m = Message::new(Channel::Line, kind_or(kind, "event"));
    m.reply_context = ev.reply_token.text();
    if let Some(src) = ev.source.get() {
        m.sender = src.user_id.text();
        m.chat = src.group_id.text().or_else(|| src.room_id.text()).or_else(|| src.user_id.text());
    }
    match kind {
        Some("message") => {
            if let Some(msg) = ev.message.get() {
                add_message(&mut m, msg);
            }
        }
        Some("postback") => m.text = ev.postback.get().and_then(|p| p.data.text()),
        _ => {}
    }
    m
}

fn add_message(m: &mut Message, msg: &LineMessage) {
    match msg.kind.as_str() {
        Some("text") => m.text = msg.text.text(),
        Some(kind @ ("image" | "video" | "audio" | "file" | "sticker")) => m.attachments.push(Attachment {
            url: msg.content_provider.get().and_then(|p| p.original_content_url.text()),
            name: msg.file_name.text(),
            ..Attachment::new(kind, msg.id.id())
        }),
        Some("location") => m.attachments.push(location(&msg.latitude, &msg.longitude, msg.title.text())),
        _ => {}
    }
}
