//! Fuzz the two parsers of `/v1/embeddings`: the client's request and an upstream's answer must
//! never panic, every accepted request must be within the named limits, and every accepted
//! answer must be one finite vector per input whose float and base64 forms carry the same bits
//! (see `talon_fuzz::check_embeddings`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talon_fuzz::check_embeddings(data));
