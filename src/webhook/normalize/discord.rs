//! Discord interaction → [`Message`]: one per interaction; PING (type 1) gives none.
//!
//! Sender `member.user.id` (guilds) or `user.id` (DMs); chat `channel_id` (or `channel.id`).
//! Type 2 is kind `command` with text `/name sub opt:value …` (options rendered depth first);
//! 4 `autocomplete` likewise; 3 `component` with text `custom_id` followed by any selected
//! `values`; 5 `modal_submit` with text `custom_id`; other types `interaction`. Attachments
//! passed to a command (`data.resolved.attachments`) become `file` attachments.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Attachment, Message};
use crate::webhook::Channel;
use crate::webhook::delivery::BodyError;
use crate::webhook::lenient::{List, Obj, Val, parse_object};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Interaction {
    #[serde(rename = "type")]
    kind: Val,
    channel_id: Val,
    channel: Obj<WithId>,
    member: Obj<Member>,
    user: Obj<WithId>,
    data: Obj<Data>,
    token: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WithId {
    id: Val,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Member {
    user: Obj<WithId>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Data {
    name: Val,
    options: List<Obj<CommandOption>>,
    custom_id: Val,
    values: List<Val>,
    resolved: Obj<Resolved>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CommandOption {
    name: Val,
    value: Val,
    /// Sub-commands and groups nest their options.
    options: List<Obj<CommandOption>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Resolved {
    attachments: Obj<BTreeMap<String, Obj<DiscordAttachment>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DiscordAttachment {
    id: Val,
    url: Val,
    content_type: Val,
    filename: Val,
}

pub(super) fn normalize(body: &[u8]) -> Result<Vec<Message>, BodyError> {
    let i: Interaction = parse_object(body)?;
    let kind = match i.kind {
        Val::Int(1) => return Ok(Vec::new()),
        Val::Int(2) => "command",
        Val::Int(3) => "component",
        Val::Int(4) => "autocomplete",
        Val::Int(5) => "modal_submit",
        _ => "interaction",
    };
    let mut m = Message::new(Channel::Discord, kind);
    let id = |o: &Obj<WithId>| o.get().and_then(|w| w.id.id());
    m.sender = i.member.get().and_then(|mem| id(&mem.user)).or_else(|| id(&i.user));
    m.chat = i.channel_id.id().or_else(|| id(&i.channel));
    m.reply_context = i.token.text();
    let Some(data) = i.data.get() else { return Ok(vec![m]) };
    m.text = match kind {
        "command" | "autocomplete" => data.name.text().map(|name| {
            let mut line = format!("/{name}");
            render_options(&data.options, &mut line);
            line
        }),
        "component" | "modal_submit" => data.custom_id.text().map(|id| {
            let values: Vec<String> = data.values.items().iter().filter_map(Val::scalar).collect();
            if values.is_empty() { id } else { format!("{id} {}", values.join(" ")) }
        }),
        _ => None,
    };
    if let Some(map) = data.resolved.get().and_then(|r| r.attachments.get()) {
        m.attachments = map.values().filter_map(Obj::get).map(attachment).collect();
    }
    Ok(vec![m])
}

/// Appends ` name:value` per option and ` name` then its own options per sub-command.
/// Recursion is bounded: bodies nesting deeper than `delivery::MAX_DEPTH` are refused up front.
fn render_options(options: &List<Obj<CommandOption>>, line: &mut String) {
    for opt in options.items().iter().filter_map(Obj::get) {
        let Some(name) = opt.name.text() else { continue };
        line.push(' ');
        line.push_str(&name);
        if let Some(value) = opt.value.scalar() {
            line.push(':');
            line.push_str(&value);
        }
        render_options(&opt.options, line);
    }
}

fn attachment(a: &DiscordAttachment) -> Attachment {
    Attachment {
        url: a.url.text(),
        mime: a.content_type.text(),
        name: a.filename.text(),
        ..Attachment::new("file", a.id.id())
    }
}
