//! Lark / Feishu: a `tenant_access_token` from `app_id` + `app_secret`
//! (`POST {api_base}/auth/v3/tenant_access_token/internal`), cached by the sender until shortly
//! before it expires, then `POST {api_base}/im/v1/messages?receive_id_type=chat_id` (or
//! `/im/v1/messages/{message_id}/reply`) with `Authorization: Bearer <token>`, `msg_type: "text"`
//! and `content` = the JSON string `{"text": ...}`.
//!
//! Idempotency: every message carries `uuid`, derived from the outbox row; Lark sends a message
//! with a given uuid at most once within an hour, so a resend after a crash is absorbed.
//!
//! Classification: HTTP 2xx with `code: 0` is sent; HTTP 429, 5xx and code 99991400 (rate
//! limited) are retried; a token the platform refuses (99991661, 99991663, 99991664, 99991665,
//! 99991668) is retried with a fresh token; any other `code` is permanent with Lark's `msg`.

use std::time::Duration;

use serde_json::{Value, json};

use super::{OutRequest, OutResponse, Verdict, by_status, clip_error, json_body, raw_text, retry_after_header};

/// Lark's "too many requests" code.
const RATE_LIMITED: i64 = 99_991_400;
/// Codes meaning the tenant token is missing, invalid or expired.
const TOKEN_REJECTED: [i64; 5] = [99_991_661, 99_991_663, 99_991_664, 99_991_665, 99_991_668];

/// A token is used only until this long before its stated expiry (clock skew, request time).
pub const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// The token request (no secret leaves except in this body, to this URL).
#[must_use]
pub fn token_request(api_base: &str, app_id: &str, app_secret: &str) -> OutRequest {
    OutRequest {
        method: "POST",
        url: format!("{}/auth/v3/tenant_access_token/internal", api_base.trim_end_matches('/')),
        headers: Vec::new(),
        body: json!({ "app_id": app_id, "app_secret": app_secret }).to_string().into_bytes(),
    }
}

/// A fetched token and how long it may be used (its `expire` minus [`TOKEN_EXPIRY_MARGIN`]).
///
/// # Errors
/// The verdict for the message that needed it: retry on 429/5xx/rate limit, else failed with
/// Lark's `msg` (wrong app id or secret).
pub fn parse_token(response: &OutResponse<'_>) -> Result<(String, Duration), Verdict> {
    let v = json_body(response.body);
    let code = v.get("code").and_then(Value::as_i64);
    let token = v.get("tenant_access_token").and_then(Value::as_str).filter(|t| !t.is_empty());
    if let (true, Some(0), Some(token)) = ((200..300).contains(&response.status), code, token) {
        let expire = v.get("expire").and_then(Value::as_u64).unwrap_or(0);
        let usable = Duration::from_secs(expire).saturating_sub(TOKEN_EXPIRY_MARGIN);
        return Ok((token.to_owned(), usable));
    }
    let error = match v.get("msg").and_then(Value::as_str) {
        Some(m) => clip_error(&format!("lark token: HTTP {}: {m} (code {})", response.status, code.unwrap_or(-1))),
        None => format!("lark token: {}", raw_text(response.status, response.body)),
    };
    if code == Some(RATE_LIMITED) || (200..300).contains(&response.status) && code.is_none() {
        return Err(Verdict::Retry { after: retry_after_header(response.retry_after), error });
    }
    if (200..300).contains(&response.status) {
        // 2xx with an error code (wrong app id or secret): by status alone it would look sent.
        return Err(Verdict::Failed { error });
    }
    Err(by_status(response, error, None))
}

fn content(text: &str) -> String {
    json!({ "text": text }).to_string()
}

/// A new message in a chat.
#[must_use]
pub fn message_request(api_base: &str, tenant_token: &str, chat_id: &str, uuid: &str, text: &str) -> OutRequest {
    OutRequest {
        method: "POST",
        url: format!("{}/im/v1/messages?receive_id_type=chat_id", api_base.trim_end_matches('/')),
        headers: vec![("authorization", format!("Bearer {tenant_token}"))],
        body: json!({ "receive_id": chat_id, "msg_type": "text", "content": content(text), "uuid": uuid })
            .to_string()
            .into_bytes(),
    }
}

/// A reply to a message.
#[must_use]
pub fn reply_request(api_base: &str, tenant_token: &str, message_id: &str, uuid: &str, text: &str) -> OutRequest {
    OutRequest {
        method: "POST",
        url: format!("{}/im/v1/messages/{message_id}/reply", api_base.trim_end_matches('/')),
        headers: vec![("authorization", format!("Bearer {tenant_token}"))],
        body: json!({ "msg_type": "text", "content": content(text), "uuid": uuid }).to_string().into_bytes(),
    }
}

/// True when the response says the tenant token is no good (fetch a new one and retry).
#[must_use]
pub fn token_rejected(response: &OutResponse<'_>) -> bool {
    json_body(response.body).get("code").and_then(Value::as_i64).is_some_and(|c| TOKEN_REJECTED.contains(&c))
}

/// What the response means.
#[must_use]
pub fn classify(response: &OutResponse<'_>) -> Verdict {
    let v = json_body(response.body);
    let code = v.get("code").and_then(Value::as_i64);
    if (200..300).contains(&response.status) && code == Some(0) {
        return Verdict::Sent;
    }
    let error = match v.get("msg").and_then(Value::as_str) {
        Some(m) => clip_error(&format!("HTTP {}: {m} (code {})", response.status, code.unwrap_or(-1))),
        None => raw_text(response.status, response.body),
    };
    if code == Some(RATE_LIMITED) || code.is_some_and(|c| TOKEN_REJECTED.contains(&c)) {
        return Verdict::Retry { after: retry_after_header(response.retry_after), error };
    }
    if (200..300).contains(&response.status) {
        return if code.is_none() { Verdict::Retry { after: None, error } } else { Verdict::Failed { error } };
    }
    by_status(response, error, None)
}
