//! The dedup index: which `(channel, delivery_id)` keys were stored within the window, held in
//! memory by the SQLite backend and rebuilt from the inbox when it opens.
//!
//! Why in memory: the keys are random (a Telegram `update_id` is not, a body hash is), so a
//! B-tree of them on disk takes one random page per new delivery. With 1 KiB bodies that page
//! was 60% of the bytes written to the WAL (and copied again by checkpoints), and the lookup
//! and insert were half the writer's time (docs/BENCHMARKS.md, "dedup index"). The inbox rows
//! already hold every key with its time, so the index can be rebuilt from them at open and
//! never has to be written.
//!
//! Guarantees:
//! - A hit is only a candidate: the caller compares the stored row's channel and delivery id
//!   before answering "duplicate", so a hash collision can never drop a delivery as a repeat.
//! - Memory is bounded by [`DedupLimits::max_keys`]: past it, the oldest key is forgotten early
//!   (counted in [`DedupIndex::evicted_early`]), which shortens the window for that key; it can
//!   make a late retry be stored twice, never make a new delivery be refused.
//! - Keys are hashed with a per-process random key (SipHash), so a sender cannot choose
//!   delivery ids that collide.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::time::Duration;

/// How many keys the index holds by default (`ingest.dedup_max_keys`). Full, that is about
/// 60 MB: the map's 2^21 slots of 17 bytes (16 of key and id, 1 of control; hashbrown keeps
/// at most 7/8 full) and an order queue of 2^20 entries of 24 bytes; up to ~85 MB when many
/// keys repeat, as stale order entries are only dropped past twice the bound. It covers a
/// full 24 h window at 11 deliveries/s sustained; busier gateways keep the newest million
/// keys. An idle or quiet gateway holds a few keys, not this.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

/// The index's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupLimits {
    /// Keys older than this are forgotten (and rebuilt only from rows younger than it).
    pub window: Duration,
    /// Most keys held; past it the oldest is forgotten before its window ends.
    pub max_keys: usize,
}

impl Default for DedupLimits {
    fn default() -> Self {
        Self { window: Duration::from_secs(86_400), max_keys: DEFAULT_MAX_KEYS }
    }
}

/// The map's keys are already keyed SipHash values: hashing them again would only cost time.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in rather than drop it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// One remembered key, in the order keys were stored.
#[derive(Debug, Clone, Copy)]
struct Remembered {
    key: u64,
    id: i64,
    received_ms: u64,
}

/// The index. Owned by the backend's writer side; not shared with readers.
pub struct DedupIndex {
    hasher: RandomState,
    /// key → inbox id of the newest row stored under it.
    map: HashMap<u64, i64, BuildHasherDefault<PassThrough>>,
    /// Every key in the order it was stored (an entry whose id the map no longer holds is
    /// stale and skipped when it reaches the front).
    order: VecDeque<Remembered>,
    max_keys: usize,
    evicted_early: u64,
}

impl std::fmt::Debug for DedupIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DedupIndex")
            .field("keys", &self.map.len())
            .field("max_keys", &self.max_keys)
            .field("evicted_early", &self.evicted_early)
            .finish_non_exhaustive()
    }
}

impl DedupIndex {
    /// An empty index holding at most `max_keys` (at least one).
    #[must_use]
    pub fn new(max_keys: usize) -> Self {
        Self {
            hasher: RandomState::new(),
            map: HashMap::default(),
            order: VecDeque::new(),
            max_keys: max_keys.max(1),
            evicted_early: 0,
        }
    }

    /// The key of a delivery.
    #[must_use]
    pub fn key(&self, channel: &str, delivery_id: &str) -> u64 {
        // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
        let mut h = self.hasher.build_hasher();
        h.write_usize(channel.len());
        h.write(channel.as_bytes());
        h.write(delivery_id.as_bytes());
        h.finish()
    }

    /// The inbox id last stored under `key`, a candidate the caller must confirm.
    #[must_use]
    pub fn candidate(&self, key: u64) -> Option<i64> {
        self.map.get(&key).copied()
    }

    /// Remember that row `id` was stored under `key`. Ids must be given in increasing order.
    pub fn remember(&mut self, key: u64, id: i64, received_ms: u64) {
        self.map.insert(key, id);
        self.order.push_back(Remembered { key, id, received_ms });
        while self.map.len() > self.max_keys {
            match self.pop_front() {
                Some(true) => self.evicted_early += 1,
                Some(false) => {}
                None => break,
            }
        }
        // Stale entries (keys stored again later) are dropped from the front as they come;
        // bound them too, so a flood of repeats of one key cannot grow the queue.
        while self.order.len() > self.max_keys.saturating_mul(2) {
            if self.pop_front().is_none() {
                break;
            }
        }
    }

    /// Forget up to `limit` keys stored before `before_ms`; returns how many were forgotten.
    pub fn prune(&mut self, before_ms: u64, limit: usize) -> u64 {
        let mut forgotten = 0u64;
        let mut looked = 0usize;
        while looked < limit {
            match self.order.front() {
                Some(r) if r.received_ms < before_ms => {}
                _ => break,
            }
            looked += 1;
            if self.pop_front() == Some(true) {
                forgotten += 1;
            }
        }
        forgotten
    }

    /// Drop the oldest order entry: `Some(true)` if it was the live entry of its key (which is
    /// now forgotten), `Some(false)` if it was stale, `None` if there is none.
    fn pop_front(&mut self) -> Option<bool> {
        let r = self.order.pop_front()?;
        if self.map.get(&r.key) == Some(&r.id) {
            self.map.remove(&r.key);
            return Some(true);
        }
        Some(false)
    }

    /// Keys held now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys forgotten before their window ended because the index was full.
    #[must_use]
    pub fn evicted_early(&self) -> u64 {
        self.evicted_early
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tell_channel_and_id_apart() {
        let idx = DedupIndex::new(8);
        assert_eq!(idx.key("telegram", "1"), idx.key("telegram", "1"));
        assert_ne!(idx.key("telegram", "1"), idx.key("slack", "1"));
        assert_ne!(idx.key("ab", "c"), idx.key("a", "bc"));
    }

    #[test]
    fn remembers_the_newest_row_of_a_key_and_prunes_by_time() {
        let mut idx = DedupIndex::new(8);
        let (a, b) = (idx.key("x", "a"), idx.key("x", "b"));
        idx.remember(a, 1, 100);
        idx.remember(b, 2, 200);
        idx.remember(a, 3, 300); // stored again after its window: the map follows the new row
        assert_eq!(idx.candidate(a), Some(3));
        // The stale entry of `a` (id 1) goes without forgetting the live one.
        assert_eq!(idx.prune(250, 10), 1);
        assert_eq!((idx.candidate(a), idx.candidate(b)), (Some(3), None));
        assert_eq!(idx.prune(1_000, 10), 1);
        assert!(idx.is_empty());
        assert_eq!(idx.evicted_early(), 0);
    }

    #[test]
    fn the_prune_limit_bounds_one_call() {
        let mut idx = DedupIndex::new(100);
        for i in 0..10 {
            let k = idx.key("x", &i.to_string());
            idx.remember(k, i, 1);
        }
        assert_eq!(idx.prune(2, 4), 4);
        assert_eq!(idx.len(), 6);
    }

    #[test]
    fn past_the_bound_the_oldest_key_is_forgotten_early_and_counted() {
        let mut idx = DedupIndex::new(3);
        let keys: Vec<u64> = (0..5).map(|i| idx.key("x", &i.to_string())).collect();
        for (i, &k) in keys.iter().enumerate() {
            idx.remember(k, i64::try_from(i).unwrap_or(0), 1);
        }
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.evicted_early(), 2);
        assert_eq!(idx.candidate(keys[0]), None);
        assert_eq!(idx.candidate(keys[4]), Some(4));
    }

    #[test]
    fn repeats_of_one_key_do_not_grow_the_order_queue() {
        let mut idx = DedupIndex::new(2);
        let k = idx.key("x", "same");
        for id in 0..100 {
            idx.remember(k, id, 1);
        }
        assert_eq!(idx.len(), 1);
        assert!(idx.order.len() <= 4);
        assert_eq!(idx.evicted_early(), 0);
        assert_eq!(idx.candidate(k), Some(99));
    }
}
