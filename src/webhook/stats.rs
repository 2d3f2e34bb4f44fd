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

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Append the ingestion and store series to a Prometheus text exposition. `buffered_ms` is
/// the sync interval in buffered mode (the loss window), `None` when acknowledgements wait
/// for the sync.
pub fn render_metrics(
    stats: &IngestStats,
    store: &crate::store::StoreStats,
    healthy: bool,
    buffered_ms: Option<u64>,
    out: &mut String,
) {
    use std::fmt::Write as _;
    let snaps: Vec<ChannelSnapshot> = Channel::ALL.iter().map(|c| stats.snapshot(*c)).collect();
    family(out, "talon_webhook_received_total", "counter", "Webhook deliveries stored, by channel.");
    for s in &snaps {
        let _ = writeln!(out, "talon_webhook_received_total{{channel=\"{}\"}} {}", s.channel.name(), s.received);
    }
    family(out, "talon_webhook_duplicates_total", "counter", "Webhook deliveries acknowledged as duplicates.");
    for s in &snaps {
        let _ = writeln!(out, "talon_webhook_duplicates_total{{channel=\"{}\"}} {}", s.channel.name(), s.duplicates);
    }
    family(out, "talon_webhook_rejected_total", "counter", "Webhook requests refused, by channel and reason.");
    for s in &snaps {
        for (reason, n) in &s.rejected {
            let channel = s.channel.name();
            let _ = writeln!(out, "talon_webhook_rejected_total{{channel=\"{channel}\",reason=\"{reason}\"}} {n}");
        }
    }
    let series: [(&str, &str, &str, u64); 14] = [
        ("talon_store_batches_total", "counter", "Transactions committed by the store writer.", store.batches),
        ("talon_store_records_total", "counter", "Deliveries stored as new inbox rows.", store.records),
        ("talon_store_duplicates_total", "counter", "Deliveries the writer found to be duplicates.", store.duplicates),
        ("talon_store_syncs_total", "counter", "Syncs of the store log to disk.", store.syncs),
        (
            "talon_store_sync_failures_total",
            "counter",
            "Failed commits or syncs (the first one stops acknowledgements).",
            store.sync_failures,
        ),
        (
            "talon_store_sync_microseconds_total",
            "counter",
            "Time spent syncing, in microseconds.",
            store.sync_micros_total,
        ),
        ("talon_store_max_batch_records", "gauge", "Most writes in one transaction so far.", store.max_batch_records),
        (
            "talon_store_last_batch_records",
            "gauge",
            "Writes in the last committed transaction.",
            store.last_batch_records,
        ),
        ("talon_store_queue_depth", "gauge", "Writes waiting for the store writer.", store.queue_depth as u64),
        (
            "talon_store_queue_capacity",
            "gauge",
            "Bound of the store writer queue (when full, webhooks get 503).",
            store.queue_capacity as u64,
        ),
        (
            "talon_store_unsynced_records",
            "gauge",
            "Buffered mode: acknowledged writes not yet synced (the loss window on power failure).",
            store.unsynced_records,
        ),
        ("talon_store_dedup_keys", "gauge", "Dedup keys held in memory.", store.dedup_keys),
        (
            "talon_store_dedup_evicted_early_total",
            "counter",
            "Dedup keys forgotten before their window ended because ingest.dedup_max_keys was reached.",
            store.dedup_evicted_early,
        ),
        (
            "talon_store_healthy",
            "gauge",
            "1 while the store acknowledges; 0 after a failed commit or sync.",
            u64::from(healthy),
        ),
    ];
    for (name, kind, help, v) in series {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {v}");
    }
    family(
        out,
        "talon_ingest_buffered_sync_interval_seconds",
        "gauge",
        "Buffered mode: how often the log is synced, the window in which an acknowledged delivery can be lost on power failure (0: acknowledgements wait for the sync).",
    );
    let _ = writeln!(out, "talon_ingest_buffered_sync_interval_seconds {}", buffered_ms.unwrap_or(0) as f64 / 1e3);
    family(out, "talon_store_records_per_sync", "histogram", "Writes made durable by each sync (group commit size).");
    let mut cumulative = 0u64;
    for (bound, n) in crate::store::RECORDS_PER_SYNC_BUCKETS.iter().zip(&store.records_per_sync_hist) {
        cumulative += n;
        let _ = writeln!(out, "talon_store_records_per_sync_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let total: u64 = store.records_per_sync_hist.iter().sum();
    let _ = writeln!(out, "talon_store_records_per_sync_bucket{{le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "talon_store_records_per_sync_sum {}", store.records + store.duplicates);
    let _ = writeln!(out, "talon_store_records_per_sync_count {total}");
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
