//! The channel loop: an inbound channel message runs an agent turn in the session of its chat,
//! and the reply goes back to the chat through the durable outbox, exactly once.
//!
//! Shape: the inbox dispatcher (`webhook::dispatch`) publishes a stored delivery's messages,
//! marks the row `dispatched`, and asks [`ChannelTurns::plan`] which of its messages get a
//! turn ([`plan`]). Their requests wait in the dispatcher's [`line::TurnLine`] until the agent
//! takes them. Each request carries a [`ReplyRoute`]; the turn's end turns it into the outbox
//! rows of the reply and the inbox row's new state, written in the SAME store transaction that
//! ends the turn ([`crate::store::AgentWrite::EndChannelTurn`]). The outbound sender then
//! delivers the rows.
//!
//! Guarantees:
//! - **Exactly one reply per message across kill -9**, up to the platform's own window: a
//!   crash before the turn's end commits leaves the turn `running` (made `interrupted` at the
//!   next open, its idempotency key released) and the row `dispatched`, so the restart runs
//!   the turn again; a crash after it finds the reply queued and the row `done`, and a
//!   repeated dispatch of the row finds the turn's key and starts nothing. The outbox then
//!   delivers at least once: a crash between the platform's 2xx and the commit of `sent`
//!   sends that part again (Telegram, Slack, Discord and WhatsApp have no idempotency key).
//! - Only channels whose send side is configured are answered (see
//!   [`crate::outbound::missing_send_key`]); the others are dispatched as before, and one log
//!   line at start says which channel is answered and why another is not.
//! - `message:received` is published for every message as before, answered or not.
//! - Bounded: see [`line`] (`channels.replies.max_in_flight`, the line's length) and
//!   [`plan::MAX_TURNS_PER_DELIVERY`].

pub mod line;
pub mod plan;
pub mod reply;
pub mod stats;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use reply::ReplyRoute;

use self::plan::{Plan, Row};
use self::stats::ChannelTurnStats;
use crate::config::{LogLevel, Settings};
use crate::log::{Field, Logger};
use crate::store::InboxEntry;
use crate::webhook::Channel;
use crate::webhook::normalize::Message;

/// The channel loop's settings and counters (one in `App`).
#[derive(Debug)]
pub struct ChannelTurns {
    /// Per channel index: `None` when it is answered, else why not.
    silent_because: Vec<Option<String>>,
    error_text: Option<Arc<str>>,
    max_in_flight: usize,
    retry_base: Duration,
    retry_max: Duration,
    in_flight: Arc<AtomicUsize>,
    stats: Arc<ChannelTurnStats>,
}

impl ChannelTurns {
    /// Decide, once, which channels are answered.
    #[must_use]
    pub fn new(settings: &Settings) -> Self {
        let replies = &settings.config.channels.replies;
        let silent_because = Channel::ALL
            .iter()
            .map(|&channel| {
                if !replies.enabled {
                    Some("channels.replies.enabled is false".to_owned())
                } else {
                    crate::outbound::missing_send_key(settings, channel).map(|key| format!("no {key}"))
                }
            })
            .collect();
        let ms = |v: u64| Duration::from_millis(v.max(1));
        Self {
            silent_because,
            error_text: Some(replies.error_text.trim()).filter(|t| !t.is_empty()).map(Arc::from),
            max_in_flight: replies.max_in_flight.max(1),
            retry_base: ms(replies.retry_base_ms),
            retry_max: ms(replies.retry_max_ms.max(replies.retry_base_ms)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            stats: Arc::new(ChannelTurnStats::default()),
        }
    }

    /// Whether messages from `channel` get agent turns.
    #[must_use]
    pub fn answers(&self, channel: Channel) -> bool {
        matches!(self.silent_because.get(channel.index()), Some(None))
    }

    /// The turns that answer `messages` of `entry`, or `None` when `channel` is not answered.
    #[must_use]
    pub fn plan(&self, entry: &InboxEntry, channel: Channel, messages: &[Message]) -> Option<Plan> {
        if !self.answers(channel) {
            return None;
        }
        let row = Row { id: entry.id, attempt: entry.attempts, channel };
        Some(plan::plan(row, messages, self.error_text.as_ref()))
    }

    /// Channel turns started by the dispatcher and not ended.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> &ChannelTurnStats {
        &self.stats
    }

    /// One line at start: which enabled channels are answered, and why the others are not.
    pub fn log_start(&self, settings: &Settings, logger: &Logger) {
        let enabled = Channel::NATIVE.iter().filter(|&&c| settings.ingest.channel(c).is_some());
        let (mut answered, mut silent) = (Vec::new(), Vec::new());
        for &channel in enabled {
            match self.silent_because.get(channel.index()).cloned().flatten() {
                None => answered.push(channel.name().to_owned()),
                Some(why) => silent.push(format!("{} ({why})", channel.name())),
            }
        }
        let (answered, silent) = (answered.join(","), silent.join(", "));
        logger.event(
            LogLevel::Info,
            "channel replies",
            &[
                ("answered", Field::Str(&answered)),
                ("dispatched_only", Field::Str(&silent)),
                ("max_in_flight", Field::U64(self.max_in_flight as u64)),
            ],
        );
    }
}
