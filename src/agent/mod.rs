//! The agent side of the gateway: the provider layer ([`providers`]: the clients that run one
//! model turn against an upstream LLM or the built-in offline one, and the router that picks a
//! model and falls back) and the runtime ([`runtime`]: agent threads, sessions, turns).
//!
//! - [`runtime::Runtime`]: submit, per-session ordering, abort, idempotency, shutdown.
//! - [`turn`]: one turn on an agent thread, from stored history to the stored end.
//! - [`turn_types`]: the request, the events a caller's sink receives, limits, cost.
//! - [`chat_events`]: a turn's `chat` events on the bus, in OpenClaw's and Human's shapes.
//! - [`tools`]: the built-in tools, their registry and the approval table; [`tool_round`]:
//!   one round of the model's tool calls inside a turn.
//!
//! Architecture invariant: nothing here runs on an I/O reactor thread. Every call blocks (an
//! upstream request, a body read, a backoff sleep, a store commit) and belongs on an agent
//! thread; the caller hands in an abort handle and a deadline so it can always take the
//! thread back. [`runtime::Runtime::submit`] itself never waits for a turn.

pub mod chat_events;
pub mod providers;
pub mod runtime;
mod tool_round;
pub mod tools;
mod turn;
pub mod turn_types;

#[cfg(test)]
mod tests;

pub use runtime::{Aborted, Runtime};
pub use turn_types::{ChatRequest, Sampling, Submitted, TurnEvent, TurnResult, TurnSink, no_sink};
