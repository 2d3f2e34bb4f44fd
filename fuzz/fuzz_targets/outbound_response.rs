//! Fuzz the outbound side's parsers of platform answers: every channel's response classifier
//! and Lark's token parser must never panic, never count a refusal as delivered, keep delays
//! and error texts bounded; and the reply splitter must keep every visible character, in
//! order, within the limit (see `talon_fuzz::check_outbound_response`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talon_fuzz::check_outbound_response(data));
