//! Per-channel counters of the channel loop for `/metrics` and `channels.status`: turns
//! started, replied (the reply is queued in the outbox), failed (error, or an empty reply),
//! aborted (`chat.abort`, or interrupted by a shutdown and run again at the next start), and
//! deferred (the agent refused to start a turn yet; the delivery waits in line).
//!
//! Guarantees: counting is one relaxed atomic add; the label set is the fixed channel table.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde_json::{Value, json};

use crate::webhook::Channel;

#[derive(Debug, Default)]
struct Counters {
    started: AtomicU64,
    replied: AtomicU64,
    failed: AtomicU64,
    aborted: AtomicU64,
    deferred: AtomicU64,
}

/// One channel's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnSnapshot {
    /// Turns started for this channel's messages.
    pub started: u64,
    /// Turns whose reply was queued.
    pub replied: u64,
    /// Turns that ended in an error (or with nothing to send).
    pub failed: u64,
    /// Turns aborted or interrupted.
    pub aborted: u64,
    /// Times the agent refused a turn for now (queue full) and the delivery waited.
    pub deferred: u64,
}

impl TurnSnapshot {
    /// The `turns` object of `channels.status`.
    #[must_use]
    pub fn to_json(self) -> Value {
        json!({
            "started": self.started, "replied": self.replied, "failed": self.failed,
            "aborted": self.aborted, "deferred": self.deferred,
        })
    }
}

/// Which counter an event adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnCount {
    /// A turn started.
    Started,
    /// Its reply was queued.
    Replied,
    /// It failed.
    Failed,
    /// It was aborted or interrupted.
    Aborted,
    /// The agent refused it for now.
    Deferred,
}

/// Every channel's counters.
#[derive(Debug)]
pub struct ChannelTurnStats {
    channels: Vec<Counters>,
}

impl Default for ChannelTurnStats {
    fn default() -> Self {
        Self { channels: Channel::ALL.iter().map(|_| Counters::default()).collect() }
    }
}

impl ChannelTurnStats {
    /// Count one `what` for `channel`.
    pub fn count(&self, channel: Channel, what: TurnCount) {
        let Some(c) = self.channels.get(channel.index()) else { return };
        match what {
            TurnCount::Started => &c.started,
            TurnCount::Replied => &c.replied,
            TurnCount::Failed => &c.failed,
            TurnCount::Aborted => &c.aborted,
            TurnCount::Deferred => &c.deferred,
        }
        .fetch_add(1, Relaxed);
    }

    /// The counts of `channel`.
    #[must_use]
    pub fn snapshot(&self, channel: Channel) -> TurnSnapshot {
        self.channels.get(channel.index()).map_or_else(TurnSnapshot::default, |c| TurnSnapshot {
            started: c.started.load(Relaxed),
            replied: c.replied.load(Relaxed),
            failed: c.failed.load(Relaxed),
            aborted: c.aborted.load(Relaxed),
            deferred: c.deferred.load(Relaxed),
        })
    }

    /// Append the channel-turn series (and the in-flight gauge) to a Prometheus exposition.
    pub fn render_metrics(&self, out: &mut String, in_flight: usize) {
        use std::fmt::Write as _;
        type Family = (&'static str, &'static str, fn(&TurnSnapshot) -> u64);
        let snaps: Vec<(Channel, TurnSnapshot)> = Channel::NATIVE.iter().map(|&c| (c, self.snapshot(c))).collect();
        let families: [Family; 5] = [
            ("talon_channel_turns_started_total", "Agent turns started for inbound channel messages.", |s| s.started),
            ("talon_channel_turns_replied_total", "Channel turns whose reply was queued in the outbox.", |s| s.replied),
            ("talon_channel_turns_failed_total", "Channel turns that failed (the inbox row is failed).", |s| s.failed),
            (
                "talon_channel_turns_aborted_total",
                "Channel turns aborted by chat.abort or interrupted by a shutdown (run again at the next start).",
                |s| s.aborted,
            ),
            (
                "talon_channel_turns_deferred_total",
                "Times the agent queue refused a channel turn for now and its delivery waited in line.",
                |s| s.deferred,
            ),
        ];
        for (name, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (channel, s) in &snaps {
                let _ = writeln!(out, "{name}{{channel=\"{}\"}} {}", channel.name(), value(s));
            }
        }
        let name = "talon_channel_turns_in_flight";
        let _ = writeln!(
            out,
            "# HELP {name} Channel turns started by the dispatcher and not ended (bound: channels.replies.max_in_flight).\n# TYPE {name} gauge\n{name} {in_flight}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders_per_channel() {
        let s = ChannelTurnStats::default();
        s.count(Channel::Telegram, TurnCount::Started);
        s.count(Channel::Telegram, TurnCount::Replied);
        s.count(Channel::Line, TurnCount::Deferred);
        assert_eq!(s.snapshot(Channel::Telegram), TurnSnapshot { started: 1, replied: 1, ..TurnSnapshot::default() });
        let mut text = String::new();
        s.render_metrics(&mut text, 3);
        assert!(text.contains("talon_channel_turns_replied_total{channel=\"telegram\"} 1\n"), "{text}");
        assert!(text.contains("talon_channel_turns_deferred_total{channel=\"line\"} 1\n"), "{text}");
        assert!(text.contains("talon_channel_turns_in_flight 3\n"), "{text}");
    }
}
