//! Fuzz the SSE encoder against a WHATWG parser: arbitrary (id, event name, data) must encode to
//! exactly one event that parses back with the same id, the data with line breaks normalised to
//! `\n`, and a name without CR, LF or NUL (see `talon_fuzz::check_sse_encode`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talon_fuzz::check_sse_encode(data));
