//! Protocol machines, sans-IO: bytes and time in, events and bytes out.
//!
//! Architecture invariant: nothing under `src/protocol/` uses mio, sockets, threads or the
//! system clock. The reactor is the only I/O layer.

pub mod http1;
pub mod jsonrpc;
pub mod sse;
pub mod sse_decode;
pub mod websocket;
