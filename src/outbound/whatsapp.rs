//! WhatsApp Cloud API: `POST {api_base}/{phone_number_id}/messages`, `Authorization: Bearer
//! <access_token>`, JSON `messaging_product: "whatsapp"`, `to`, `type: "text"`, `text.body`,
//! and `context.message_id` when replying.
//!
//! Classification: 2xx is sent; 429, 5xx and the Graph throttling codes (4, 80007, 130429,
//! 131048, 131056) are retried; other errors are permanent with the Graph `error.message`.

use serde_json::{Value, json};

use super::{OutRequest, OutResponse, Verdict, by_status, clip_error, json_body, raw_text, retry_after_header};

/// Graph / WhatsApp error codes that mean "slow down" whatever the HTTP status.
const THROTTLING_CODES: [i64; 5] = [4, 80_007, 130_429, 131_048, 131_056];

/// The request.
#[must_use]
pub fn request(
    api_base: &str,
    access_token: &str,
    phone_number_id: &str,
    to: &str,
    reply_to: Option<&str>,
    text: &str,
) -> OutRequest {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": { "body": text, "preview_url": false },
    });
    if let Some(id) = reply_to {
        body["context"] = json!({ "message_id": id });
    }
    OutRequest {
        method: "POST",
        url: format!("{}/{phone_number_id}/messages", api_base.trim_end_matches('/')),
        headers: vec![("authorization", format!("Bearer {access_token}"))],
        body: body.to_string().into_bytes(),
    }
}

/// What the response means.
#[must_use]
pub fn classify(response: &OutResponse<'_>) -> Verdict {
    if (200..300).contains(&response.status) {
        return Verdict::Sent;
    }
    let v = json_body(response.body);
    let code = v.pointer("/error/code").and_then(Value::as_i64);
    let error = match v.pointer("/error/message").and_then(Value::as_str) {
        Some(m) => clip_error(&format!("HTTP {}: {m} (code {})", response.status, code.unwrap_or(0))),
        None => raw_text(response.status, response.body),
    };
    if code.is_some_and(|c| THROTTLING_CODES.contains(&c)) {
        return Verdict::Retry { after: retry_after_header(response.retry_after), error };
    }
    by_status(response, error, None)
}
