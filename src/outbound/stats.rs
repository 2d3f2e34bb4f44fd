//! Per-channel outbound counters for `/metrics` and `channels.status`: messages queued, sent,
//! retried (one count per failed attempt that will be tried again) and failed for good, with
//! the time and text of the last failure.
//!
//! Guarantees: counting is an atomic add (the last error takes a short lock on the failure
//! path only); error texts here are already scrubbed of secrets by the sender.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::webhook::Channel;

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    sent: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    last_sent_ms: AtomicU64,
    last_error: Mutex<Option<(u64, String)>>,
}

/// A snapshot of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutboundSnapshot {
    /// Rows queued by this process.
    pub queued: u64,
    /// Rows the platform accepted.
    pub sent: u64,
    /// Failed attempts that will be retried.
    pub retried: u64,
    /// Rows given up on.
    pub failed: u64,
    /// Unix ms of the last accepted send, 0 if none.
    pub last_sent_ms: u64,
    /// Unix ms and text of the last failed attempt.
    pub last_error: Option<(u64, String)>,
}

impl OutboundSnapshot {
    /// The `outbound` object of `channels.status`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "queued": self.queued, "sent": self.sent, "retried": self.retried, "failed": self.failed,
            "lastSentMs": (self.last_sent_ms > 0).then_some(self.last_sent_ms),
            "lastError": self.last_error.as_ref().map(|(_, e)| e),
            "lastErrorMs": self.last_error.as_ref().map(|(ms, _)| ms),
        })
    }
}

/// One metric family: name, help text, and the counter it reads.
type Family = (&'static str, &'static str, fn(&OutboundSnapshot) -> u64);

/// All channels' counters.
#[derive(Debug)]
pub struct OutboundStats {
    channels: Vec<Counters>,
}

impl Default for OutboundStats {
    fn default() -> Self {
        Self { channels: Channel::ALL.iter().map(|_| Counters::default()).collect() }
    }
}

impl OutboundStats {
    fn of(&self, channel: Channel) -> Option<&Counters> {
        self.channels.get(channel.index())
    }

    /// `n` rows were queued.
    pub fn queued(&self, channel: Channel, n: u64) {
        if let Some(c) = self.of(channel) {
            c.queued.fetch_add(n, Relaxed);
        }
    }

    /// A row was accepted by the platform.
    pub fn sent(&self, channel: Channel, now_ms: u64) {
        if let Some(c) = self.of(channel) {
            c.sent.fetch_add(1, Relaxed);
            c.last_sent_ms.fetch_max(now_ms, Relaxed);
        }
    }

    /// An attempt failed; `permanent` when the row is given up on.
    pub fn attempt_failed(&self, channel: Channel, permanent: bool, error: &str, now_ms: u64) {
        if let Some(c) = self.of(channel) {
            if permanent { &c.failed } else { &c.retried }.fetch_add(1, Relaxed);
            *c.last_error.lock() = Some((now_ms, error.to_owned()));
        }
    }

    /// The counters of `channel`.
    #[must_use]
    pub fn snapshot(&self, channel: Channel) -> OutboundSnapshot {
        self.of(channel).map_or_else(OutboundSnapshot::default, |c| OutboundSnapshot {
            queued: c.queued.load(Relaxed),
            sent: c.sent.load(Relaxed),
            retried: c.retried.load(Relaxed),
            failed: c.failed.load(Relaxed),
            last_sent_ms: c.last_sent_ms.load(Relaxed),
            last_error: c.last_error.lock().clone(),
        })
    }

    /// Append the outbound series to a Prometheus text exposition.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let snaps: Vec<(Channel, OutboundSnapshot)> = Channel::NATIVE.iter().map(|&c| (c, self.snapshot(c))).collect();
        let families: [Family; 4] = [
            ("talon_outbound_queued_total", "Outbound messages queued in the outbox, by channel.", |s| s.queued),
            ("talon_outbound_sent_total", "Outbound messages the platform accepted, by channel.", |s| s.sent),
            (
                "talon_outbound_retried_total",
                "Outbound send attempts that failed and will be retried (429, 5xx, connection), by channel.",
                |s| s.retried,
            ),
            (
                "talon_outbound_failed_total",
                "Outbound messages given up on (permanent error or attempts exhausted), by channel.",
                |s| s.failed,
            ),
        ];
        for (name, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (channel, s) in &snaps {
                let _ = writeln!(out, "{name}{{channel=\"{}\"}} {}", channel.name(), value(s));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders_per_channel() {
        let s = OutboundStats::default();
        s.queued(Channel::Telegram, 2);
        s.sent(Channel::Telegram, 5);
        s.attempt_failed(Channel::Telegram, false, "HTTP 429", 6);
        s.attempt_failed(Channel::Slack, true, "slack: channel_not_found", 7);
        let t = s.snapshot(Channel::Telegram);
        assert_eq!((t.queued, t.sent, t.retried, t.failed, t.last_sent_ms), (2, 1, 1, 0, 5));
        assert_eq!(s.snapshot(Channel::Slack).last_error, Some((7, "slack: channel_not_found".into())));
        let mut text = String::new();
        s.render_metrics(&mut text);
        assert!(text.contains("talon_outbound_sent_total{channel=\"telegram\"} 1\n"), "{text}");
        assert!(text.contains("talon_outbound_failed_total{channel=\"slack\"} 1\n"), "{text}");
        assert!(text.contains("talon_outbound_retried_total{channel=\"lark\"} 0\n"), "{text}");
    }
}
