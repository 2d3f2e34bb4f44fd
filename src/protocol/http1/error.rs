//! Errors of the HTTP/1.1 parser layer: one small `Copy` enum, no allocation.
//!
//! The parser only says *what* was wrong. Which status code, message and
//! connection handling that means is decided in one place, `crate::error`.

use std::fmt;

/// Everything that can be wrong with a request's head or body framing.
///
/// Every variant means the framing of the connection can no longer be
/// trusted, so the server answers once and closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// The request line is malformed (bad method, target or version token).
    BadRequestLine,
    /// The request target is not origin-form, absolute-form, or `*` for OPTIONS.
    BadRequestTarget,
    /// The request line is longer than `max_request_line_bytes`.
    RequestLineTooLong,
    /// The head is longer than `max_header_bytes`.
    HeadersTooLarge,
    /// More header fields than `max_headers`.
    TooManyHeaders,
    /// A line of the head ends in a bare LF instead of CRLF.
    BareLineFeed,
    /// A header name is invalid; this covers obs-fold and whitespace before the colon.
    InvalidHeaderName,
    /// A header value holds a forbidden byte (NUL, bare CR, other controls).
    InvalidHeaderValue,
    /// An HTTP/1.1 request without a Host header.
    MissingHost,
    /// More than one Host header.
    DuplicateHost,
    /// The Host header value is not a valid authority.
    InvalidHost,
    /// A Content-Length that is not a plain decimal number that fits in u64.
    InvalidContentLength,
    /// Content-Length given more than once (even with equal values) or as a list.
    DuplicateContentLength,
    /// Both Content-Length and Transfer-Encoding (request smuggling vector).
    ContentLengthWithTransferEncoding,
    /// Transfer-Encoding on an HTTP/1.0 request.
    TransferEncodingOnHttp10,
    /// The final transfer coding is not `chunked`, or `chunked` appears twice.
    ChunkedNotFinal,
    /// A transfer coding other than `chunked`, which we do not decode.
    UnsupportedTransferCoding,
    /// An Expect value other than `100-continue`.
    UnsupportedExpectation,
    /// A protocol version other than HTTP/1.0 or HTTP/1.1.
    UnsupportedVersion,
    /// The CONNECT method, which an origin gateway does not tunnel.
    ConnectNotSupported,
    /// A chunk-size line is empty, too long, holds a non-hex byte, or ends in a CR that is
    /// not followed by LF (so a bare CR inside an extension lands here too).
    InvalidChunkSize,
    /// A chunk extension breaks the RFC 9112 grammar (bare CR or LF included).
    InvalidChunkExtension,
    /// A chunk's data is not followed by CRLF.
    InvalidChunkData,
    /// A trailer field is malformed.
    InvalidTrailer,
    /// Trailer section bigger than `max_header_bytes`.
    TrailersTooLarge,
    /// The body is larger than the body limit (declared or counted while decoding).
    BodyTooLarge,
}

impl ParseError {
    /// A short human sentence saying what was wrong, for the JSON error body.
    #[must_use]
    pub const fn message(self) -> &'static str {
        match self {
            Self::BadRequestLine => "malformed request line",
            Self::BadRequestTarget => "malformed request target",
            Self::RequestLineTooLong => "request line exceeds max_request_line_bytes",
            Self::HeadersTooLarge => "request head exceeds max_header_bytes",
            Self::TooManyHeaders => "request has more header fields than max_headers",
            Self::BareLineFeed => "line ended with a bare LF; CRLF is required",
            Self::InvalidHeaderName => {
                "invalid header field name (obs-fold, whitespace before the colon, or a bad byte)"
            }
            Self::InvalidHeaderValue => "invalid byte in a header field value",
            Self::MissingHost => "HTTP/1.1 request without a Host header",
            Self::DuplicateHost => "more than one Host header",
            Self::InvalidHost => "Host header is not a valid authority",
            Self::InvalidContentLength => "Content-Length is not a valid decimal number",
            Self::DuplicateContentLength => "Content-Length given more than once",
            Self::ContentLengthWithTransferEncoding => "both Content-Length and Transfer-Encoding are present",
            Self::TransferEncodingOnHttp10 => "Transfer-Encoding is not allowed on HTTP/1.0",
            Self::ChunkedNotFinal => "chunked must be the final transfer coding, applied once",
            Self::UnsupportedTransferCoding => "transfer coding not supported; only chunked is",
            Self::UnsupportedExpectation => "only Expect: 100-continue is supported",
            Self::UnsupportedVersion => "only HTTP/1.0 and HTTP/1.1 are supported",
            Self::ConnectNotSupported => "CONNECT is not supported",
            Self::InvalidChunkSize => "invalid chunk size line",
            Self::InvalidChunkExtension => "invalid chunk extension",
            Self::InvalidChunkData => "chunk data not followed by CRLF",
            Self::InvalidTrailer => "invalid trailer field",
            Self::TrailersTooLarge => "trailer section exceeds max_header_bytes",
            Self::BodyTooLarge => "request body exceeds the body limit",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ParseError {}
