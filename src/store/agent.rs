//! What the agent runtime keeps in the store: sessions, their transcripts and their turns.
//! The writes ([`AgentWrite`]) go through the group-commit writer like every other write;
//! the reads ([`AgentReads`]) run on the backend's read side.
//!
//! Guarantees:
//! - One [`AgentWrite`] is applied inside one writer transaction: [`AgentWrite::EndTurn`]
//!   stores the assistant message, closes the turn row and adds the turn's tokens, cost and
//!   count to its session all at once, so a crash never leaves totals that disagree with the
//!   turns.
//! - A session key has at most one turn per idempotency key (a unique index backs it); a
//!   second [`AgentWrite::StartTurn`] with the same pair stores nothing and answers 0.
//! - Every read is bounded: listings cap at [`MAX_QUERY_LIMIT`](super::types::MAX_QUERY_LIMIT)
//!   rows.
//! - A channel turn ([`AgentWrite::EndChannelTurn`]) queues its reply in the outbox and settles
//!   its inbox row in the SAME transaction that ends the turn, so a crash leaves either the
//!   turn running (re-run after the restart) or the turn ended with its reply queued, never
//!   one without the other.
//! - A turn that ends `interrupted` (the process stopped under it) gives its idempotency key
//!   back, so a repeat of that key runs the turn again instead of answering with a run that
//!   never finished.

use std::sync::Arc;

use serde::Serialize;

use super::types::{NewOutbound, StoreError};

/// Where a turn is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TurnState {
    /// Started and not ended (also what a crash leaves behind).
    Running,
    /// Ended normally.
    Done,
    /// Stopped by `chat.abort` (or shutdown); the partial text is kept.
    Aborted,
    /// Ended with an error (upstream, timeout).
    Error,
    /// The process stopped while it ran (shutdown, or found `running` at the next open after a
    /// crash): its idempotency key is released so a repeat runs it again, and its messages
    /// leave the transcript (the turn row stays, with the reason in `error`).
    Interrupted,
}

impl TurnState {
    /// Every state.
    pub const ALL: [Self; 5] = [Self::Running, Self::Done, Self::Aborted, Self::Error, Self::Interrupted];

    /// The stable name, as stored.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Aborted => "aborted",
            Self::Error => "error",
            Self::Interrupted => "interrupted",
        }
    }

    /// The state with this stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// One transcript message to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// `user`, `assistant`, `system` or `tool`.
    pub role: &'static str,
    /// The text.
    pub content: String,
    /// Tool calls the assistant made, as a JSON array (`None`: none).
    pub tool_calls: Option<String>,
    /// For a tool result: the call it answers.
    pub tool_call_id: Option<String>,
    /// Token counts of the turn that produced it (assistant messages).
    pub input_tokens: Option<u64>,
    /// Generated tokens.
    pub output_tokens: Option<u64>,
}

impl NewMessage {
    /// A message with text only.
    #[must_use]
    pub fn text(role: &'static str, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: None,
            tool_call_id: None,
            input_tokens: None,
            output_tokens: None,
        }
    }
}

/// Where a session's messages come from (a channel and a chat in it), when it is a channel's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOrigin {
    /// The channel (`telegram`, `control-ui`, `api`, ...).
    pub channel: Option<String>,
    /// The chat within that channel.
    pub chat_id: Option<String>,
}

/// A write of the agent runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentWrite {
    /// Create the session if it is new (with `session_id`), insert the turn as `running` and
    /// store the user's message.
    StartTurn {
        /// Session key.
        session_key: String,
        /// The id a new session gets (ignored if the session exists).
        session_id: String,
        /// The agent.
        agent_id: String,
        /// Where a new session's messages come from.
        origin: SessionOrigin,
        /// The turn's run id.
        run_id: String,
        /// The model it runs on.
        model: String,
        /// Start, Unix ms.
        started_ms: u64,
        /// The client's idempotency key, if it sent one.
        idempotency_key: Option<String>,
        /// The user's message.
        user: NewMessage,
    },
    /// End a turn: store the assistant message (if any), set the turn's state, tokens, cost
    /// and error, and add them to the session's totals.
    EndTurn {
        /// Session key.
        session_key: String,
        /// The turn.
        run_id: String,
        /// `done`, `aborted` or `error`.
        state: TurnState,
        /// End, Unix ms.
        ended_ms: u64,
        /// Prompt tokens.
        input_tokens: u64,
        /// Generated tokens.
        output_tokens: u64,
        /// US dollars.
        cost_usd: f64,
        /// What went wrong (state `error`).
        error: Option<String>,
        /// The model that answered (a fallback may differ from the one started with).
        model: String,
        /// The assistant's (possibly partial) reply.
        assistant: Option<NewMessage>,
    },
    /// Add messages of a running turn to its transcript (one round of tool calls: the
    /// assistant message that made the calls and one result per call), all in one
    /// transaction. Stores nothing (answers 0) if the turn is not running any more.
    AppendMessages {
        /// Session key.
        session_key: String,
        /// The turn.
        run_id: String,
        /// The messages, in order.
        messages: Vec<NewMessage>,
    },
    /// Change a session's label and/or model (`Some(None)` clears it).
    PatchSession {
        /// Session key.
        session_key: String,
        /// New label.
        label: Option<Option<String>>,
        /// New model.
        model: Option<Option<String>>,
    },
    /// Delete a session with its transcript and turns.
    DeleteSession {
        /// Session key.
        session_key: String,
    },
    /// End a channel turn: `end` (an [`AgentWrite::EndTurn`]) and, only if it ended a running
    /// turn, what `inbox` says (queue the reply, settle the inbox row), all in one transaction.
    EndChannelTurn {
        /// The turn's end.
        end: Box<AgentWrite>,
        /// The reply and the inbox row.
        inbox: Box<InboxReply>,
    },
    /// At open, before any turn of this process starts: every `running` turn (left by a crash)
    /// becomes `interrupted`, counted in its session's ended turns, with its idempotency key
    /// released (named in its `error`) and its messages removed from the transcript. Answers
    /// how many.
    InterruptRunning {
        /// Stamped as their end, Unix ms.
        ended_ms: u64,
    },
    /// Store a whole session read from elsewhere (an OpenClaw export), with its transcript,
    /// unless a session with its key or its id exists already: then nothing is stored and the
    /// outcome is 0 (an import never merges into an existing session).
    ImportSession(Box<ImportedSession>),
}

/// What a channel turn's end does besides ending the turn ([`AgentWrite::EndChannelTurn`]).
#[derive(Debug, Clone, PartialEq)]
pub struct InboxReply {
    /// The inbox row whose message the turn answers.
    pub inbox_id: i64,
    /// The row's `attempts` when it was dispatched: a row replayed since is left alone.
    pub attempt: u32,
    /// `(session key, idempotency key)` of every turn the row's messages started, this one
    /// included: the row is `done` once all of them ended `done`.
    pub turns: Arc<[(String, String)]>,
    /// Outbox rows to queue (the reply's parts, or the error notice), in order.
    pub outbox: Vec<NewOutbound>,
    /// What happens to the inbox row.
    pub outcome: InboxOutcome,
}

/// How a channel turn settles its inbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxOutcome {
    /// Answered: the row becomes `done` once every turn of it ended `done`.
    Answered,
    /// The row becomes `failed` with this reason (replayable), unless already settled.
    Failed(String),
    /// Left as it is (`dispatched`): the turn is run again after the restart.
    Interrupted,
}

/// A session as an import brings it: the stored fields and the transcript, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedSession {
    /// The session's totals and metadata (`key`, `session_id`, times, tokens, cost, turns).
    pub session: SessionRow,
    /// Its messages, oldest first.
    pub messages: Vec<ImportedMessage>,
}

/// One message of an [`ImportedSession`].
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedMessage {
    /// The role, text and tool fields, as for a live message.
    pub message: NewMessage,
    /// When it was written, Unix ms.
    pub timestamp: u64,
}

/// The run id every imported message is stored under (imports have no turn rows).
pub const IMPORT_RUN_PREFIX: &str = "import:";

/// The committed result of an [`AgentWrite`]: rows changed (0 for a patch or delete of a
/// session that does not exist, for a repeated idempotency key, or for a turn already ended).
pub type AgentOutcome = u64;

/// A stored session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    /// Its key (what clients address it by).
    pub key: String,
    /// Its stable id.
    pub session_id: String,
    /// The agent.
    pub agent_id: String,
    /// The model chosen for it (`None`: the default).
    pub model: Option<String>,
    /// A label set by `sessions.patch`.
    pub label: Option<String>,
    /// The channel its messages come from.
    pub channel: Option<String>,
    /// The chat in that channel.
    pub chat_id: Option<String>,
    /// Created, Unix ms.
    pub created_at: u64,
    /// Last turn started or ended, Unix ms.
    pub updated_at: u64,
    /// Prompt tokens over all ended turns.
    pub input_tokens: u64,
    /// Generated tokens over all ended turns.
    pub output_tokens: u64,
    /// US dollars over all ended turns.
    pub cost_usd: f64,
    /// Ended turns.
    pub turns: u64,
}

/// A stored transcript message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRow {
    /// Row id (increasing in time).
    pub id: i64,
    /// Session key.
    pub session_key: String,
    /// The turn it belongs to.
    pub run_id: String,
    /// `user`, `assistant`, `system` or `tool`.
    pub role: String,
    /// The text.
    pub content: String,
    /// Tool calls as stored (a JSON array), if any.
    pub tool_calls: Option<String>,
    /// For a tool result: the call it answers.
    pub tool_call_id: Option<String>,
    /// Stored, Unix ms.
    pub timestamp: u64,
    /// Prompt tokens of its turn (assistant messages).
    pub input_tokens: Option<u64>,
    /// Generated tokens of its turn.
    pub output_tokens: Option<u64>,
}

/// A stored turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnRow {
    /// Run id.
    pub run_id: String,
    /// Session key.
    pub session_key: String,
    /// Its state.
    pub state: TurnState,
    /// The model.
    pub model: String,
    /// Started, Unix ms.
    pub started_at: u64,
    /// Ended, Unix ms.
    pub ended_at: Option<u64>,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// US dollars.
    pub cost_usd: f64,
    /// Its error.
    pub error: Option<String>,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
}

/// Usage of one model over all ended turns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsage {
    /// The model.
    pub model: String,
    /// Ended turns.
    pub turns: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// US dollars.
    pub cost_usd: f64,
}

/// The agent's reads.
pub trait AgentReads: Send + Sync {
    /// One session.
    ///
    /// # Errors
    /// The query failed.
    fn session(&self, key: &str) -> Result<Option<SessionRow>, StoreError>;

    /// Sessions, most recently updated first (at most `limit`).
    ///
    /// # Errors
    /// The query failed.
    fn sessions(&self, limit: usize) -> Result<Vec<SessionRow>, StoreError>;

    /// The newest `limit` messages of a session, oldest first.
    ///
    /// # Errors
    /// The query failed.
    fn messages(&self, session_key: &str, limit: usize) -> Result<Vec<MessageRow>, StoreError>;

    /// The newest `limit` messages of every session whose channel is `channel`, oldest first.
    ///
    /// # Errors
    /// The query failed.
    fn messages_of_channel(&self, channel: &str, limit: usize) -> Result<Vec<MessageRow>, StoreError>;

    /// One turn.
    ///
    /// # Errors
    /// The query failed.
    fn turn(&self, run_id: &str) -> Result<Option<TurnRow>, StoreError>;

    /// The turn of a session started with an idempotency key.
    ///
    /// # Errors
    /// The query failed.
    fn turn_by_idempotency(&self, session_key: &str, key: &str) -> Result<Option<TurnRow>, StoreError>;

    /// Up to `limit` messages of a session with a row id above `after_id`, oldest first (for
    /// reading a whole transcript page by page).
    ///
    /// # Errors
    /// The query failed.
    fn messages_after(&self, session_key: &str, after_id: i64, limit: usize) -> Result<Vec<MessageRow>, StoreError>;

    /// Up to `limit` sessions whose key sorts after `after_key`, by key (for paging over all).
    ///
    /// # Errors
    /// The query failed.
    fn sessions_after(&self, after_key: &str, limit: usize) -> Result<Vec<SessionRow>, StoreError>;

    /// Usage per model over every ended turn, largest cost first.
    ///
    /// # Errors
    /// The query failed.
    fn usage_by_model(&self) -> Result<Vec<ModelUsage>, StoreError>;
}
