//! From the messages of a stored delivery to the agent turns that answer them: which messages
//! get a turn, in which session, under which idempotency key, and where the reply goes.
//!
//! Sans-IO: a pure function of the inbox row (id, attempt), its channel and its normalised
//! messages. Guarantees:
//! - **Answered**: user messages (`message`, `channel_post`, `app_mention`, `command`,
//!   `callback_query`, `interaction`, `component`, `modal_submit`, `postback`) that carry text
//!   and name a chat. **Not answered**: anything a bot sent (so the bot never answers itself or
//!   another bot: no reply loops), edits and deletions (the original was answered already),
//!   reactions, statuses, joins and other platform events, autocomplete and inline queries
//!   (they need a different answer than a message), and messages without text (attachments
//!   alone: the model gets no files yet).
//! - **One session per conversation**: `<channel>:<chat id>`, plus `:<thread>` for a Slack
//!   thread (the seeds key sessions by channel and chat: OpenClaw `agent:main:telegram:dm:123`,
//!   Comis `…:channelType:channelId:…`; `main` and `openai:<user>` are this gateway's other keys).
//! - **One idempotency key per message and attempt**: [`idempotency_key`], so dispatching the
//!   same row again (a restart) never starts a second turn for a message whose turn completed,
//!   while an operator's replay (a new attempt) answers again.
//! - Every request returned has passed [`ChatRequest::validate`] and its reply target
//!   [`Target::from_parts`]; a message that fails either is named in [`Plan::refused`].

use std::sync::Arc;

use super::reply::ReplyRoute;
use crate::agent::ChatRequest;
use crate::outbound::Target;
use crate::store::SessionOrigin;
use crate::webhook::Channel;
use crate::webhook::normalize::Message;

/// Most turns one delivery starts; messages past it are refused (the row is `failed` naming
/// them) rather than letting one body hold the agent for hundreds of turns.
pub const MAX_TURNS_PER_DELIVERY: usize = 64;

/// The kinds a person sends to the bot and expects an answer to.
const ANSWERED_KINDS: [&str; 9] = [
    "message",
    "channel_post",
    "app_mention",
    "command",
    "callback_query",
    "interaction",
    "component",
    "modal_submit",
    "postback",
];

/// The idempotency key of the turn answering message `index` of inbox row `inbox_id` on its
/// `attempt` (the row's replay count).
#[must_use]
pub fn idempotency_key(inbox_id: i64, attempt: u32, index: usize) -> String {
    format!("inbox:{inbox_id}:{attempt}:{index}")
}

/// The session of a conversation: `<channel>:<chat>`, or `<channel>:<chat>:<thread>`.
#[must_use]
pub fn session_key(channel: Channel, chat: &str, thread: Option<&str>) -> String {
    match thread {
        Some(thread) => format!("{}:{chat}:{thread}", channel.name()),
        None => format!("{}:{chat}", channel.name()),
    }
}

/// Why a message gets no turn (`None`: it gets one).
#[must_use]
pub fn skip_reason(m: &Message) -> Option<&'static str> {
    if m.from_bot {
        return Some("sent by a bot");
    }
    if !ANSWERED_KINDS.contains(&m.kind.as_str()) {
        return Some("not a user message");
    }
    if m.text.as_deref().is_none_or(|t| t.trim().is_empty()) {
        return Some("no text");
    }
    if m.chat.as_deref().is_none_or(|c| c.trim().is_empty()) {
        return Some("no chat to answer in");
    }
    None
}

/// The row a plan is for.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Inbox id.
    pub id: i64,
    /// Its `attempts` (replays so far).
    pub attempt: u32,
    /// Its channel.
    pub channel: Channel,
}

/// What a delivery's messages ask of the agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// One request per answered message, in message order, each with its [`ReplyRoute`].
    pub turns: Vec<ChatRequest>,
    /// Messages that should have been answered but cannot be (`"message 2: …"`): the row
    /// becomes `failed` with these, and the other messages are still answered.
    pub refused: Vec<String>,
}

/// The turns that answer `messages` of `row`. `error_text` is what the user is sent when a
/// turn fails (`None`: nothing).
#[must_use]
pub fn plan(row: Row, messages: &[Message], error_text: Option<&Arc<str>>) -> Plan {
    let mut out = Plan::default();
    let mut routes: Vec<ReplyRoute> = Vec::new();
    for (index, m) in messages.iter().enumerate() {
        if skip_reason(m).is_some() {
            continue;
        }
        if out.turns.len() >= MAX_TURNS_PER_DELIVERY {
            out.refused.push(format!(
                "message {index}: more than {MAX_TURNS_PER_DELIVERY} messages to answer in one delivery"
            ));
            continue;
        }
        let (Some(chat), Some(text)) = (m.chat.as_deref(), m.text.as_deref()) else { continue };
        let chat = chat.trim();
        if let Err(e) = Target::from_parts(row.channel, chat, m.reply_context.as_deref()) {
            out.refused.push(format!("message {index}: no reply target: {e}"));
            continue;
        }
        let mut request = ChatRequest {
            session_key: session_key(row.channel, chat, m.thread.as_deref()),
            message: text.to_owned(),
            idempotency_key: Some(idempotency_key(row.id, row.attempt, index)),
            origin: SessionOrigin { channel: Some(row.channel.name().to_owned()), chat_id: Some(chat.to_owned()) },
            ..ChatRequest::default()
        };
        if let Err(e) = request.validate() {
            out.refused.push(format!("message {index}: {}", e.message()));
            continue;
        }
        routes.push(ReplyRoute {
            channel: row.channel,
            target: chat.to_owned(),
            reply_context: m.reply_context.clone(),
            inbox_id: row.id,
            attempt: row.attempt,
            turns: Arc::from(Vec::new()),
            error_text: error_text.cloned(),
        });
        out.turns.push(request);
    }
    // Every turn of the row knows all of them: the last to end `done` settles the row.
    let siblings: Arc<[(String, String)]> =
        out.turns.iter().map(|r| (r.session_key.clone(), r.idempotency_key.clone().unwrap_or_default())).collect();
    for (request, mut route) in out.turns.iter_mut().zip(routes) {
        route.turns = Arc::clone(&siblings);
        request.reply = Some(route);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::normalize::normalize;

    fn messages(channel: Channel, body: &str) -> Vec<Message> {
        normalize(channel, Some("application/json"), body.as_bytes()).expect("normalizes")
    }

    const ROW: Row = Row { id: 41, attempt: 0, channel: Channel::Telegram };

    #[test]
    fn keys_name_the_row_the_attempt_and_the_message() {
        assert_eq!(idempotency_key(41, 0, 2), "inbox:41:0:2");
        assert_ne!(idempotency_key(41, 1, 2), idempotency_key(41, 0, 2), "a replay is a new attempt");
        assert_ne!(idempotency_key(4, 11, 0), idempotency_key(41, 1, 0));
        assert_eq!(session_key(Channel::Telegram, "-100", None), "telegram:-100");
        assert_eq!(session_key(Channel::Slack, "C1", Some("17.5")), "slack:C1:17.5");
    }

    #[test]
    fn a_telegram_message_gets_one_turn_in_its_chat_session() {
        let m = messages(
            Channel::Telegram,
            r#"{"update_id":9,"message":{"message_id":3,"from":{"id":7,"is_bot":false},"chat":{"id":-100},"text":"hi there"}}"#,
        );
        let p = plan(ROW, &m, None);
        assert!(p.refused.is_empty());
        let [turn] = p.turns.as_slice() else { panic!("one turn: {p:?}") };
        assert_eq!(
            (turn.session_key.as_str(), turn.message.as_str(), turn.idempotency_key.as_deref()),
            ("telegram:-100", "hi there", Some("inbox:41:0:0"))
        );
        assert_eq!(turn.origin.chat_id.as_deref(), Some("-100"));
        let route = turn.reply.as_ref().expect("a reply route");
        assert_eq!((route.target.as_str(), route.inbox_id, route.turns.len()), ("-100", 41, 1));
    }

    #[test]
    fn bots_edits_events_and_empty_messages_get_no_turn() {
        for body in [
            r#"{"update_id":1,"message":{"from":{"id":7,"is_bot":true},"chat":{"id":5},"text":"beep"}}"#,
            r#"{"update_id":2,"edited_message":{"from":{"id":7},"chat":{"id":5},"text":"fixed"}}"#,
            r#"{"update_id":3,"message":{"from":{"id":7},"chat":{"id":5},"photo":[{"file_id":"f"}]}}"#,
            r#"{"update_id":4,"message":{"from":{"id":7},"chat":{"id":5},"text":"   "}}"#,
            r#"{"update_id":5,"my_chat_member":{}}"#,
        ] {
            assert_eq!(plan(ROW, &messages(Channel::Telegram, body), None), Plan::default(), "{body}");
        }
        let own =
            r#"{"type":"event_callback","event":{"type":"message","channel":"C1","bot_id":"B1","text":"my reply"}}"#;
        let slack = Row { channel: Channel::Slack, ..ROW };
        assert!(plan(slack, &messages(Channel::Slack, own), None).turns.is_empty(), "the bot's own post");
    }

    #[test]
    fn each_line_event_is_answered_with_its_reply_token_and_knows_its_siblings() {
        let body = r#"{"events":[
            {"type":"message","replyToken":"rt1","source":{"type":"user","userId":"U1"},"message":{"type":"text","id":"1","text":"a"}},
            {"type":"follow","replyToken":"rt2","source":{"type":"user","userId":"U2"}},
            {"type":"message","replyToken":"rt3","source":{"type":"group","groupId":"G1","userId":"U3"},"message":{"type":"text","id":"2","text":"b"}}
        ]}"#;
        let p = plan(Row { channel: Channel::Line, ..ROW }, &messages(Channel::Line, body), None);
        let keys: Vec<(&str, Option<&str>)> =
            p.turns.iter().map(|t| (t.session_key.as_str(), t.idempotency_key.as_deref())).collect();
        assert_eq!(keys, [("line:U1", Some("inbox:41:0:0")), ("line:G1", Some("inbox:41:0:2"))]);
        let route = p.turns[1].reply.as_ref().expect("route");
        assert_eq!((route.target.as_str(), route.reply_context.as_deref()), ("G1", Some("rt3")));
        assert_eq!(route.turns.len(), 2, "both turns settle the row together");
    }

    #[test]
    fn a_slack_thread_is_its_own_session_and_is_replied_in() {
        let body = r#"{"type":"event_callback","event":{"type":"message","channel":"C1","user":"U1","text":"q","ts":"18.1","thread_ts":"17.5"}}"#;
        let p = plan(Row { channel: Channel::Slack, ..ROW }, &messages(Channel::Slack, body), None);
        let turn = p.turns.first().expect("a turn");
        assert_eq!(turn.session_key, "slack:C1:17.5");
        assert_eq!(turn.reply.as_ref().and_then(|r| r.reply_context.as_deref()), Some("17.5"));
    }

    #[test]
    fn an_oversized_message_or_bad_chat_is_refused_by_name() {
        let long = "x".repeat(crate::agent::turn_types::MAX_MESSAGE_BYTES + 1);
        let body = serde_json::json!({"update_id": 1, "message": {"chat": {"id": 5}, "text": long}}).to_string();
        let p = plan(ROW, &messages(Channel::Telegram, &body), None);
        assert!(p.turns.is_empty());
        assert!(p.refused[0].starts_with("message 0: ") && p.refused[0].contains("longer than"), "{:?}", p.refused);
        let body = r#"{"update_id":1,"message":{"chat":{"id":"a/b"},"text":"x"}}"#;
        let p = plan(ROW, &messages(Channel::Telegram, body), None);
        assert!(p.refused[0].contains("no reply target"), "{:?}", p.refused);
    }
}
