//! Telegram Bot API `sendMessage`: `POST {api_base}/bot<token>/sendMessage` with `chat_id`,
//! `text` and `reply_to_message_id`.
//!
//! Classification: `ok: true` is sent; 429 (`parameters.retry_after` seconds) and 5xx are
//! retried; any other failure is permanent with Telegram's `description`.

use serde_json::{Value, json};

use super::{OutRequest, OutResponse, Verdict, by_status, clip_error, json_body, raw_text};

/// The request. `chat_id` is sent as a number when it is one (`@channel` names stay strings).
#[must_use]
pub fn request(api_base: &str, bot_token: &str, chat_id: &str, reply_to: Option<i64>, text: &str) -> OutRequest {
    let chat: Value = chat_id.parse::<i64>().map_or_else(|_| json!(chat_id), |n| json!(n));
    let mut body = json!({ "chat_id": chat, "text": text });
    if let Some(id) = reply_to {
        body["reply_to_message_id"] = json!(id);
        // A reply to a message deleted meanwhile still goes out, as a plain message.
        body["allow_sending_without_reply"] = json!(true);
    }
    OutRequest {
        method: "POST",
        url: format!("{}/bot{bot_token}/sendMessage", api_base.trim_end_matches('/')),
        headers: Vec::new(),
        body: body.to_string().into_bytes(),
    }
}

/// What the response means.
#[must_use]
pub fn classify(response: &OutResponse<'_>) -> Verdict {
    let v = json_body(response.body);
    if (200..300).contains(&response.status) && v.get("ok").and_then(Value::as_bool) == Some(true) {
        return Verdict::Sent;
    }
    let error = v.get("description").and_then(Value::as_str).map_or_else(
        || raw_text(response.status, response.body),
        |d| clip_error(&format!("HTTP {}: {d}", response.status)),
    );
    let after = v
        .pointer("/parameters/retry_after")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| std::time::Duration::from_secs_f64(s.min(super::backoff::MAX_RETRY_AFTER.as_secs_f64())));
    if (200..300).contains(&response.status) {
        // 2xx without `ok: true` is not what the API returns; never count it as delivered.
        return Verdict::Retry { after, error };
    }
    by_status(response, error, after)
}
