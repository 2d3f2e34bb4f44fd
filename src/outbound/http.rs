//! The one place the outbound side does network I/O: one `ureq` agent per sender thread
//! (rustls with ring, connections reused), a request out, status + `Retry-After` + a bounded
//! body back.
//!
//! Guarantees: every call ends within `request_timeout` (ureq's global timeout) whatever the
//! platform does; no redirect is followed (a send API that redirects is misconfigured, and a
//! redirect must not carry the token elsewhere); at most [`MAX_RESPONSE_BYTES`] of a body are
//! read; HTTP error statuses come back as responses for the classifiers, not as errors.

use std::io::Read;
use std::time::Duration;

use super::{MAX_RESPONSE_BYTES, OutRequest};

/// Sent as `User-Agent`.
const USER_AGENT: &str = concat!("talon/", env!("CARGO_PKG_VERSION"));

/// A platform's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status.
    pub status: u16,
    /// `Retry-After`.
    pub retry_after: Option<String>,
    /// Body, at most [`MAX_RESPONSE_BYTES`].
    pub body: Vec<u8>,
}

/// The sender's HTTP client.
pub struct Client {
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client")
    }
}

impl Client {
    /// A client with these timeouts.
    #[must_use]
    pub fn new(connect_timeout: Duration, request_timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(USER_AGENT)
            .timeout_global(Some(request_timeout))
            .timeout_connect(Some(connect_timeout))
            .build();
        Self { agent: config.into() }
    }

    /// Send `request`.
    ///
    /// # Errors
    /// The request did not get a response (connect, TLS, timeout, reset): the text says which,
    /// possibly with the URL, so the caller scrubs it before keeping it.
    pub fn send(&self, request: &OutRequest) -> Result<Answer, String> {
        let mut builder = self.agent.post(&request.url).header("content-type", "application/json; charset=utf-8");
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        let mut response = builder.send(&request.body[..]).map_err(|e| format!("request failed: {e}"))?;
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = Vec::new();
        // A body cut short still leaves a status to classify; the read error is not the verdict.
        let _ = response.body_mut().as_reader().take(MAX_RESPONSE_BYTES).read_to_end(&mut body);
        Ok(Answer { status, retry_after, body })
    }
}
