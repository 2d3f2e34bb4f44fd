//! The agent side of the gateway. Today it holds the provider layer ([`providers`]): the
//! clients that run one model turn against an upstream LLM (or the built-in offline one), the
//! streaming decoders they use, and the router that picks a model and falls back.
//!
//! Architecture invariant: nothing here runs on an I/O reactor thread. Every call blocks (an
//! upstream request, a body read, a backoff sleep) and belongs on an agent thread; the caller
//! hands in an abort handle and a deadline so it can always take the thread back.

pub mod providers;
