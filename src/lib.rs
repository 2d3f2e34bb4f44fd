//! Talon: one process that terminates HTTP/1.1 for a personal AI agent gateway.
//!
//! Start at `docs/ARCHITECTURE.md` for the map. In short: [`server`] starts one
//! [`reactor`] per I/O thread; each owns its connections ([`conn`]), which parse requests
//! with the sans-IO machines of [`protocol`], admit them through [`http`] and [`auth`], and
//! answer inline or through the [`workers`] pool. [`error`] is the one place an error
//! becomes a status code.

#![forbid(unsafe_code)]

pub mod agent;
pub mod app;
pub mod auth;
pub mod channel_turns;
pub mod cli;
pub mod config;
pub mod conn;
pub mod embed;
pub mod error;
pub mod events;
pub mod http;
pub mod log;
pub mod logtail;
pub mod metrics;
pub mod openclaw;
pub mod outbound;
pub mod protocol;
pub mod reactor;
pub mod rpc;
pub mod server;
pub mod store;
pub mod webhook;
pub mod workers;
