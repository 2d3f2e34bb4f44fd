//! Per-channel ingestion counters for `channels.status` and `/metrics`: deliveries stored,
//! duplicates, rejections by reason, and the time of the last delivery.
//!
//! Guarantees: counting never blocks the event loop on anything slower than an atomic add,
//! except a rejection, which takes a short lock on its channel's reason table (rejections are
//! the rare path and their reasons are a small fixed set of static strings).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

use super::Channel;

/// Counters of one channel.
#[derive(Debug, Default)]
struct ChannelCounters {
    received: AtomicU64,
    duplicates: AtomicU64,
    challenges: AtomicU64,
    last_delivery_ms: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

/// A snapshot of one channel's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSnapshot {
    /// The channel.
    pub channel: Channel,
    /// Deliveries stored.
    pub received: u64,
    /// Deliveries acknowledged as duplicates.
    pub duplicates: u64,
    /// Handshakes answered (url_verification, PING, hub.challenge, LINE verify).
    pub challenges: u64,
    /// Unix ms of the last stored delivery, 0 if none.
    pub last_delivery_ms: u64,
    /// Refusals by reason code.
    pub rejected: BTreeMap<&'static str, u64>,
}

/// All channels' counters.
#[derive(Debug)]
pub struct IngestStats {
    channels: Vec<ChannelCounters>,
}

impl Default for IngestStats {
    fn default() -> Self {
        Self { channels: Channel::ALL.iter().map(|_| ChannelCounters::default()).collect() }
    }
}

impl IngestStats {
    fn of(&self, channel: Channel) -> Option<&ChannelCounters> {
        self.channels.get(channel.index())
    }

    /// A delivery was stored (`duplicate == false`) or recognised as a repeat.
    pub fn delivered(&self, channel: Channel, duplicate: bool, now_ms: u64) {
        if let Some(c) = self.of(channel) {
            if duplicate {
                c.duplicates.fetch_add(1, Relaxed);
            } else {
                c.received.fetch_add(1, Relaxed);
                c.last_delivery_ms.fetch_max(now_ms, Relaxed);
            }
        }
    }

    /// A handshake was answered.
    pub fn challenge(&self, channel: Channel) {
        if let Some(c) = self.of(channel) {
            c.challenges.fetch_add(1, Relaxed);
        }
    }

    /// A delivery was refused for `reason` (a stable code such as `signature_mismatch`).
    pub fn rejected(&self, channel: Channel, reason: &'static str) {
        if let Some(c) = self.of(channel) {
            *c.rejected.lock().entry(reason).or_insert(0) += 1;
        }
    }

    /// The counters of `channel`.
    #[must_use]
    pub fn snapshot(&self, channel: Channel) -> ChannelSnapshot {
        let Some(c) = self.of(channel) else {
            return ChannelSnapshot {
                channel,
                received: 0,
                duplicates: 0,
                challenges: 0,
                last_delivery_ms: 0,
                rejected: BTreeMap::new(),
            };
        };
        ChannelSnapshot {
            channel,
            received: c.received.load(Relaxed),
            duplicates: c.duplicates.load(Relaxed),
            challenges: c.challenges.load(Relaxed),
            last_delivery_ms: c.last_delivery_ms.load(Relaxed),
            rejected: c.rejected.lock().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_channel() {
        let s = IngestStats::default();
        s.delivered(Channel::Slack, false, 10);
        s.delivered(Channel::Slack, true, 20);
        s.rejected(Channel::Slack, "signature_mismatch");
        s.rejected(Channel::Slack, "signature_mismatch");
        let snap = s.snapshot(Channel::Slack);
        assert_eq!((snap.received, snap.duplicates, snap.last_delivery_ms), (1, 1, 10));
        assert_eq!(snap.rejected.get("signature_mismatch"), Some(&2));
        assert_eq!(s.snapshot(Channel::Line).received, 0);
    }
}
