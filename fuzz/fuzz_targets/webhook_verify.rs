//! Fuzz every webhook signature verifier with arbitrary header bytes, timestamps, ids and bodies:
//! none may panic, and any acceptance must be confirmed by an independent HMAC oracle (see
//! `talon_fuzz::check_webhook`), so a random or malformed signature is never accepted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    talon_fuzz::check_webhook(data);
});
