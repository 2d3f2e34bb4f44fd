//! The `chat_request` check: every parser that turns a client's bytes into an agent turn, on
//! arbitrary input: `POST /v1/chat/completions` (`openai::parse_completion`), `POST
//! /v1/responses` (`responses::parse`), `POST /api/chat` (`chat::parse_chat`, body and query),
//! `GET /api/chat/stream` (`turn_format::parse_stream_query`) and a `/api/chat/live` message
//! (`chat_live::parse`). Properties: no panic; the same answer twice; a refusal is a 4xx with a
//! message (a live-chat refusal is a `chat_error` frame); an accepted request either passes
//! `ChatRequest::validate` within the runtime's limits or is refused by it with a 4xx.

use serde_json::Value;
use talon::agent::ChatRequest;
use talon::agent::turn_types::{MAX_MESSAGE_BYTES, MAX_SESSION_KEY_BYTES};
use talon::error::GatewayError;
use talon::http::openai::MAX_MESSAGES;
use talon::http::{chat, chat_live, openai, responses, turn_format};

/// `[selector][input…]`: selector % 5 picks the parser (0 completions, 1 responses, 2 REST chat
/// with the input as body, 3 the stream query, 4 a live-chat message). For 2 the input is split
/// at its first 0x00: body before, query after.
pub fn check_chat_request(data: &[u8]) {
    let selector = data.first().copied().unwrap_or(0);
    let input = data.get(1..).unwrap_or_default();
    match selector % 5 {
        0 => {
            let parsed = openai::parse_completion(input).map(|c| (stateless(c.request), c.stream));
            let again = openai::parse_completion(input).map(|c| (stateless(c.request), c.stream));
            assert_eq!(parsed, again, "parse_completion is not deterministic");
            if let Ok((request, _)) = parsed {
                assert!(request.history.as_ref().is_some_and(|h| h.len() < MAX_MESSAGES), "history past the bound");
                accepted(request);
            } else if let Err(e) = parsed {
                refused(&e);
            }
        }
        1 => {
            let parsed = responses::parse(input).map(|r| (stateless(r.request), r.stream));
            let again = responses::parse(input).map(|r| (stateless(r.request), r.stream));
            assert_eq!(parsed, again, "responses::parse is not deterministic");
            match parsed {
                Ok((request, _)) => accepted(request),
                Err(e) => refused(&e),
            }
        }
        2 => {
            let split = input.iter().position(|&b| b == 0).unwrap_or(input.len());
            let (body, query) = input.split_at(split);
            let query = String::from_utf8_lossy(query.get(1..).unwrap_or_default()).into_owned();
            let parsed = chat::parse_chat(body, &query);
            assert_eq!(parsed, chat::parse_chat(body, &query), "parse_chat is not deterministic");
            match parsed {
                Ok(request) => accepted(request),
                Err(e) => refused(&e),
            }
        }
        3 => {
            let query = String::from_utf8_lossy(input);
            let parsed = turn_format::parse_stream_query(&query);
            assert_eq!(parsed, turn_format::parse_stream_query(&query), "parse_stream_query differs");
            match parsed {
                Ok(request) => {
                    assert!(!request.message.trim().is_empty(), "an empty message accepted");
                    accepted(request);
                }
                Err(e) => refused(&e),
            }
        }
        _ => {
            let text = String::from_utf8_lossy(input);
            match chat_live::parse(&text) {
                Ok(request) => accepted(request),
                Err(frame) => {
                    let v: Value = serde_json::from_slice(&frame).expect("a chat_error frame is JSON");
                    assert_eq!((v["ok"].as_bool(), v["type"].as_str()), (Some(false), Some("chat_error")), "{v}");
                    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
                }
            }
        }
    }
}

/// A stateless OpenAI-API request without `user` gets a fresh session of its own each time
/// (`openai-<id>`): equal up to that key, which is replaced by one fixed `openai-` key.
fn stateless(mut request: ChatRequest) -> ChatRequest {
    if request.session_key.starts_with("openai-") {
        "openai-*".clone_into(&mut request.session_key);
    } else {
        assert!(request.session_key.starts_with("openai:"), "session {:?}", request.session_key);
    }
    request
}

fn refused(e: &GatewayError) {
    let status = e.http_status();
    assert!((400..500).contains(&status), "a parser refusal with status {status}: {e:?}");
    assert!(!e.message().is_empty(), "a refusal without a message");
}

/// What the runtime's own check says of an accepted request.
fn accepted(mut request: ChatRequest) {
    match request.validate() {
        Ok(()) => {
            assert!(!request.session_key.is_empty() && request.session_key.len() <= MAX_SESSION_KEY_BYTES);
            assert!(!request.message.trim().is_empty() && request.message.len() <= MAX_MESSAGE_BYTES);
            assert!(request.sampling.temperature.is_none_or(|t| (0.0..=2.0).contains(&t)));
            assert!(request.sampling.max_tokens != Some(0));
        }
        Err(e) => refused(&e),
    }
}
