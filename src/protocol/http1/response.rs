//! Response encoding: status line, headers and body into a caller's byte buffer.
//!
//! Guarantees: every response carries an exact `Content-Length` (or none for 1xx, 204
//! and 304), a `Date`, and a `Connection` header that matches what the connection will
//! do next. HEAD responses carry the headers of the GET response and no body. Header
//! values given by handlers are written as-is, so handlers must not put CR or LF in
//! them; `push_header` drops any value that holds one rather than split the response.

use std::borrow::Cow;

/// A header value: usually a static string, so building a response allocates little.
pub type HeaderValue = Cow<'static, str>;

/// An owned response built by a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers (Content-Length, Date and Connection are added by the encoder).
    pub headers: Vec<(&'static str, HeaderValue)>,
    /// The body, sent unless the request was HEAD.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a body and a content type.
    #[must_use]
    pub fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Self { status, headers: vec![("Content-Type", Cow::Borrowed(content_type))], body }
    }

    /// A JSON response from an already serialised body.
    #[must_use]
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Self::new(status, "application/json", body)
    }

    /// A response without a body.
    #[must_use]
    pub fn empty(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Vec::new() }
    }

    /// Add a header; a value holding CR or LF is dropped so it can never split the response.
    pub fn push_header(&mut self, name: &'static str, value: impl Into<HeaderValue>) {
        let value = value.into();
        if !value.bytes().any(|b| b == b'\r' || b == b'\n') {
            self.headers.push((name, value));
        }
    }

    /// Builder form of [`Response::push_header`].
    #[must_use]
    pub fn with_header(mut self, name: &'static str, value: impl Into<HeaderValue>) -> Self {
        self.push_header(name, value);
        self
    }

    /// The first value of a header set on this response.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref())
    }
}

/// How the encoder should finish the response.
#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions<'a> {
    /// The request was HEAD: send headers only.
    pub head_only: bool,
    /// The connection stays open after this response.
    pub keep_alive: bool,
    /// The cached `Date` value (IMF-fixdate).
    pub date: &'a [u8],
}

/// The status line, `Date` and the response's own headers: what every encoded head starts with.
fn encode_status_and_headers(response: &Response, date: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_u64(out, u64::from(response.status));
    out.push(b' ');
    out.extend_from_slice(reason_phrase(response.status).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n");
    for (name, value) in &response.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// The `Connection` header that ends a final response's head.
fn connection_line(keep_alive: bool) -> &'static [u8] {
    if keep_alive { b"Connection: keep-alive\r\n\r\n" } else { b"Connection: close\r\n\r\n" }
}

/// Append the encoded response to `out`.
pub fn encode(response: &Response, opts: EncodeOptions<'_>, out: &mut Vec<u8>) {
    encode_status_and_headers(response, opts.date, out);
    let bodiless = response.status < 200 || response.status == 204 || response.status == 304;
    if !bodiless {
        out.extend_from_slice(b"Content-Length: ");
        push_u64(out, response.body.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    if response.status >= 200 {
        out.extend_from_slice(connection_line(opts.keep_alive));
    } else {
        out.extend_from_slice(b"\r\n");
    }
    if !opts.head_only && !bodiless {
        out.extend_from_slice(&response.body);
    }
}

/// Append the head of a response whose body follows in chunks (`Transfer-Encoding:
/// chunked`, no `Content-Length`): a stream whose length is not known when it starts.
/// `response.body` is not written; the caller appends [`encode_chunk`]s, then [`LAST_CHUNK`].
pub fn encode_chunked_head(response: &Response, opts: EncodeOptions<'_>, out: &mut Vec<u8>) {
    encode_status_and_headers(response, opts.date, out);
    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    out.extend_from_slice(connection_line(opts.keep_alive));
}

/// Append `data` as one chunk (`<hex length>\r\n<data>\r\n`). Empty data writes nothing: a
/// zero-length chunk would end the body.
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut digits = [0u8; 16];
    let mut n = data.len();
    let mut i = digits.len();
    while n > 0 && i > 0 {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b"0123456789abcdef".get(n % 16).copied().unwrap_or(b'0');
        }
        n /= 16;
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The zero-length chunk that ends a chunked body (no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The interim response sent before reading a body announced with `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Append `n` in decimal (no allocation, no formatter machinery).
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}

/// The standard reason phrase for a status code.
#[must_use]
pub const fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}
