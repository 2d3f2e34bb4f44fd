//! Fuzz `parse_head` on arbitrary bytes: it must never panic, never claim more bytes than it was
//! given, never ask for more bytes past `max_header_bytes`, and must agree with itself on a
//! prefix and under tighter limits (see `talon_fuzz::check_head`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talon_fuzz::check_head(data));
