//! LINE Messaging API: `reply` (`POST {api_base}/v2/bot/message/reply`, `replyToken`) when the
//! event's reply token is known, else `push` (`POST {api_base}/v2/bot/message/push`, `to`);
//! `Authorization: Bearer <channel_access_token>`; up to
//! [`LINE_MAX_MESSAGES_PER_REQUEST`](super::split::LINE_MAX_MESSAGES_PER_REQUEST) text messages.
//!
//! Idempotency: a push carries `X-Line-Retry-Key`, a UUID derived from the outbox row, so a
//! resend after a crash (or a lost response) is recognised by LINE: it answers 409 with the
//! original request id, which counts as sent. A reply token can only be used once, which is its
//! own guard: a replayed reply fails with "Invalid reply token" instead of posting twice.
//!
//! Classification: 2xx is sent; 409 on a push with a retry key is sent (already accepted); 429
//! and 5xx are retried; other 4xx are permanent with LINE's `message` and first detail.

use serde_json::{Value, json};

use super::split::{LINE_MAX_MESSAGES_PER_REQUEST, LINE_MAX_TEXT, Limit, split};
use super::{OutRequest, OutResponse, Verdict, by_status, clip_error, json_body, raw_text};

fn messages(text: &str) -> Value {
    let parts = split(text, Limit::Utf16(LINE_MAX_TEXT));
    // The enqueue side never makes a row longer than one request carries; a stored row that is
    // (hand-edited, another version) loses nothing silently: the rest goes in the last message
    // and LINE refuses it with a clear error.
    let last = LINE_MAX_MESSAGES_PER_REQUEST - 1;
    let mut out: Vec<Value> = parts.iter().take(last).map(|p| json!({ "type": "text", "text": p })).collect();
    if let Some(tail) = parts.get(last) {
        // The last message runs from where its part starts to the end of the text.
        let offset = (tail.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        out.push(json!({ "type": "text", "text": text.get(offset..).unwrap_or(tail) }));
    }
    Value::Array(out)
}

/// A reply with the event's reply token.
#[must_use]
pub fn reply_request(api_base: &str, access_token: &str, reply_token: &str, text: &str) -> OutRequest {
    OutRequest {
        method: "POST",
        url: format!("{}/v2/bot/message/reply", api_base.trim_end_matches('/')),
        headers: vec![("authorization", format!("Bearer {access_token}"))],
        body: json!({ "replyToken": reply_token, "messages": messages(text) }).to_string().into_bytes(),
    }
}

/// A push to a user, group or room, with the row's retry key.
#[must_use]
pub fn push_request(api_base: &str, access_token: &str, to: &str, retry_key: &str, text: &str) -> OutRequest {
    OutRequest {
        method: "POST",
        url: format!("{}/v2/bot/message/push", api_base.trim_end_matches('/')),
        headers: vec![("authorization", format!("Bearer {access_token}")), ("x-line-retry-key", retry_key.to_owned())],
        body: json!({ "to": to, "messages": messages(text) }).to_string().into_bytes(),
    }
}

/// What the response means; `push` says whether the request carried a retry key.
#[must_use]
pub fn classify(response: &OutResponse<'_>, push: bool) -> Verdict {
    if (200..300).contains(&response.status) || (push && response.status == 409) {
        return Verdict::Sent;
    }
    let v = json_body(response.body);
    let error = match v.get("message").and_then(Value::as_str) {
        Some(m) => {
            let detail = v.pointer("/details/0/message").and_then(Value::as_str);
            let text = match detail {
                Some(d) => format!("HTTP {}: {m}: {d}", response.status),
                None => format!("HTTP {}: {m}", response.status),
            };
            clip_error(&text)
        }
        None => raw_text(response.status, response.body),
    };
    by_status(response, error, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_five_messages_and_nothing_lost() {
        let text = "x".repeat(7 * LINE_MAX_TEXT);
        let v = messages(&text);
        let list = v.as_array().expect("array");
        assert_eq!(list.len(), LINE_MAX_MESSAGES_PER_REQUEST);
        let lens: Vec<usize> = list.iter().filter_map(|m| m["text"].as_str().map(str::len)).collect();
        // The over-long last one carries the rest (LINE refuses it with a clear error).
        assert_eq!(lens, vec![LINE_MAX_TEXT, LINE_MAX_TEXT, LINE_MAX_TEXT, LINE_MAX_TEXT, 3 * LINE_MAX_TEXT]);
        assert_eq!(messages("hi"), serde_json::json!([{ "type": "text", "text": "hi" }]));
    }
}
