//! The event subscribers of one reactor and the delivery round that feeds them.
//!
//! Guarantees: the bus wakes a reactor at most once per burst (its `Listener` coalesces);
//! a round copies the new events out of the ring once (`Arc`s, no bytes) and hands the same
//! slice to every subscriber of the reactor. Closed connections leave the list lazily, in
//! the next round, so closing never scans it.

use std::sync::Arc;

use crate::events::{Encoded, Listener};

/// This reactor's subscribed connections and its place in the bus.
#[derive(Debug)]
pub struct Subscribers {
    tokens: Vec<usize>,
    listener: Arc<Listener>,
    /// Id of the last event this reactor has delivered.
    cursor: u64,
    batch: Vec<Arc<Encoded>>,
}

impl Subscribers {
    /// Subscribers fed through `listener`, starting after event `cursor`.
    #[must_use]
    pub fn new(listener: Arc<Listener>, cursor: u64) -> Self {
        Self { tokens: Vec::new(), listener, cursor, batch: Vec::new() }
    }

    /// A connection starts taking events.
    pub fn subscribe(&mut self, token: usize) {
        self.tokens.push(token);
        self.listener.add_subscriber();
    }

    /// A subscribed connection closed (its token leaves the list in the next round).
    pub fn unsubscribed(&self) {
        self.listener.remove_subscriber();
    }

    /// Whether the bus has published since the last round.
    #[must_use]
    pub fn take_pending(&self) -> bool {
        self.listener.take_pending()
    }

    /// Take the next batch of events from the bus; empty when there is nothing new.
    pub fn next_batch(&mut self, bus: &crate::events::EventBus, max: usize) -> Vec<Arc<Encoded>> {
        self.batch.clear();
        // A reactor that fell behind the ring simply resumes at the oldest event held; SSE
        // clients learn about gaps through their own replay, WebSocket clients see `seq` jump.
        let _missed = bus.since_into(self.cursor, max, &mut self.batch);
        if let Some(last) = self.batch.last() {
            self.cursor = last.id();
        }
        std::mem::take(&mut self.batch)
    }

    /// The subscribed tokens, for a delivery round.
    pub fn take_tokens(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.tokens)
    }

    /// Put back the tokens still subscribed after a round.
    pub fn restore_tokens(&mut self, tokens: Vec<usize>) {
        let added = std::mem::replace(&mut self.tokens, tokens);
        self.tokens.extend(added);
    }
}
