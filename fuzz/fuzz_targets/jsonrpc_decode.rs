//! Fuzz the `/ws` JSON-RPC decoder (both dialects, batches of up to 50) on arbitrary bytes: it
//! must never panic, every call must obey its dialect's rules, and every reply encoded from a
//! call or rejection must be valid JSON echoing the id (see `talon_fuzz::check_jsonrpc`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talon_fuzz::check_jsonrpc(data));
