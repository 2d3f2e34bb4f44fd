//! Slack → [`Message`]: Events API envelopes (JSON) and form-encoded slash commands and
//! interactivity.
//!
//! `event_callback`: `event.user` (or `bot_id`) as sender, `event.channel` as chat,
//! `event.text`, and `event.files[]` (`id`, `url_private`, `mimetype`, `name`) as `file`
//! attachments. Kind: `message` for a plain message (and the `file_share`, `thread_broadcast`,
//! `bot_message`, `me_message` subtypes), `edited_message` for `message_changed` (read from
//! `event.message`), `deleted_message` for `message_deleted`, else the subtype or the event
//! type (`app_mention`, `reaction_added`, …). `url_verification` gives nothing; any other
//! envelope one message of its type.
//!
//! Form bodies: a slash command is kind `command` with text `"/cmd args"`, `user_id` and
//! `channel_id`; `payload=<json>` is kind `interaction` with the first action's value (or
//! selected option, or `action_id`; else the `callback_id`) as text; anything else (a legacy
//! outgoing webhook) is a `message` with its `text`.

use serde::Deserialize;

use super::{Attachment, Message, kind_or};
use crate::webhook::Channel;
use crate::webhook::delivery::{BodyError, payload_error};
use crate::webhook::lenient::{IdLike, List, Obj, Val, first_non_blank, form_value, is_form, parse_object};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Envelope {
    #[serde(rename = "type")]
    kind: Val,
    event: Obj<Event>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Event {
    #[serde(rename = "type")]
    kind: Val,
    subtype: Val,
    user: Val,
    bot_id: Val,
    channel: Val,
    text: Val,
    thread_ts: Val,
    files: List<Obj<SlackFile>>,
    message: Obj<Inner>,
}

/// The new state of an edited message (`message_changed`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Inner {
    user: Val,
    bot_id: Val,
    text: Val,
    files: List<Obj<SlackFile>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SlackFile {
    id: Val,
    url_private: Val,
    mimetype: Val,
    name: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Payload {
    user: IdLike,
    channel: IdLike,
    container: Obj<Container>,
    actions: List<Obj<Action>>,
    callback_id: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Container {
    channel_id: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Action {
    action_id: Val,
    value: Val,
    selected_option: Obj<Selected>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Selected {
    value: Val,
}

pub(super) fn normalize(content_type: Option<&str>, body: &[u8]) -> Result<Vec<Message>, BodyError> {
    if is_form(content_type, body) {
        return form(body);
    }
    let e: Envelope = parse_object(body)?;
    match e.kind.as_str() {
        Some("url_verification") => Ok(Vec::new()),
        Some("event_callback") => Ok(vec![e.event.get().map_or_else(|| Message::new(Channel::Slack, "event"), event)]),
        other => Ok(vec![Message::new(Channel::Slack, kind_or(other, "event"))]),
    }
}

fn event(ev: &Event) -> Message {
    let subtype = ev.subtype.as_str();
    let kind = match (ev.kind.as_str(), subtype) {
        (Some("message"), None | Some("file_share" | "thread_broadcast" | "bot_message" | "me_message")) => {
            "message".to_owned()
        }
        (Some("message"), Some("message_changed")) => "edited_message".to_owned(),
        (Some("message"), Some("message_deleted")) => "deleted_message".to_owned(),
        (Some("message"), sub) => kind_or(sub, "message"),
        (other, _) => kind_or(other, "event"),
    };
    let mut m = Message::new(Channel::Slack, kind);
    m.chat = ev.channel.text();
    m.thread = ev.thread_ts.text();
    m.reply_context.clone_from(&m.thread);
    match (subtype, ev.message.get()) {
        (Some("message_changed"), Some(inner)) => {
            m.sender = inner.user.text().or_else(|| inner.bot_id.text());
            m.text = inner.text.text();
            m.attachments = files(&inner.files);
        }
        _ => {
            m.sender = ev.user.text().or_else(|| ev.bot_id.text());
            m.text = ev.text.text();
            m.attachments = files(&ev.files);
        }
    }
    // The bot's own posts come back as message events carrying its `bot_id`.
    m.from_bot = ev.bot_id.text().is_some() || subtype == Some("bot_message");
    m
}

fn files(list: &List<Obj<SlackFile>>) -> Vec<Attachment> {
    let file = |f: &SlackFile| Attachment {
        url: f.url_private.text(),
        mime: f.mimetype.text(),
        name: f.name.text(),
        ..Attachment::new("file", f.id.text())
    };
    list.items().iter().filter_map(Obj::get).map(file).collect()
}

fn form(body: &[u8]) -> Result<Vec<Message>, BodyError> {
    if first_non_blank(body).is_none() {
        return Err(BodyError::Empty);
    }
    let get = |name| form_value(body, name).filter(|v| !v.is_empty());
    if let Some(json) = form_value(body, "payload") {
        let p: Payload = parse_object(json.as_bytes()).map_err(payload_error)?;
        let mut m = Message::new(Channel::Slack, "interaction");
        m.sender = p.user.0;
        m.chat = p.channel.0.or_else(|| p.container.get().and_then(|c| c.channel_id.text()));
        let first = p.actions.items().iter().find_map(Obj::get);
        m.text = first
            .and_then(|a| {
                a.value
                    .text()
                    .or_else(|| a.selected_option.get().and_then(|s| s.value.text()))
                    .or_else(|| a.action_id.text())
            })
            .or_else(|| p.callback_id.text());
        return Ok(vec![m]);
    }
    let command = get("command");
    let mut m = Message::new(Channel::Slack, if command.is_some() { "command" } else { "message" });
    m.sender = get("user_id");
    m.chat = get("channel_id");
    m.text = match (command, get("text")) {
        (Some(c), Some(t)) => Some(format!("{c} {t}")),
        (c, t) => c.or(t),
    };
    Ok(vec![m])
}
