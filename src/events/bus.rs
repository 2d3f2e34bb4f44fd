//! The event bus: every thread publishes here; reactors replay from the ring and are woken
//! when there is something new.
//!
//! Guarantees:
//! - Only catalogue names are accepted ([`UnknownEvent`] otherwise), so every event on the wire
//!   is listed in `proto/events.json`.
//! - Each event is encoded once, at publication, outside the lock ([`Encoded`]); subscribers
//!   share it through an `Arc`.
//! - Ids come from one process-wide sequence starting at 1 and are contiguous. The id is taken
//!   and the event pushed into the ring under one `parking_lot::Mutex`, so ring order is id
//!   order; the critical section only appends the id to the two pre-encoded forms (into
//!   reserved capacity), allocates the `Arc` and pushes. An evicted event is released after the
//!   lock, and listeners are woken after it too.
//! - Wake-ups coalesce: a listener is woken at most once until it calls
//!   [`Listener::take_pending`], so a burst of events costs each reactor one wake-up.
//! - No lost events between a subscriber's first replay and its wake-ups, given the order
//!   documented on [`Listener`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use serde_json::value::RawValue;

use crate::config::schema::SseConfig;
use crate::events::encoded::{Draft, Encoded};
use crate::events::kind::{EventKind, lookup};
use crate::events::ring::{Ring, Since};

/// Longest prefix of a refused event name kept in [`UnknownEvent`]; longer names are cut (at a
/// character boundary), so a caller that forwards an untrusted name cannot make the error big.
pub const MAX_UNKNOWN_NAME_ECHO: usize = 64;

/// A publish of a name that is not in [`crate::events::kind::CATALOGUE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent {
    name: String,
}

impl UnknownEvent {
    fn new(name: &str) -> Self {
        let mut end = name.len().min(MAX_UNKNOWN_NAME_ECHO);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        Self { name: name.get(..end).unwrap_or_default().to_owned() }
    }

    /// The refused name (at most [`MAX_UNKNOWN_NAME_ECHO`] bytes of it).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for UnknownEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown event name {:?} (not in the event catalogue, proto/events.json)", self.name)
    }
}

impl std::error::Error for UnknownEvent {}

/// One reactor's registration: its waker, whether it has subscribers, and whether a wake-up
/// is outstanding.
///
/// Protocol for a reactor (this order is what makes delivery lossless):
/// 1. When a connection subscribes: [`Listener::add_subscriber`] first, then replay with
///    [`EventBus::since`] from the client's `Last-Event-ID` (or start at
///    [`EventBus::last_id`]). Keep a cursor per subscriber: the last id it was given.
/// 2. On a wake-up of its waker: [`Listener::take_pending`]; if true, call
///    [`EventBus::since`] (or `since_into`) from each subscriber's cursor. Take the flag
///    *before* reading the bus: an event published after the read raises it again.
/// 3. When a subscriber goes away: [`Listener::remove_subscriber`].
#[derive(Debug)]
pub struct Listener {
    waker: Arc<mio::Waker>,
    subscribers: AtomicUsize,
    pending: AtomicBool,
}

impl Listener {
    /// Count one more subscriber on this reactor; events published from now on wake it.
    pub fn add_subscriber(&self) {
        self.subscribers.fetch_add(1, Ordering::SeqCst);
    }

    /// Count one subscriber less (never below zero). At zero the reactor is no longer woken.
    pub fn remove_subscriber(&self) {
        let _ = self.subscribers.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// Subscribers currently counted.
    #[must_use]
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::SeqCst)
    }

    /// Whether events were published since the last call (clears the flag, re-arming the
    /// waker).
    pub fn take_pending(&self) -> bool {
        self.pending.swap(false, Ordering::AcqRel)
    }

    fn notify(&self) {
        // The publisher's ring push happens-before this load (via the bus mutex) whenever the
        // reactor's `add_subscriber` came after that push, and vice versa its replay sees the
        // push; so either this load sees the subscriber or the replay sees the event.
        if self.subscribers.load(Ordering::SeqCst) > 0 && !self.pending.swap(true, Ordering::AcqRel) {
            // An error means the waker could not be signalled (e.g. its poll is gone); the
            // flag stays set, so the reactor still drains on its next wake-up for any reason.
            let _ = self.waker.wake();
        }
    }
}

/// The process-wide event bus. Share it (`Arc`) between workers, agents and reactors.
#[derive(Debug)]
pub struct EventBus {
    ring: Mutex<Ring>,
    /// Mirror of the ring's last id, stored under the lock after the push, so
    /// [`EventBus::last_id`] is lock-free and never ahead of the ring.
    last_id: AtomicU64,
    listeners: RwLock<Vec<Arc<Listener>>>,
}

impl EventBus {
    /// A bus whose ring keeps `ring_events` events (and at most
    /// [`crate::events::ring::MAX_RING_BYTES`]).
    #[must_use]
    pub fn new(ring_events: usize) -> Self {
        Self::with_ring(Ring::new(ring_events))
    }

    /// A bus sized by `gateway.sse`.
    #[must_use]
    pub fn from_config(sse: &SseConfig) -> Self {
        Self::new(sse.ring_events)
    }

    /// A bus over a given ring (tests use a small byte bound).
    #[must_use]
    pub fn with_ring(ring: Ring) -> Self {
        let last = ring.last_id();
        Self { ring: Mutex::new(ring), last_id: AtomicU64::new(last), listeners: RwLock::new(Vec::new()) }
    }

    /// Publish `name` with `payload` (serialised compactly). Returns the event's id.
    ///
    /// # Errors
    /// [`UnknownEvent`] if `name` is not in the catalogue; nothing is published.
    pub fn publish(&self, name: &str, payload: &serde_json::Value) -> Result<u64, UnknownEvent> {
        let kind = lookup(name).ok_or_else(|| UnknownEvent::new(name))?;
        Ok(self.commit(Draft::new(kind, now_ms(), |out| write_value(out, payload))))
    }

    /// Publish `name` with a payload that is already JSON (no `Value` tree: for hot paths such
    /// as streaming deltas). Line breaks inside it are framed as further `data:` lines.
    ///
    /// # Errors
    /// [`UnknownEvent`] if `name` is not in the catalogue; nothing is published.
    pub fn publish_raw(&self, name: &str, payload: &RawValue) -> Result<u64, UnknownEvent> {
        let kind = lookup(name).ok_or_else(|| UnknownEvent::new(name))?;
        Ok(self.commit(Draft::new(kind, now_ms(), |out| out.extend_from_slice(payload.get().as_bytes()))))
    }

    /// The catalogue entry `publish` would use for `name`.
    #[must_use]
    pub fn kind(name: &str) -> Option<&'static EventKind> {
        lookup(name)
    }

    fn commit(&self, draft: Draft) -> u64 {
        let (id, evicted) = {
            let mut ring = self.ring.lock();
            // Saturating: 2^64 events is out of reach; were it reached, the ring would reset
            // (non-contiguous id) rather than wrap to 0.
            let id = ring.last_id().saturating_add(1);
            let evicted = ring.push(Arc::new(draft.finish(id)));
            self.last_id.store(id, Ordering::Release);
            (id, evicted)
        };
        // The last reference to an evicted event may be this one: free it outside the lock.
        drop(evicted);
        for listener in self.listeners.read().iter() {
            listener.notify();
        }
        id
    }

    /// Up to `max` events after id `after`, oldest first, and whether some were missed; see
    /// [`Since`] and [`Ring::since`].
    #[must_use]
    pub fn since(&self, after: u64, max: usize) -> Since {
        self.ring.lock().since(after, max)
    }

    /// [`EventBus::since`] appending to a reused buffer; returns `missed`.
    pub fn since_into(&self, after: u64, max: usize, out: &mut Vec<Arc<Encoded>>) -> bool {
        self.ring.lock().since_into(after, max, out)
    }

    /// The newest `limit` events, newest last.
    #[must_use]
    pub fn recent(&self, limit: usize) -> Vec<Arc<Encoded>> {
        self.ring.lock().recent(limit)
    }

    /// The id of the last published event (0 before the first). A new subscriber without
    /// `Last-Event-ID` starts its cursor here.
    #[must_use]
    pub fn last_id(&self) -> u64 {
        self.last_id.load(Ordering::Acquire)
    }

    /// Register a reactor's waker. The returned listener is woken (coalesced) on publish while
    /// its subscriber count is above zero.
    pub fn add_listener(&self, waker: Arc<mio::Waker>) -> Arc<Listener> {
        let listener = Arc::new(Listener { waker, subscribers: AtomicUsize::new(0), pending: AtomicBool::new(false) });
        self.listeners.write().push(Arc::clone(&listener));
        listener
    }

    /// Unregister a listener (a reactor that stops).
    pub fn remove_listener(&self, listener: &Arc<Listener>) {
        self.listeners.write().retain(|l| !Arc::ptr_eq(l, listener));
    }
}

/// Compact JSON of `v`. Writing a `Value` into a `Vec` cannot fail (string keys only, an
/// infallible writer); were it to, the payload is `null` rather than half a value.
fn write_value(out: &mut Vec<u8>, v: &serde_json::Value) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

/// Unix time in milliseconds (0 if the clock is before 1970).
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
