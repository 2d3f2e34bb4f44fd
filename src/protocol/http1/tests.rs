//! Table-driven tests of the HTTP/1.1 machines, including the every-offset split property.

use super::*;

fn head(raw: &str) -> Result<Option<(RequestHead, usize)>, ParseError> {
    parse_head(raw.as_bytes(), &HeadLimits::default())
}

#[test]
fn head_policy_table() {
    use ParseError as E;
    let rows: &[(&str, &str, Result<BodyFraming, E>)] = &[
        ("simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok(BodyFraming::None)),
        ("content length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", Ok(BodyFraming::Length(5))),
        ("chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Ok(BodyFraming::Chunked)),
        ("te case", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n", Ok(BodyFraming::Chunked)),
        ("http/1.0 no host", "GET / HTTP/1.0\r\n\r\n", Ok(BodyFraming::None)),
        ("leading crlf", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok(BodyFraming::None)),
        (
            "cl+te",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            Err(E::ContentLengthWithTransferEncoding),
        ),
        (
            "te+cl",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            Err(E::ContentLengthWithTransferEncoding),
        ),
        (
            "two cl differ",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            Err(E::DuplicateContentLength),
        ),
        (
            "two cl same",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            Err(E::DuplicateContentLength),
        ),
        ("cl list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", Err(E::DuplicateContentLength)),
        ("cl plus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", Err(E::InvalidContentLength)),
        ("cl hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\n", Err(E::InvalidContentLength)),
        (
            "cl overflow",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
            Err(E::InvalidContentLength),
        ),
        ("cl empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", Err(E::InvalidContentLength)),
        ("bare lf", "GET / HTTP/1.1\nHost: a\n\n", Err(E::BareLineFeed)),
        ("bare lf end", "GET / HTTP/1.1\r\nHost: a\r\n\n", Err(E::BareLineFeed)),
        ("obs fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", Err(E::InvalidHeaderName)),
        (
            "space before colon",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
            Err(E::InvalidHeaderName),
        ),
        ("xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", Err(E::ChunkedNotFinal)),
        (
            "chunked not last",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            Err(E::ChunkedNotFinal),
        ),
        (
            "gzip chunked",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            Err(E::UnsupportedTransferCoding),
        ),
        (
            "chunked twice",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            Err(E::ChunkedNotFinal),
        ),
        (
            "chunked two fields",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            Err(E::ChunkedNotFinal),
        ),
        ("te empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", Err(E::ChunkedNotFinal)),
        ("te on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Err(E::TransferEncodingOnHttp10)),
        ("no host", "GET / HTTP/1.1\r\n\r\n", Err(E::MissingHost)),
        ("two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Err(E::DuplicateHost)),
        ("bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Err(E::InvalidHost)),
        ("nul in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", Err(E::InvalidHeaderValue)),
        ("bare cr in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", Err(E::InvalidHeaderValue)),
        ("ctl in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", Err(E::InvalidHeaderValue)),
        ("http 0.9", "GET /\r\n\r\n", Err(E::BadRequestLine)),
        ("http 1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", Err(E::UnsupportedVersion)),
        ("http 2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", Err(E::UnsupportedVersion)),
        ("space in uri", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", Err(E::BadRequestLine)),
        ("fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", Err(E::BadRequestTarget)),
        ("get star", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", Err(E::BadRequestTarget)),
        ("options star", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Ok(BodyFraming::None)),
        ("connect", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", Err(E::ConnectNotSupported)),
        ("relative target", "GET a HTTP/1.1\r\nHost: a\r\n\r\n", Err(E::BadRequestTarget)),
        (
            "expect other",
            "POST / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\nContent-Length: 1\r\n\r\n",
            Err(E::UnsupportedExpectation),
        ),
        ("empty header name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", Err(E::InvalidHeaderName)),
    ];
    for (name, raw, want) in rows {
        let got = head(raw).map(|r| r.map(|(h, _)| h.framing));
        match (want, got) {
            (Ok(f), Ok(Some(g))) => assert_eq!(*f, g, "{name}"),
            (Err(e), Err(g)) => assert_eq!(*e, g, "{name}"),
            (w, g) => panic!("{name}: want {w:?}, got {g:?}"),
        }
    }
}

#[test]
fn head_fields() {
    let (h, n) =
        head("GET http://example.com/a/b?x=1&token=t HTTP/1.1\r\nHost: other\r\nX-A: 1\r\n\r\nrest").unwrap().unwrap();
    assert_eq!(n, "GET http://example.com/a/b?x=1&token=t HTTP/1.1\r\nHost: other\r\nX-A: 1\r\n\r\n".len());
    assert_eq!(h.path(), "/a/b");
    assert_eq!(h.query(), Some("x=1&token=t"));
    assert_eq!(h.header("x-a"), Some(&b"1"[..]));
    assert_eq!(h.method, Method::Get);
    assert!(h.keep_alive);
    let (h, _) = head("GET http://example.com HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().unwrap();
    assert_eq!(h.path(), "/");
    let (h, _) = head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().unwrap();
    assert!(h.keep_alive);
    let (h, _) = head("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
    assert!(!h.keep_alive);
    let (h, _) = head("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n").unwrap().unwrap();
    assert!(!h.keep_alive);
    let (h, _) =
        head("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n").unwrap().unwrap();
    assert!(h.expect_continue);
    let (h, _) = head("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").unwrap().unwrap();
    assert!(!h.expect_continue, "HTTP/1.0 must ignore Expect");
}

#[test]
fn head_limits() {
    let limits = HeadLimits { max_request_line_bytes: 32, max_header_bytes: 128, max_headers: 4 };
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(40));
    assert_eq!(parse_head(long_line.as_bytes(), &limits).unwrap_err(), ParseError::RequestLineTooLong);
    // Detected before the head completes.
    assert_eq!(parse_head(&long_line.as_bytes()[..38], &limits).unwrap_err(), ParseError::RequestLineTooLong);
    let many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n";
    assert_eq!(parse_head(many.as_bytes(), &limits).unwrap_err(), ParseError::TooManyHeaders);
    let big = format!("GET / HTTP/1.1\r\nHost: a\r\nA: {}\r\n\r\n", "x".repeat(200));
    assert_eq!(parse_head(big.as_bytes(), &limits).unwrap_err(), ParseError::HeadersTooLarge);
    assert_eq!(parse_head(&big.as_bytes()[..150], &limits).unwrap_err(), ParseError::HeadersTooLarge);
    let heap = HeadLimits { max_headers: 200, ..HeadLimits::default() };
    let mut req = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..150 {
        req.push_str(&format!("X-{i}: v\r\n"));
    }
    req.push_str("\r\n");
    assert_eq!(parse_head(req.as_bytes(), &heap).unwrap().unwrap().0.header_count(), 151);
}

#[test]
fn head_split_at_every_offset() {
    let raw = b"POST /webhook?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n";
    let (whole, n) = parse_head(raw, &HeadLimits::default()).unwrap().unwrap();
    assert_eq!(n, raw.len());
    for cut in 0..raw.len() {
        assert!(parse_head(&raw[..cut], &HeadLimits::default()).unwrap().is_none(), "prefix {cut}");
    }
    let (again, _) = parse_head(raw, &HeadLimits::default()).unwrap().unwrap();
    assert_eq!(format!("{whole:?}"), format!("{again:?}"));
}

fn decode_all(input: &[u8], splits: &[usize]) -> Result<(Vec<u8>, usize, bool), ParseError> {
    let mut d = BodyDecoder::chunked(1 << 20, 1024);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut done = false;
    let mut bounds: Vec<usize> = splits.to_vec();
    bounds.push(input.len());
    for end in bounds {
        while pos < end && !done {
            let p = d.decode(&input[pos..end], &mut out)?;
            pos += p.consumed;
            done = p.done;
            if p.consumed == 0 {
                break;
            }
        }
    }
    Ok((out, pos, done))
}

#[test]
fn chunked_table() {
    use ParseError as E;
    type Row<'a> = (&'a str, &'a [u8], Result<(&'a [u8], bool), E>);
    let rows: &[Row<'_>] = &[
        ("simple", b"3\r\nabc\r\n0\r\n\r\n", Ok((b"abc", true))),
        ("two chunks", b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", Ok((b"abcde", true))),
        ("upper hex", b"A\r\n0123456789\r\n0\r\n\r\n", Ok((b"0123456789", true))),
        ("extension", b"3;foo=bar\r\nabc\r\n0\r\n\r\n", Ok((b"abc", true))),
        ("quoted extension", b"3;foo=\"b;a\\\"r\"\r\nabc\r\n0\r\n\r\n", Ok((b"abc", true))),
        ("bws before ext", b"3 ;foo\r\nabc\r\n0\r\n\r\n", Ok((b"abc", true))),
        ("bws everywhere", b"3 ; a = b ; c = \"d\" ;e\r\nabc\r\n0\r\n\r\n", Ok((b"abc", true))),
        ("ext empty name", b"3;=bar\r\nabc\r\n", Err(E::InvalidChunkExtension)),
        ("ext double equals", b"3;a=b=c\r\nabc\r\n", Err(E::InvalidChunkExtension)),
        ("ext quoted then token", b"3;a=\"b\"c\r\nabc\r\n", Err(E::InvalidChunkExtension)),
        ("ext empty value", b"3;a=\r\nabc\r\n", Err(E::InvalidChunkExtension)),
        ("ext trailing semicolon", b"3;\r\nabc\r\n", Err(E::InvalidChunkExtension)),
        ("trailing space", b"3 \r\nabc\r\n0\r\n\r\n", Ok((b"abc", true))),
        ("trailers", b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nContent-Length: 99\r\n\r\n", Ok((b"abc", true))),
        ("incomplete", b"3\r\nab", Ok((b"ab", false))),
        ("empty size", b"\r\n", Err(E::InvalidChunkSize)),
        ("bare lf after size", b"3\nabc\r\n0\r\n\r\n", Err(E::InvalidChunkSize)),
        ("bare lf in ext", b"3;foo\nbar\r\nabc\r\n0\r\n\r\n", Err(E::InvalidChunkExtension)),
        ("bare cr in ext", b"3;fo\ro\r\nabc\r\n", Err(E::InvalidChunkSize)),
        ("plus size", b"+3\r\nabc\r\n", Err(E::InvalidChunkSize)),
        ("0x size", b"0x3\r\nabc\r\n", Err(E::InvalidChunkSize)),
        ("leading space", b" 3\r\nabc\r\n", Err(E::InvalidChunkSize)),
        ("17 digits", b"00000000000000003\r\nabc\r\n", Err(E::InvalidChunkSize)),
        ("huge", b"ffffffffffffffff\r\n", Err(E::BodyTooLarge)),
        ("data too long", b"3\r\nabcd\r\n0\r\n\r\n", Err(E::InvalidChunkData)),
        ("missing crlf", b"3\r\nabc0\r\n\r\n", Err(E::InvalidChunkData)),
        ("trailer bare lf", b"0\r\nX: a\nb\r\n\r\n", Err(E::InvalidTrailer)),
        ("trailer no colon", b"0\r\nbad line\r\n\r\n", Err(E::InvalidTrailer)),
        ("final bare lf", b"0\r\n\n", Err(E::InvalidTrailer)),
    ];
    for (name, input, want) in rows {
        let got = decode_all(input, &[]);
        match (want, got) {
            (Ok((body, done)), Ok((out, _, d))) => assert_eq!((*body, *done), (out.as_slice(), d), "{name}"),
            (Err(e), Err(g)) => assert_eq!(*e, g, "{name}"),
            (w, g) => panic!("{name}: want {w:?}, got {g:?}"),
        }
    }
}

#[test]
fn chunked_stops_at_end_of_body() {
    let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    let (out, consumed, done) = decode_all(input, &[]).unwrap();
    assert_eq!((out.as_slice(), consumed, done), (&b"abc"[..], 13, true));
}

#[test]
fn chunked_split_at_every_offset() {
    let input: &[u8] = b"5;ext=\"q\"\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: v\r\n\r\n";
    let whole = decode_all(input, &[]).unwrap();
    assert!(whole.2);
    for cut in 0..input.len() {
        assert_eq!(decode_all(input, &[cut]).unwrap(), whole, "cut at {cut}");
    }
    let bytewise: Vec<usize> = (1..input.len()).collect();
    assert_eq!(decode_all(input, &bytewise).unwrap(), whole);
}

#[test]
fn body_limits() {
    assert_eq!(BodyDecoder::length(11, 10).unwrap_err(), ParseError::BodyTooLarge);
    let mut d = BodyDecoder::chunked(5, 1024);
    let mut out = Vec::new();
    assert_eq!(d.decode(b"3\r\nabc\r\n3\r\n", &mut out).unwrap_err(), ParseError::BodyTooLarge);
    let mut d = BodyDecoder::chunked(100, 8);
    assert_eq!(d.decode(b"0\r\nX-Long: 123456\r\n\r\n", &mut out).unwrap_err(), ParseError::TrailersTooLarge);
    let mut d = BodyDecoder::length(4, 10).unwrap();
    let mut out = Vec::new();
    let p = d.decode(b"abcdef", &mut out).unwrap();
    assert_eq!((p.consumed, p.done, out.as_slice()), (4, true, &b"abcd"[..]));
}

#[test]
fn encode_response() {
    let mut out = Vec::new();
    let r = Response::json(200, b"{}".to_vec());
    response::encode(&r, EncodeOptions { head_only: false, keep_alive: true, date: b"D" }, &mut out);
    assert_eq!(out, b"HTTP/1.1 200 OK\r\nDate: D\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}");
    out.clear();
    response::encode(&r, EncodeOptions { head_only: true, keep_alive: false, date: b"D" }, &mut out);
    assert!(out.ends_with(b"Content-Length: 2\r\nConnection: close\r\n\r\n"));
    out.clear();
    response::encode(&Response::empty(204), EncodeOptions { head_only: false, keep_alive: true, date: b"D" }, &mut out);
    assert!(!String::from_utf8_lossy(&out).contains("Content-Length"));
    let mut r = Response::empty(200);
    r.push_header("X-Bad", "a\r\nSet-Cookie: x");
    assert!(r.header("X-Bad").is_none());
}

#[test]
fn encoded_chunks_decode_back_and_end_at_the_last_chunk() {
    use response::{LAST_CHUNK, encode_chunk};
    let mut wire = Vec::new();
    encode_chunk(&mut wire, b"data: a\n\n");
    encode_chunk(&mut wire, &[b'x'; 300]);
    // An empty piece writes nothing: a zero-length chunk would end the body early.
    encode_chunk(&mut wire, b"");
    wire.extend_from_slice(LAST_CHUNK);
    assert!(wire.starts_with(b"9\r\ndata: a\n\n\r\n12c\r\n"), "{:?}", String::from_utf8_lossy(&wire));
    let mut d = BodyDecoder::chunked(1 << 20, 1024);
    let mut body = Vec::new();
    let progress = d.decode(&wire, &mut body).expect("valid chunked body");
    assert!(progress.done && progress.consumed == wire.len());
    assert_eq!(body.len(), 9 + 300);
}
