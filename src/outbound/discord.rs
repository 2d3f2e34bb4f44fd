//! Discord: an interaction follow-up (`POST {api_base}/webhooks/{application_id}/{token}`, no
//! bot token: the interaction token authorises it, for 15 minutes) or a channel message
//! (`POST {api_base}/channels/{channel_id}/messages`, `Authorization: Bot <bot_token>`), JSON
//! `content`. Mentions are not parsed (`allowed_mentions.parse = []`): a model's reply must not
//! ping `@everyone`.
//!
//! Classification: 2xx is sent; 429 (`retry_after` seconds in the body, or `Retry-After`) and
//! 5xx are retried; other 4xx are permanent with Discord's `message` (and `code`).

use serde_json::{Value, json};

use super::{OutRequest, OutResponse, Verdict, by_status, clip_error, json_body, raw_text};

fn body(text: &str) -> Vec<u8> {
    json!({ "content": text, "allowed_mentions": { "parse": [] } }).to_string().into_bytes()
}

/// An interaction follow-up message.
#[must_use]
pub fn followup_request(api_base: &str, application_id: &str, interaction_token: &str, text: &str) -> OutRequest {
    OutRequest {
        method: "POST",
        url: format!("{}/webhooks/{application_id}/{interaction_token}", api_base.trim_end_matches('/')),
        headers: Vec::new(),
        body: body(text),
    }
}

/// A message in a channel, as the bot.
#[must_use]
pub fn channel_request(api_base: &str, bot_token: &str, channel_id: &str, text: &str) -> OutRequest {
    OutRequest {
        method: "POST",
        url: format!("{}/channels/{channel_id}/messages", api_base.trim_end_matches('/')),
        headers: vec![("authorization", format!("Bot {bot_token}"))],
        body: body(text),
    }
}

/// What the response means.
#[must_use]
pub fn classify(response: &OutResponse<'_>) -> Verdict {
    if (200..300).contains(&response.status) {
        return Verdict::Sent;
    }
    let v = json_body(response.body);
    let error = match (v.get("message").and_then(Value::as_str), v.get("code").and_then(Value::as_i64)) {
        (Some(m), Some(c)) => clip_error(&format!("HTTP {}: {m} (code {c})", response.status)),
        (Some(m), None) => clip_error(&format!("HTTP {}: {m}", response.status)),
        _ => raw_text(response.status, response.body),
    };
    let after = v
        .get("retry_after")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| std::time::Duration::from_secs_f64(s.min(super::backoff::MAX_RETRY_AFTER.as_secs_f64())));
    by_status(response, error, after)
}
