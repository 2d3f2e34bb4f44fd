//! Fuzz every channel's webhook body classification and normalization with arbitrary bytes and
//! content types: neither may panic, and they must agree with each other (see
//! `talon_fuzz::check_webhook_body`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    talon_fuzz::check_webhook_body(data);
});
