//! [`ReplyRoute`]: what a channel turn carries on its [`ChatRequest`](crate::agent::ChatRequest)
//! so that its end can queue the reply and settle the inbox row inside the turn's own
//! end-of-turn transaction ([`crate::store::AgentWrite::EndChannelTurn`]).
//!
//! Guarantees ([`ReplyRoute::on_end`], pure):
//! - `done`: the reply's outbox rows (split to the platform's size; a reply longer than
//!   [`MAX_TEXT_BYTES`] is cut there, at a character boundary), and the row is `done` once all
//!   its turns are. An empty reply sends nothing and fails the row (visible and replayable).
//! - `error`: the row is `failed` with the turn's error, and the user gets
//!   `channels.replies.error_text` (if set) so a question is never met with silence.
//! - `aborted` (`chat.abort` by an operator): the row is `failed`, nothing is sent.
//! - `interrupted` (shutdown): nothing is queued and the row is left `dispatched`, so the next
//!   start runs the turn again.

use std::sync::Arc;

use crate::outbound::{EnqueueError, MAX_TEXT_BYTES, reply_rows, split};
use crate::store::{InboxOutcome, InboxReply, TurnState};
use crate::webhook::Channel;

/// Where a channel turn's reply goes and which inbox row it settles.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplyRoute {
    /// The channel.
    pub channel: Channel,
    /// The chat (Telegram chat id, Slack channel, …) as [`crate::outbound::Target::from_parts`]
    /// reads it.
    pub target: String,
    /// The reply context (Slack thread, Discord interaction token, LINE reply token).
    pub reply_context: Option<String>,
    /// The inbox row.
    pub inbox_id: i64,
    /// Its attempt when dispatched.
    pub attempt: u32,
    /// `(session key, idempotency key)` of every turn of the row.
    pub turns: Arc<[(String, String)]>,
    /// Sent when the turn fails (`None`: nothing).
    pub error_text: Option<Arc<str>>,
}

impl std::fmt::Debug for ReplyRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A Discord or LINE reply token lets its holder answer as the bot: never printed.
        f.debug_struct("ReplyRoute")
            .field("channel", &self.channel)
            .field("target", &self.target)
            .field("reply_context", &self.reply_context.as_ref().map(|_| "***"))
            .field("inbox_id", &self.inbox_id)
            .field("attempt", &self.attempt)
            .field("turns", &self.turns.len())
            .finish_non_exhaustive()
    }
}

/// `text` cut to at most [`MAX_TEXT_BYTES`], at a character boundary.
fn clip(text: &str) -> &str {
    if text.len() <= MAX_TEXT_BYTES {
        return text;
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

impl ReplyRoute {
    /// What the end of this turn writes besides the turn itself (see the module guarantees).
    /// `text` is the reply (or partial reply), `error` the turn's error, `now_ms` stamps the
    /// outbox rows.
    #[must_use]
    pub fn on_end(&self, state: TurnState, text: &str, error: Option<&str>, now_ms: u64) -> InboxReply {
        let (outbox, outcome) = match state {
            TurnState::Done => match self.rows(clip(text), now_ms) {
                Ok(rows) => (rows, InboxOutcome::Answered),
                Err(EnqueueError::EmptyText) => {
                    (Vec::new(), InboxOutcome::Failed("the agent's reply was empty: nothing was sent".into()))
                }
                Err(e) => (Vec::new(), InboxOutcome::Failed(format!("the reply could not be queued: {e}"))),
            },
            TurnState::Error => {
                let notice = self.error_text.as_deref().and_then(|t| self.rows(t, now_ms).ok()).unwrap_or_default();
                let why = error.unwrap_or("unknown error");
                (notice, InboxOutcome::Failed(format!("the agent turn failed: {why}")))
            }
            TurnState::Aborted => {
                (Vec::new(), InboxOutcome::Failed("the agent turn was aborted (chat.abort): nothing was sent".into()))
            }
            TurnState::Interrupted | TurnState::Running => (Vec::new(), InboxOutcome::Interrupted),
        };
        InboxReply { inbox_id: self.inbox_id, attempt: self.attempt, turns: Arc::clone(&self.turns), outbox, outcome }
    }

    /// How many outbox rows [`ReplyRoute::on_end`] queues for a `done` turn with this reply
    /// (for the outbound counters, which count rows).
    #[must_use]
    pub fn parts_of(&self, text: &str) -> u64 {
        if text.trim().is_empty() { 0 } else { split::split_rows(self.channel, clip(text)).len() as u64 }
    }

    fn rows(&self, text: &str, now_ms: u64) -> Result<Vec<crate::store::NewOutbound>, EnqueueError> {
        reply_rows(self.channel, &self.target, text, self.reply_context.as_deref(), now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::Target;

    fn route(channel: Channel, target: &str, reply_context: Option<&str>) -> ReplyRoute {
        ReplyRoute {
            channel,
            target: target.into(),
            reply_context: reply_context.map(str::to_owned),
            inbox_id: 7,
            attempt: 1,
            turns: Arc::from(vec![("telegram:5".to_owned(), "inbox:7:1:0".to_owned())]),
            error_text: Some(Arc::from("sorry")),
        }
    }

    #[test]
    fn a_done_turn_queues_its_reply_and_answers_the_row() {
        let end = route(Channel::Telegram, "5", None).on_end(TurnState::Done, "hello", None, 9);
        assert_eq!((end.inbox_id, end.attempt, end.outcome.clone()), (7, 1, InboxOutcome::Answered));
        let [row] = end.outbox.as_slice() else { panic!("one row: {end:?}") };
        assert_eq!((row.channel.as_str(), row.body.as_slice(), row.created_ms), ("telegram", b"hello".as_slice(), 9));
        assert_eq!(Target::parse(&row.target), Ok(Target::Telegram { chat_id: "5".into(), reply_to_message_id: None }));
    }

    #[test]
    fn a_line_reply_token_serves_the_first_part_only() {
        let text = "y".repeat(crate::outbound::split::LINE_MAX_TEXT * 5 + 1);
        let r = route(Channel::Line, "U1", Some("rtoken"));
        let end = r.on_end(TurnState::Done, &text, None, 1);
        assert_eq!(end.outbox.len() as u64, r.parts_of(&text));
        let targets: Vec<Target> = end.outbox.iter().map(|m| Target::parse(&m.target).expect("target")).collect();
        assert_eq!(targets.first(), Some(&Target::Line { to: Some("U1".into()), reply_token: Some("rtoken".into()) }));
        assert_eq!(targets.get(1), Some(&Target::Line { to: Some("U1".into()), reply_token: None }));
    }

    #[test]
    fn failures_fail_the_row_and_only_an_error_sends_the_notice() {
        let r = route(Channel::Telegram, "5", None);
        let error = r.on_end(TurnState::Error, "", Some("upstream_unavailable: 503"), 1);
        assert_eq!(error.outcome, InboxOutcome::Failed("the agent turn failed: upstream_unavailable: 503".into()));
        assert_eq!(error.outbox.iter().map(|m| m.body.as_slice()).collect::<Vec<_>>(), [b"sorry".as_slice()]);
        let aborted = r.on_end(TurnState::Aborted, "part", None, 1);
        assert!(matches!(aborted.outcome, InboxOutcome::Failed(_)) && aborted.outbox.is_empty());
        let empty = r.on_end(TurnState::Done, "  ", None, 1);
        assert!(matches!(empty.outcome, InboxOutcome::Failed(ref w) if w.contains("empty")) && empty.outbox.is_empty());
        let interrupted = r.on_end(TurnState::Interrupted, "part", None, 1);
        assert_eq!((interrupted.outcome, interrupted.outbox.len()), (InboxOutcome::Interrupted, 0));
        let silent = ReplyRoute { error_text: None, ..r };
        assert!(silent.on_end(TurnState::Error, "", Some("x"), 1).outbox.is_empty());
    }

    #[test]
    fn a_runaway_reply_is_cut_at_a_character_boundary() {
        let text = "é".repeat(MAX_TEXT_BYTES);
        let cut = clip(&text);
        assert!(cut.len() <= MAX_TEXT_BYTES && cut.len() > MAX_TEXT_BYTES - 2);
        let end = route(Channel::Slack, "C1", None).on_end(TurnState::Done, &text, None, 1);
        assert_eq!(end.outcome, InboxOutcome::Answered);
        assert!(format!("{:?}", route(Channel::Line, "U", Some("secret-token"))).contains("***"));
        assert!(!format!("{:?}", route(Channel::Line, "U", Some("secret-token"))).contains("secret-token"));
    }
}
