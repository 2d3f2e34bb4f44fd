//! Fuzz the upstream stream decoders: arbitrary bytes through the bounded SSE decoder and the
//! OpenAI or Anthropic chunk decoder must never panic, must not depend on how the bytes are
//! split, and must report events in the promised order within the promised bounds (see
//! `talon_fuzz::check_provider_stream`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talon_fuzz::check_provider_stream(data));
