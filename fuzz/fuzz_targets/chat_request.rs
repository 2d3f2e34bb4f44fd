//! Fuzz every parser that turns a client's bytes into an agent turn (OpenAI chat completions,
//! the Responses API, `POST /api/chat`, the `/api/chat/stream` query, a `/api/chat/live`
//! message): no panic, deterministic, refusals are 4xx with a message, accepted requests are
//! within the runtime's limits (see `talon_fuzz::check_chat_request`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talon_fuzz::check_chat_request(data));
