//! Fuzz the chunked and Content-Length body decoders: they must never panic, and decoding the
//! input whole, split at a data-derived point, and one byte at a time must never disagree on the
//! result, the bytes consumed or the decoded output (see `talon_fuzz::check_chunked`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talon_fuzz::check_chunked(data));
