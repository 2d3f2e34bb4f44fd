//! The replay ring: the most recent published events, for `Last-Event-ID` replay and for
//! `/api/activity`.
//!
//! Guarantees: the ring holds at most `capacity` events (config `gateway.sse.ring_events`) and
//! at most [`MAX_RING_BYTES`] of encoded bytes; past either bound the oldest events are evicted,
//! and a later replay that needs them reports `missed`. Ids in the ring are contiguous and
//! ascending, so [`Ring::since`] finds its start by arithmetic, not by scanning. Push is O(1)
//! (amortised; a rare byte-bound eviction may drop several events).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::events::encoded::Encoded;

/// Upper bound on the encoded bytes (SSE plus activity forms) the ring keeps. When a push takes
/// the ring past it, the oldest events are evicted until it fits again (the newest event always
/// stays), so replay reaches less far back than `ring_events` and a replay that needs an evicted
/// event reports `missed`. It bounds memory when payloads are large (a `message:received` can
/// carry a whole 1 MiB request body).
pub const MAX_RING_BYTES: usize = 64 << 20;

/// Events preallocated at start; a larger ring grows on demand, so a huge `ring_events` costs
/// nothing until it fills.
const PREALLOCATE_EVENTS: usize = 1024;

/// The answer to a replay request.
#[derive(Debug, Default)]
pub struct Since {
    /// Events with ids after the requested one, ascending, contiguous, at most `max` of them.
    pub events: Vec<Arc<Encoded>>,
    /// Some events the caller asked for are gone: they were evicted before they could be
    /// replayed, or the requested id was never issued by this process (it is ahead of the last
    /// id, typically a `Last-Event-ID` from before a restart). When set, `events` starts at the
    /// oldest event still held (or is empty).
    pub missed: bool,
}

/// A bounded ring of encoded events, oldest first.
#[derive(Debug)]
pub struct Ring {
    buf: VecDeque<Arc<Encoded>>,
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    last_id: u64,
}

impl Ring {
    /// A ring of at most `capacity` events and [`MAX_RING_BYTES`]. Capacity 0 keeps nothing:
    /// every replay of a past id reports `missed`.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self::with_limits(capacity, MAX_RING_BYTES)
    }

    /// A ring with an explicit byte bound (tests use a small one).
    #[must_use]
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        Self {
            buf: VecDeque::with_capacity(capacity.min(PREALLOCATE_EVENTS)),
            capacity,
            max_bytes,
            bytes: 0,
            last_id: 0,
        }
    }

    /// The id of the last event pushed (0 before the first).
    #[must_use]
    pub const fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Events held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no event is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Encoded bytes held (SSE plus activity forms).
    #[must_use]
    pub const fn bytes(&self) -> usize {
        self.bytes
    }

    /// Append `ev`, which must carry id `last_id() + 1`, and return the event evicted to make
    /// room, if any (the caller drops it outside its lock). Further events evicted by the byte
    /// bound in the same push are dropped here. An event with any other id first empties the
    /// ring, so the id arithmetic of [`Ring::since`] stays right; replays of the dropped
    /// history then report `missed`.
    pub fn push(&mut self, ev: Arc<Encoded>) -> Option<Arc<Encoded>> {
        if self.last_id.checked_add(1) != Some(ev.id()) {
            self.buf.clear();
            self.bytes = 0;
        }
        self.last_id = ev.id();
        if self.capacity == 0 {
            return Some(ev);
        }
        let size = ev.sse().len() + ev.activity().len();
        let first = if self.buf.len() >= self.capacity { self.pop_front() } else { None };
        self.bytes += size;
        self.buf.push_back(ev);
        while self.bytes > self.max_bytes && self.buf.len() > 1 {
            self.pop_front();
        }
        first
    }

    fn pop_front(&mut self) -> Option<Arc<Encoded>> {
        let ev = self.buf.pop_front()?;
        self.bytes = self.bytes.saturating_sub(ev.sse().len() + ev.activity().len());
        Some(ev)
    }

    /// Up to `max` events with ids greater than `after`, oldest first; see [`Since`].
    ///
    /// `after == 0` asks for everything held; `after == last_id()` gets nothing and misses
    /// nothing; `after > last_id()` gets nothing and is reported `missed`.
    #[must_use]
    pub fn since(&self, after: u64, max: usize) -> Since {
        let mut events = Vec::new();
        let missed = self.since_into(after, max, &mut events);
        Since { events, missed }
    }

    /// [`Ring::since`] into a caller's buffer (appended; not cleared), returning `missed`.
    /// Lets a reactor reuse one buffer instead of allocating per drain.
    pub fn since_into(&self, after: u64, max: usize, out: &mut Vec<Arc<Encoded>>) -> bool {
        if after >= self.last_id {
            return after > self.last_id;
        }
        let Some(first) = self.buf.front().map(|e| e.id()) else { return true };
        // after < last_id, so after + 1 cannot overflow.
        let wanted = after + 1;
        let (start, missed) = match wanted.checked_sub(first) {
            Some(skip) => (usize::try_from(skip).unwrap_or(usize::MAX), false),
            None => (0, true),
        };
        out.extend(self.buf.range(start.min(self.buf.len())..).take(max).cloned());
        missed
    }

    /// The newest `limit` events, oldest first (newest last).
    #[must_use]
    pub fn recent(&self, limit: usize) -> Vec<Arc<Encoded>> {
        let skip = self.buf.len().saturating_sub(limit);
        self.buf.range(skip..).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::encoded::Draft;
    use crate::events::kind::lookup;

    fn ev(id: u64) -> Arc<Encoded> {
        ev_sized(id, 2)
    }

    fn ev_sized(id: u64, payload_len: usize) -> Arc<Encoded> {
        let kind = lookup("system:error").unwrap_or_else(|| panic!("catalogue"));
        Arc::new(Draft::new(kind, 0, |out| out.resize(out.len() + payload_len, b'7')).finish(id))
    }

    fn filled(capacity: usize, n: u64) -> Ring {
        let mut r = Ring::new(capacity);
        for id in 1..=n {
            drop(r.push(ev(id)));
        }
        r
    }

    fn ids(events: &[Arc<Encoded>]) -> Vec<u64> {
        events.iter().map(|e| e.id()).collect()
    }

    #[test]
    fn eviction_by_count() {
        let mut r = Ring::new(3);
        assert!(r.push(ev(1)).is_none() && r.push(ev(2)).is_none() && r.push(ev(3)).is_none());
        assert_eq!(r.push(ev(4)).map(|e| e.id()), Some(1));
        assert_eq!((r.len(), r.last_id()), (3, 4));
        assert_eq!(ids(&r.recent(10)), [2, 3, 4]);
    }

    #[test]
    fn since_boundaries() {
        // Holds 6..=10 after ten pushes into a ring of five.
        let r = filled(5, 10);
        let cases: &[(u64, usize, &[u64], bool)] = &[
            (0, 100, &[6, 7, 8, 9, 10], true),
            (4, 100, &[6, 7, 8, 9, 10], true),
            (5, 100, &[6, 7, 8, 9, 10], false),
            (6, 100, &[7, 8, 9, 10], false),
            (8, 1, &[9], false),
            (9, 100, &[10], false),
            (10, 100, &[], false),
            (11, 100, &[], true),
            (u64::MAX, 100, &[], true),
            (5, 0, &[], false),
            (1, 2, &[6, 7], true),
        ];
        for &(after, max, want, missed) in cases {
            let s = r.since(after, max);
            assert_eq!((ids(&s.events), s.missed), (want.to_vec(), missed), "since({after}, {max})");
        }
        // Nothing evicted yet: after = 0 replays everything and misses nothing.
        let r = filled(5, 3);
        let s = r.since(0, 100);
        assert_eq!((ids(&s.events), s.missed), (vec![1, 2, 3], false));
        let empty = Ring::new(5);
        let s = empty.since(0, 100);
        assert!(s.events.is_empty() && !s.missed);
        assert!(empty.since(1, 100).missed);
    }

    #[test]
    fn since_into_appends() {
        let r = filled(4, 6);
        let mut buf = vec![ev(99)];
        assert!(!r.since_into(4, 10, &mut buf));
        assert_eq!(ids(&buf), [99, 5, 6]);
    }

    #[test]
    fn recent_limits() {
        let r = filled(5, 8);
        assert_eq!(ids(&r.recent(0)), Vec::<u64>::new());
        assert_eq!(ids(&r.recent(2)), [7, 8]);
        assert_eq!(ids(&r.recent(5)), [4, 5, 6, 7, 8]);
        assert_eq!(ids(&r.recent(usize::MAX)), [4, 5, 6, 7, 8]);
        assert!(Ring::new(5).recent(3).is_empty());
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut r = Ring::new(0);
        assert_eq!(r.push(ev(1)).map(|e| e.id()), Some(1));
        assert_eq!((r.len(), r.last_id()), (0, 1));
        let s = r.since(0, 10);
        assert!(s.events.is_empty() && s.missed);
        assert!(!r.since(1, 10).missed);
    }

    #[test]
    fn byte_bound_evicts_oldest_but_keeps_newest() {
        let one = ev_sized(1, 1000);
        let size = one.sse().len() + one.activity().len();
        let mut r = Ring::with_limits(100, 3 * size);
        for id in 1..=5 {
            drop(r.push(ev_sized(id, 1000)));
        }
        assert_eq!(ids(&r.recent(100)), [3, 4, 5]);
        assert!(r.bytes() <= 3 * size);
        assert!(r.since(1, 10).missed);
        // One event bigger than the whole budget is still kept (alone).
        drop(r.push(ev_sized(6, 10 * size)));
        assert_eq!(ids(&r.recent(100)), [6]);
        assert!(!r.since(5, 10).missed);
    }

    #[test]
    fn non_contiguous_id_resets_history() {
        let mut r = filled(10, 3);
        drop(r.push(ev(7)));
        assert_eq!(ids(&r.recent(10)), [7]);
        let s = r.since(3, 10);
        assert_eq!((ids(&s.events), s.missed), (vec![7], true));
        assert!(!r.since(6, 10).missed);
    }
}
