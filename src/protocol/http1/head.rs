//! Request head parsing: httparse tokenises, this file applies RFC 9112 framing rules.
//!
//! Guarantees: `parse_head` is a pure function of its input bytes and limits; it never
//! panics, never reads past the head, and either returns a fully validated
//! [`RequestHead`] whose body framing is unambiguous, asks for more bytes, or names the
//! first rule the request broke. The strictest answer of the policy table in
//! `shared/reference/testing.md` §2b is applied in every row: CL+TE, duplicate CL, bare LF,
//! obs-fold, whitespace before a colon, missing or duplicate Host, TE on 1.0 and
//! `chunked` not final are all errors.

use std::mem::MaybeUninit;
use std::ops::Range;

use super::error::ParseError;

/// How many header slots live on the stack (32 bytes each) before the parser falls back to
/// the heap; covers the default `max_headers` so the common case never allocates slots.
const STACK_HEADERS: usize = 128;

/// Size limits applied while the head is parsed.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Longest request line accepted; longer ones are answered 414.
    pub max_request_line_bytes: usize,
    /// Longest head (request line + fields + blank line); longer ones are answered 431.
    pub max_header_bytes: usize,
    /// Most header fields accepted; more are answered 431.
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        Self { max_request_line_bytes: 8192, max_header_bytes: 32768, max_headers: 100 }
    }
}

/// Request methods the gateway routes on; anything else is kept as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH
    Patch,
    /// OPTIONS
    Options,
    /// TRACE
    Trace,
    /// Any other valid token; the text is available from [`RequestHead::method_str`].
    Other,
}

impl Method {
    fn from_token(token: &str) -> Self {
        match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            "PATCH" => Self::Patch,
            "OPTIONS" => Self::Options,
            "TRACE" => Self::Trace,
            _ => Self::Other,
        }
    }

    /// The method as it appears on the wire (for `Other`, use `RequestHead::method_str`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Patch => "PATCH",
            Self::Options => "OPTIONS",
            Self::Trace => "TRACE",
            Self::Other => "OTHER",
        }
    }
}

/// The two protocol versions we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: no chunked requests, keep-alive only when asked for.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (no Content-Length, no Transfer-Encoding, or `Content-Length: 0`).
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// A chunked body follows the head.
    Chunked,
}

/// A validated request head. Owns one copy of the head bytes; fields are ranges into it.
#[derive(Debug, Clone)]
pub struct RequestHead {
    raw: Box<[u8]>,
    method_range: Range<usize>,
    target_range: Range<usize>,
    headers: Vec<(Range<usize>, Range<usize>)>,
    /// The parsed method.
    pub method: Method,
    /// The protocol version.
    pub version: Version,
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// The client sent `Expect: 100-continue` (HTTP/1.1 only) and waits before the body.
    pub expect_continue: bool,
    /// The client asked for a protocol upgrade (`Connection: upgrade` + `Upgrade`).
    pub upgrade: bool,
}

impl RequestHead {
    /// The method token as sent.
    #[must_use]
    pub fn method_str(&self) -> &str {
        std::str::from_utf8(self.raw.get(self.method_range.clone()).unwrap_or_default()).unwrap_or_default()
    }

    /// The request target as sent (origin-form, absolute-form or `*`).
    #[must_use]
    pub fn target(&self) -> &str {
        std::str::from_utf8(self.raw.get(self.target_range.clone()).unwrap_or_default()).unwrap_or_default()
    }

    /// The path of the target without the query; for absolute-form, the path after the authority.
    #[must_use]
    pub fn path(&self) -> &str {
        let target = self.target();
        let origin = origin_form(target);
        match origin.find('?') {
            Some(q) => origin.get(..q).unwrap_or(origin),
            None => origin,
        }
    }

    /// The query string after `?`, if any.
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        let origin = origin_form(self.target());
        origin.find('?').and_then(|q| origin.get(q + 1..))
    }

    /// The first header with this name (ASCII case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The first header with this name as text, if it is valid UTF-8.
    #[must_use]
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// All header fields in order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(n, v)| {
            let name = self.raw.get(n.clone()).unwrap_or_default();
            (std::str::from_utf8(name).unwrap_or_default(), self.raw.get(v.clone()).unwrap_or_default())
        })
    }

    /// Number of header fields.
    #[must_use]
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }
}

/// Strip `scheme://authority` from an absolute-form target (the target wins over Host).
fn origin_form(target: &str) -> &str {
    let Some(rest) = strip_scheme(target) else { return target };
    match rest.find(['/', '?']) {
        Some(i) => rest.get(i..).unwrap_or("/"),
        None => "/",
    }
}

fn strip_scheme(target: &str) -> Option<&str> {
    let bytes = target.as_bytes();
    for scheme in ["http://", "https://"] {
        if bytes.len() >= scheme.len()
            && bytes.get(..scheme.len()).is_some_and(|p| p.eq_ignore_ascii_case(scheme.as_bytes()))
        {
            return target.get(scheme.len()..);
        }
    }
    None
}

/// Parse and validate one request head at the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, or the head and the number of bytes it
/// used. Leading empty lines before the request line are skipped, as RFC 9112 §2.2 allows.
///
/// # Errors
/// The first framing rule the head breaks; see [`ParseError`].
pub fn parse_head(buf: &[u8], limits: &HeadLimits) -> Result<Option<(RequestHead, usize)>, ParseError> {
    check_request_line_length(buf, limits)?;
    // Uninitialised slots: httparse writes the ones it uses, so the stack array costs no
    // 4 KiB memset per request.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut heap;
    let slots: &mut [MaybeUninit<httparse::Header<'_>>] = if limits.max_headers <= STACK_HEADERS {
        stack.get_mut(..limits.max_headers).unwrap_or_default()
    } else {
        heap = (0..limits.max_headers).map(|_| MaybeUninit::uninit()).collect::<Vec<_>>();
        &mut heap
    };
    let mut req = httparse::Request::new(&mut []);
    let used = match req.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_header_bytes {
                return Err(ParseError::HeadersTooLarge);
            }
            return Ok(None);
        }
        Err(e) => return Err(map_httparse_error(e, buf)),
    };
    if used > limits.max_header_bytes {
        return Err(ParseError::HeadersTooLarge);
    }
    let head_bytes = buf.get(..used).unwrap_or_default();
    if has_bare_lf(head_bytes) {
        return Err(ParseError::BareLineFeed);
    }
    let version = match req.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(ParseError::UnsupportedVersion),
    };
    let method_token = req.method.ok_or(ParseError::BadRequestLine)?;
    let target = req.path.ok_or(ParseError::BadRequestLine)?;
    let method = Method::from_token(method_token);
    if method_token == "CONNECT" {
        return Err(ParseError::ConnectNotSupported);
    }
    check_target(method, target)?;

    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| -> Range<usize> {
        let start = (s.as_ptr() as usize).saturating_sub(base);
        start..start.saturating_add(s.len())
    };
    let mut fields = Fields::default();
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        fields.observe(h.name, h.value, version)?;
        headers.push((offset(h.name.as_bytes()), offset(h.value)));
    }
    let method_range = offset(method_token.as_bytes());
    let target_range = offset(target.as_bytes());
    let framing = fields.framing(version)?;
    let keep_alive = match version {
        Version::Http11 => !fields.conn_close,
        Version::Http10 => fields.conn_keep_alive && !fields.conn_close,
    };
    let head = RequestHead {
        raw: head_bytes.into(),
        method_range,
        target_range,
        headers,
        method,
        version,
        framing,
        keep_alive,
        expect_continue: fields.expect_continue,
        upgrade: fields.conn_upgrade && fields.has_upgrade,
    };
    Ok(Some((head, used)))
}

/// 414 as soon as the first line is provably over the limit, even before the head completes.
fn check_request_line_length(buf: &[u8], limits: &HeadLimits) -> Result<(), ParseError> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let rest = buf.get(start..).unwrap_or_default();
    let window = rest.get(..limits.max_request_line_bytes.saturating_add(2)).unwrap_or(rest);
    match window.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let line_len = if end > 0 && window.get(end - 1) == Some(&b'\r') { end - 1 } else { end };
            if line_len > limits.max_request_line_bytes {
                return Err(ParseError::RequestLineTooLong);
            }
        }
        None if rest.len() > limits.max_request_line_bytes.saturating_add(1) => {
            return Err(ParseError::RequestLineTooLong);
        }
        None => {}
    }
    Ok(())
}

/// True when any LF in the head is not preceded by CR (httparse accepts those).
///
/// Eight bytes at a time: a word without an LF byte is skipped with a few ALU operations
/// (the classic "has zero byte" test on `word ^ 0x0a0a…`), so the scan costs little next
/// to httparse itself.
fn has_bare_lf(head: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const LFS: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let bare_at = |at: usize| head.get(at) == Some(&b'\n') && (at == 0 || head.get(at - 1) != Some(&b'\r'));
    let chunks = head.chunks_exact(8);
    let tail_start = head.len() - chunks.remainder().len();
    for (i, chunk) in chunks.enumerate() {
        let word: [u8; 8] = chunk.try_into().unwrap_or_default();
        let x = u64::from_ne_bytes(word) ^ LFS;
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 && (i * 8..i * 8 + 8).any(bare_at) {
            return true;
        }
    }
    (tail_start..head.len()).any(bare_at)
}

fn map_httparse_error(e: httparse::Error, buf: &[u8]) -> ParseError {
    match e {
        httparse::Error::HeaderName => ParseError::InvalidHeaderName,
        httparse::Error::HeaderValue => ParseError::InvalidHeaderValue,
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        httparse::Error::NewLine => ParseError::BareLineFeed,
        httparse::Error::Version if names_other_http_version(buf) => ParseError::UnsupportedVersion,
        _ => ParseError::BadRequestLine,
    }
}

/// `HTTP/x.y` with digits in the request line: a real version we do not speak (505),
/// as opposed to garbage or HTTP/0.9's missing version (400).
fn names_other_http_version(buf: &[u8]) -> bool {
    let line_end = buf.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(buf.len());
    let line = buf.get(..line_end).unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (Some(_method), Some(_target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] => major.is_ascii_digit() && minor.is_ascii_digit(),
        _ => false,
    }
}

fn check_target(method: Method, target: &str) -> Result<(), ParseError> {
    if target.contains('#') {
        return Err(ParseError::BadRequestTarget);
    }
    if target.starts_with('/') {
        return Ok(());
    }
    if target == "*" {
        return if method == Method::Options { Ok(()) } else { Err(ParseError::BadRequestTarget) };
    }
    match strip_scheme(target) {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
        _ => Err(ParseError::BadRequestTarget),
    }
}

/// What the framing-relevant header fields said, gathered in one pass.
#[derive(Default)]
struct Fields {
    hosts: u32,
    content_length: Option<u64>,
    content_length_count: u32,
    te_seen: bool,
    te_chunked_final: bool,
    te_error: Option<ParseError>,
    conn_close: bool,
    conn_keep_alive: bool,
    conn_upgrade: bool,
    has_upgrade: bool,
    expect_continue: bool,
}

impl Fields {
    fn observe(&mut self, name: &str, value: &[u8], version: Version) -> Result<(), ParseError> {
        // httparse has already refused empty names and control bytes (other than HTAB) in
        // values; the policy tests pin that, so it is not scanned again here. The length
        // test lets most fields skip every name comparison below.
        if !matches!(name.len(), 4 | 6 | 7 | 10 | 14 | 17) {
            return Ok(());
        }
        if name.eq_ignore_ascii_case("host") {
            self.hosts += 1;
            if self.hosts > 1 {
                return Err(ParseError::DuplicateHost);
            }
            if !value.iter().all(|&b| is_authority_byte(b)) {
                return Err(ParseError::InvalidHost);
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            self.content_length_count += 1;
            if self.content_length_count > 1 {
                return Err(ParseError::DuplicateContentLength);
            }
            self.content_length = Some(parse_content_length(value)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if version == Version::Http10 {
                return Err(ParseError::TransferEncodingOnHttp10);
            }
            self.observe_transfer_encoding(value);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in list_items(value) {
                if token.eq_ignore_ascii_case(b"close") {
                    self.conn_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    self.conn_keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    self.conn_upgrade = true;
                }
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            self.has_upgrade = true;
        } else if name.eq_ignore_ascii_case("expect") && version == Version::Http11 {
            // RFC 9110 §10.1.1: a server MUST ignore 100-continue from an HTTP/1.0 client.
            if trim_ows(value).eq_ignore_ascii_case(b"100-continue") {
                self.expect_continue = true;
            } else {
                return Err(ParseError::UnsupportedExpectation);
            }
        }
        Ok(())
    }

    /// Transfer-Encoding may span several fields; codings accumulate in order.
    fn observe_transfer_encoding(&mut self, value: &[u8]) {
        for coding in value.split(|&b| b == b',') {
            let coding = trim_ows(coding);
            if self.te_chunked_final {
                // Anything after chunked (including a second chunked) breaks framing.
                self.te_error = Some(ParseError::ChunkedNotFinal);
            }
            if coding.is_empty() {
                self.te_error.get_or_insert(ParseError::ChunkedNotFinal);
                continue;
            }
            if coding.eq_ignore_ascii_case(b"chunked") {
                self.te_chunked_final = true;
            } else {
                self.te_chunked_final = false;
                self.te_error.get_or_insert(ParseError::UnsupportedTransferCoding);
            }
            self.te_seen = true;
        }
        if !self.te_seen {
            self.te_error = Some(ParseError::ChunkedNotFinal);
        }
    }

    fn framing(&self, version: Version) -> Result<BodyFraming, ParseError> {
        if version == Version::Http11 && self.hosts == 0 {
            return Err(ParseError::MissingHost);
        }
        if self.te_seen || self.te_error.is_some() {
            if self.content_length_count > 0 {
                return Err(ParseError::ContentLengthWithTransferEncoding);
            }
            if !self.te_chunked_final {
                return Err(ParseError::ChunkedNotFinal);
            }
            if let Some(e) = self.te_error {
                return Err(e);
            }
            return Ok(BodyFraming::Chunked);
        }
        Ok(match self.content_length {
            Some(0) | None => BodyFraming::None,
            Some(n) => BodyFraming::Length(n),
        })
    }
}

/// RFC 9112 §6.3: `1*DIGIT`, no sign, no list, no inner whitespace; overflow is invalid.
fn parse_content_length(value: &[u8]) -> Result<u64, ParseError> {
    let digits = trim_ows(value);
    if digits.is_empty() {
        return Err(ParseError::InvalidContentLength);
    }
    let mut n: u64 = 0;
    for &b in digits {
        if b == b',' {
            return Err(ParseError::DuplicateContentLength);
        }
        if !b.is_ascii_digit() {
            return Err(ParseError::InvalidContentLength);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(ParseError::InvalidContentLength)?;
    }
    Ok(n)
}

fn is_authority_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(&b)
}

/// Strip optional whitespace (SP / HTAB) from both ends of a field value.
#[must_use]
pub fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::has_bare_lf;

    #[test]
    fn bare_lf_at_every_position() {
        for len in 1..40 {
            for at in 0..len {
                let mut crlf = vec![b'a'; len + 1];
                crlf[at] = b'\r';
                crlf[at + 1] = b'\n';
                assert!(!has_bare_lf(&crlf), "CRLF at {at} of {len}");
                let mut bare = vec![b'a'; len];
                bare[at] = b'\n';
                assert!(has_bare_lf(&bare), "LF at {at} of {len}");
            }
        }
        assert!(has_bare_lf(b"\r\r\n\n"));
        assert!(!has_bare_lf(b""));
    }
}
