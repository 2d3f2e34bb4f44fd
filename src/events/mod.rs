//! Typed events: the catalogue of names, the process-wide bus with its global id sequence,
//! and the bounded replay ring.
//!
//! Guarantees: only catalogue names are published ([`kind`]); each event is encoded once into
//! its SSE and activity forms ([`Encoded`]) and shared by `Arc`; ids are one contiguous
//! sequence from 1; the ring is bounded by count (`gateway.sse.ring_events`) and bytes
//! ([`ring::MAX_RING_BYTES`]); reactors are woken at most once per burst ([`bus::Listener`]).
//! Filtering by scope is the subscriber's job: compare [`Encoded::scope`] with the token's
//! scope set before writing an event.

pub mod bus;
pub mod encoded;
pub mod kind;
pub mod ring;

#[cfg(test)]
mod tests;

pub use bus::{EventBus, Listener, UnknownEvent};
pub use encoded::Encoded;
pub use kind::{CATALOGUE, Category, EventKind};
pub use ring::{Ring, Since};
