//! Connection deadlines: one min-heap per reactor with lazy deletion.
//!
//! Guarantees: each connection has at most a few entries (a new one is pushed only when its
//! deadline moves earlier than the one already queued), so the heap stays proportional to
//! the number of connections; a popped entry is re-checked against the connection's
//! current deadline before anything expires, so stale entries are harmless.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Pending deadlines.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl Timers {
    /// Queue a deadline for `token`.
    pub fn push(&mut self, at: Instant, token: usize) {
        self.heap.push(Reverse((at, token)));
    }

    /// The earliest queued deadline.
    #[must_use]
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Pop one entry due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, usize)> {
        match self.heap.peek() {
            Some(Reverse((t, _))) if *t <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }
}
