//! Slack Web API `chat.postMessage`: `POST {api_base}/chat.postMessage`, `Authorization: Bearer
//! <bot_token>`, JSON `channel`, `text`, `thread_ts`.
//!
//! Classification: Slack answers 200 with `ok: false` for most errors. `ok: true` is sent;
//! HTTP 429 or `error: "ratelimited"` (with `Retry-After`), 5xx and Slack's transient errors
//! (`internal_error`, `fatal_error`, `service_unavailable`, `request_timeout`) are retried;
//! every other `error` (`channel_not_found`, `invalid_auth`, `not_in_channel`, ...) is permanent.

use serde_json::{Value, json};

use super::{OutRequest, OutResponse, Verdict, by_status, json_body, raw_text, retry_after_header};

/// Slack errors that are worth another attempt.
const TRANSIENT_ERRORS: [&str; 5] =
    ["ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"];

/// The request.
#[must_use]
pub fn request(api_base: &str, bot_token: &str, channel: &str, thread_ts: Option<&str>, text: &str) -> OutRequest {
    let mut body = json!({ "channel": channel, "text": text });
    if let Some(ts) = thread_ts {
        body["thread_ts"] = json!(ts);
    }
    OutRequest {
        method: "POST",
        url: format!("{}/chat.postMessage", api_base.trim_end_matches('/')),
        headers: vec![("authorization", format!("Bearer {bot_token}"))],
        body: body.to_string().into_bytes(),
    }
}

/// What the response means.
#[must_use]
pub fn classify(response: &OutResponse<'_>) -> Verdict {
    let v = json_body(response.body);
    let ok = v.get("ok").and_then(Value::as_bool);
    if (200..300).contains(&response.status) && ok == Some(true) {
        return Verdict::Sent;
    }
    let Some(code) = v.get("error").and_then(Value::as_str) else {
        let error = raw_text(response.status, response.body);
        if (200..300).contains(&response.status) {
            return Verdict::Retry { after: None, error };
        }
        return by_status(response, error, None);
    };
    let error = format!("slack: {code}");
    if response.status == 429 || TRANSIENT_ERRORS.contains(&code) || response.status >= 500 {
        return Verdict::Retry { after: retry_after_header(response.retry_after), error };
    }
    Verdict::Failed { error }
}
