//! Lark / Feishu event → [`Message`]: one per event; the URL-verification challenge gives none,
//! an undecrypted `{"encrypt":…}` body is refused ([`BodyError::Encrypted`]).
//!
//! v2 (`schema: "2.0"`) `im.message.receive_v1` is kind `message`: sender
//! `event.sender.sender_id.open_id` (else `user_id`, `union_id`), chat `event.message.chat_id`.
//! `event.message.content` is itself a JSON *string*: `{"text":…}` for `text`, title and text
//! runs for `post`, `image_key` for `image`, `file_key` (+ `file_name`) for `file`, `audio`,
//! `media` (a `video`) and `sticker`. Other v2 events are kind = their `header.event_type`.
//! v1 `message` events read `open_id`, `open_chat_id`, `text_without_at_bot` (else `text`) and
//! `image_key`; other v1 events are kind = their `event.type`.

use serde::Deserialize;

use super::{Attachment, Message, kind_or};
use crate::webhook::Channel;
use crate::webhook::delivery::BodyError;
use crate::webhook::lenient::{List, Obj, Val, parse_object};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Callback {
    encrypt: Val,
    #[serde(rename = "type")]
    kind: Val,
    schema: Val,
    header: Obj<Header>,
    event: Obj<Event>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Header {
    event_type: Val,
}

/// The union of the v2 and v1 event fields this reads.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Event {
    sender: Obj<Sender>,
    message: Obj<LarkMessage>,
    #[serde(rename = "type")]
    kind: Val,
    open_id: Val,
    open_chat_id: Val,
    text: Val,
    text_without_at_bot: Val,
    msg_type: Val,
    image_key: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Sender {
    sender_id: Obj<SenderId>,
    sender_type: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SenderId {
    open_id: Val,
    user_id: Val,
    union_id: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LarkMessage {
    chat_id: Val,
    message_type: Val,
    content: Val,
}

/// The decoded `content` string of a v2 message.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Content {
    text: Val,
    title: Val,
    image_key: Val,
    file_key: Val,
    file_name: Val,
    /// `post`: paragraphs of runs.
    content: List<List<Obj<Run>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Run {
    text: Val,
}

pub(super) fn normalize(body: &[u8]) -> Result<Vec<Message>, BodyError> {
    let c: Callback = parse_object(body)?;
    if c.encrypt.is_present() {
        return Err(BodyError::Encrypted);
    }
    if c.kind.as_str() == Some("url_verification") {
        return Ok(Vec::new());
    }
    let event = c.event.get();
    if c.schema.is_present() || !matches!(c.header, Obj::Absent) {
        let event_type = c.header.get().and_then(|h| h.event_type.as_str());
        let v2_message = event.filter(|_| event_type == Some("im.message.receive_v1"));
        return Ok(vec![v2_message.map_or_else(|| Message::new(Channel::Lark, kind_or(event_type, "event")), v2)]);
    }
    Ok(vec![event.map_or_else(|| Message::new(Channel::Lark, "event"), v1)])
}

fn v2(ev: &Event) -> Message {
    let mut m = Message::new(Channel::Lark, "message");
    m.from_bot = ev.sender.get().is_some_and(|s| s.sender_type.as_str() == Some("app"));
    m.sender = ev
        .sender
        .get()
        .and_then(|s| s.sender_id.get())
        .and_then(|id| id.open_id.text().or_else(|| id.user_id.text()).or_else(|| id.union_id.text()));
    let Some(msg) = ev.message.get() else { return m };
    m.chat = msg.chat_id.text();
    // Unparsable content leaves the text empty rather than failing the stored delivery.
    let content: Content = msg.content.as_str().and_then(|s| parse_object(s.as_bytes()).ok()).unwrap_or_default();
    let file = |kind| Attachment { name: content.file_name.text(), ..Attachment::new(kind, content.file_key.text()) };
    match msg.message_type.as_str() {
        Some("text") => m.text = content.text.text(),
        Some("post") => m.text = post_text(&content),
        Some("image") => m.attachments.push(Attachment::new("image", content.image_key.text())),
        Some("file") => m.attachments.push(file("file")),
        Some("audio") => m.attachments.push(file("audio")),
        Some("media") => m.attachments.push(file("video")),
        Some("sticker") => m.attachments.push(file("sticker")),
        _ => {}
    }
    m
}

/// A post's title and paragraphs, one per line; runs without text (images, @mentions' ids) skipped.
fn post_text(content: &Content) -> Option<String> {
    let mut lines: Vec<String> = content.title.text().into_iter().collect();
    for paragraph in content.content.items() {
        let line: String = paragraph.items().iter().filter_map(Obj::get).filter_map(|r| r.text.text()).collect();
        if !line.is_empty() {
            lines.push(line);
        }
    }
    if lines.is_empty() { None } else { Some(lines.join("\n")) }
}

fn v1(ev: &Event) -> Message {
    if ev.kind.as_str() != Some("message") {
        return Message::new(Channel::Lark, kind_or(ev.kind.as_str(), "event"));
    }
    let mut m = Message::new(Channel::Lark, "message");
    m.sender = ev.open_id.text();
    m.chat = ev.open_chat_id.text();
    m.text = ev.text_without_at_bot.text().or_else(|| ev.text.text());
    if ev.msg_type.as_str() == Some("image") {
        m.attachments.push(Attachment::new("image", ev.image_key.text()));
    }
    m
}
