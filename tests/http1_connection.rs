//! Connection behaviour over real sockets: pipelining, requests split at every byte offset,
//! byte-at-a-time delivery, HTTP/1.0 and 1.1 persistence, HEAD, `Expect: 100-continue`,
//! keep-alive reuse, backpressure and early refusals.

mod support;

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{Conn, Response, TestServer, get, post};

fn server() -> TestServer {
    TestServer::gateway(json!({
        "debug_routes": true,
        "rate_limit": { "window_ms": 1000, "max_requests": 1000000 }
    }))
}

fn sha_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn assert_echo(resp: &Response, body: &[u8], ctx: &str) -> Value {
    assert_eq!(resp.status, 200, "{ctx}: {}\n{}", resp.head, resp.text());
    let v = resp.json();
    assert_eq!(v["body_len"], json!(body.len()), "{ctx}: {v}");
    assert_eq!(v["body_sha256"], json!(sha_hex(body)), "{ctx}: {v}");
    v
}

/// A chunked echo (with an extension and a trailer), a Content-Length echo and a GET,
/// back to back: the input used by the split and trickle tests.
fn split_input() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(
        b"POST /debug/echo?x=1 HTTP/1.1\r\nHost: split.test\r\nTransfer-Encoding: chunked\r\nX-Id: 1\r\n\r\n\
          5;ext=\"a b\"\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    v.extend_from_slice(b"POST /debug/echo HTTP/1.1\r\nHost: split.test\r\nContent-Length: 7\r\n\r\nabc\r\ndx");
    v.extend_from_slice(b"GET /health HTTP/1.1\r\nHost: split.test\r\n\r\n");
    v
}

/// Read the three responses to [`split_input`] and return the two echo documents.
fn read_split_responses(c: &mut Conn, ctx: &str) -> (Value, Value) {
    let a = support::expect_response(c, ctx);
    let a = assert_echo(&a, b"hello world", ctx);
    let b = support::expect_response(c, ctx);
    let b = assert_echo(&b, b"abc\r\ndx", ctx);
    let h = support::expect_response(c, ctx);
    assert_eq!(h.status, 200, "{ctx}: GET /health after the echoes: {}", h.text());
    assert!(!h.closes(), "{ctx}: keep-alive expected");
    (a, b)
}

/// The responses to `input` sent in one write: what every split delivery must reproduce.
fn reference_responses(srv: &TestServer, input: &[u8]) -> (Value, Value) {
    let mut whole = srv.connect();
    whole.send(input);
    read_split_responses(&mut whole, "delivered whole")
}

#[test]
fn pipelined_requests_answer_in_order() {
    let srv = server();
    let mut c = srv.connect();
    let mut batch = Vec::new();
    batch.extend_from_slice(&get("/health"));
    batch.extend_from_slice(&post("/debug/echo", b"first"));
    batch.extend_from_slice(&get("/healthz"));
    batch.extend_from_slice(
        b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsec\r\n3\r\nond\r\n0\r\n\r\n",
    );
    batch.extend_from_slice(b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n");
    batch.extend_from_slice(&get("/no/such/route"));
    batch.extend_from_slice(&post("/debug/echo", b"third"));
    batch.extend_from_slice(&get("/api/health"));
    c.send(&batch);

    let r = c.read_response();
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("ok")), "1st: /health");
    assert_echo(&c.read_response(), b"first", "2nd: echo on the worker pool");
    assert_eq!(c.read_response().status, 200, "3rd: /healthz");
    assert_echo(&c.read_response(), b"second", "4th: chunked echo");
    let h = c.read_head_response();
    assert_eq!(h.status, 200, "5th: HEAD /health");
    let nf = c.read_response();
    assert_eq!(nf.status, 404, "6th: unknown route");
    nf.assert_error_body();
    assert_echo(&c.read_response(), b"third", "7th: echo after an error");
    let last = c.read_response();
    assert_eq!(last.status, 200, "8th: /api/health");
    assert!(!last.closes());
    assert!(c.buffered().is_empty(), "no stray bytes: {:?}", String::from_utf8_lossy(c.buffered()));
}

#[test]
fn pipelined_error_ends_the_pipeline() {
    let srv = server();
    let mut c = srv.connect();
    let mut batch = Vec::new();
    batch.extend_from_slice(&get("/health"));
    batch.extend_from_slice(&post("/debug/echo", b"ok"));
    batch.extend_from_slice(b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    batch.extend_from_slice(&get("/healthz"));
    c.send(&batch);
    assert_eq!(c.read_response().status, 200);
    assert_echo(&c.read_response(), b"ok", "echo before the bad request");
    let bad = c.read_response();
    assert_eq!(bad.status, 400, "duplicate Host: {}", bad.text());
    assert!(bad.closes());
    let rest = c.read_until_eof();
    assert!(
        rest.is_empty(),
        "the request after a framing error must not be answered: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn request_split_at_every_offset_parses_like_whole() {
    let srv = server();
    let input = split_input();
    let reference = reference_responses(&srv, &input);
    for k in 1..input.len() {
        let ctx = format!("split at offset {k} of {}", input.len());
        let mut c = srv.connect();
        c.send(input.get(..k).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(2));
        c.send(input.get(k..).unwrap_or_default());
        let got = read_split_responses(&mut c, &ctx);
        assert_eq!(got, reference, "{ctx}: echo differs from the one delivered whole");
    }
}

#[test]
fn request_split_into_three_parts_parses_like_whole() {
    let srv = server();
    let input = split_input();
    let reference = reference_responses(&srv, &input);
    // Every pair of cut points 7 bytes apart, walked across the input.
    let mut c = srv.connect();
    for k in (1..input.len().saturating_sub(8)).step_by(5) {
        let ctx = format!("cuts at {k} and {}", k + 7);
        c.send(input.get(..k).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(1));
        c.send(input.get(k..k + 7).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(1));
        c.send(input.get(k + 7..).unwrap_or_default());
        let got = read_split_responses(&mut c, &ctx);
        assert_eq!(got, reference, "{ctx}");
    }
}

#[test]
fn byte_at_a_time_delivery() {
    let srv = server();
    let input = split_input();
    let reference = reference_responses(&srv, &input);
    let mut c = srv.connect();
    for b in &input {
        c.send(std::slice::from_ref(b));
        std::thread::sleep(Duration::from_micros(300));
    }
    let got = read_split_responses(&mut c, "byte at a time");
    assert_eq!(got, reference);
}

#[test]
fn http10_without_keep_alive_closes() {
    let srv = server();
    let mut c = srv.connect();
    c.send(b"GET /health HTTP/1.0\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert!(r.closes(), "HTTP/1.0 defaults to close:\n{}", r.head);
    assert!(c.read_until_eof().is_empty());
}

#[test]
fn http10_with_keep_alive_stays_open() {
    let srv = server();
    let mut c = srv.connect();
    for i in 0..3 {
        c.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c.read_response();
        assert_eq!(r.status, 200, "request {i}");
        assert!(!r.closes(), "request {i}: asked for keep-alive:\n{}", r.head);
        assert!(
            r.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")),
            "an HTTP/1.0 client needs an explicit `Connection: keep-alive`:\n{}",
            r.head
        );
    }
    c.send(b"GET /health HTTP/1.0\r\n\r\n");
    let r = c.read_response();
    assert!(r.closes());
    assert!(c.read_until_eof().is_empty());
}

#[test]
fn connection_close_is_honoured() {
    let srv = server();
    let mut c = srv.connect();
    let mut batch = b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec();
    batch.extend_from_slice(&get("/healthz"));
    c.send(&batch);
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert!(r.closes(), "{}", r.head);
    let rest = c.read_until_eof();
    assert!(rest.is_empty(), "a request after `Connection: close` was answered: {:?}", String::from_utf8_lossy(&rest));
}

#[test]
fn connection_close_on_worker_route() {
    let srv = server();
    let mut c = srv.connect();
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi");
    let r = c.read_response();
    assert_echo(&r, b"hi", "echo with Connection: close");
    assert!(r.closes(), "{}", r.head);
    assert!(c.read_until_eof().is_empty());
}

#[test]
fn head_has_headers_and_no_body() {
    let srv = server();
    let mut c = srv.connect();
    c.send(&get("/health"));
    let g = c.read_response();
    c.send(b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n");
    let h = c.read_head_response();
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-type"), g.header("content-type"), "HEAD carries the GET headers");
    assert_eq!(h.header("content-length"), g.header("content-length"), "HEAD carries the GET Content-Length");
    assert!(h.header("date").is_some(), "Date header:\n{}", h.head);
    assert!(!h.closes());
    // If any body bytes followed the HEAD response, this next response would not parse.
    c.send(&get("/healthz"));
    let next = c.read_response();
    assert_eq!(next.status, 200, "response after HEAD: {}", next.head);
    assert!(c.buffered().is_empty());
}

#[test]
fn head_on_unknown_route_has_no_body() {
    let srv = server();
    let mut c = srv.connect();
    c.send(b"HEAD /nothing/here HTTP/1.1\r\nHost: t\r\n\r\n");
    let h = c.read_head_response();
    assert_eq!(h.status, 404);
    c.send(&get("/health"));
    assert_eq!(c.read_response().status, 200);
}

#[test]
fn expect_continue_gets_interim_100_then_200() {
    let srv = server();
    let mut c = srv.connect();
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let interim = c.read_response();
    assert_eq!(interim.status, 100, "interim response before the body is sent:\n{}", interim.head);
    c.send(b"hello");
    let r = c.read_response();
    assert_echo(&r, b"hello", "after 100-continue");
    assert!(!r.closes());
}

#[test]
fn expect_continue_chunked() {
    let srv = server();
    let mut c = srv.connect();
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(c.read_response().status, 100);
    c.send(b"4\r\nabcd\r\n0\r\n\r\n");
    assert_echo(&c.read_response(), b"abcd", "chunked after 100-continue");
}

#[test]
fn expect_continue_oversized_gets_413_without_100() {
    let srv = server();
    let mut c = srv.connect();
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10000000\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 413, "the first response must be the 413, not an interim 100:\n{}", r.head);
    r.assert_error_body();
    assert!(r.closes());
    assert!(c.read_until_eof().is_empty());
}

#[test]
fn expect_continue_refused_route_gets_no_100() {
    let srv = server();
    let mut c = srv.connect();
    c.send(b"POST /nowhere HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 404, "refused at admission, before any 100:\n{}", r.head);
    assert!(r.closes(), "the unread body cannot be framed:\n{}", r.head);
}

#[test]
fn keep_alive_reuses_one_connection() {
    let srv = server();
    let mut c = srv.connect();
    for i in 0..300u32 {
        if i % 3 == 0 {
            let body = format!("request-{i}");
            c.send(&post("/debug/echo", body.as_bytes()));
            assert_echo(&c.read_response(), body.as_bytes(), &format!("request {i}"));
        } else {
            c.send(&get(if i % 2 == 0 { "/health" } else { "/api/health" }));
            let r = c.read_response();
            assert_eq!(r.status, 200, "request {i}");
            assert!(!r.closes(), "request {i}");
        }
    }
}

#[test]
fn early_refusal_with_body_closes_and_ignores_the_body() {
    let srv = server();
    let mut c = srv.connect();
    let smuggled = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut req = format!("POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", smuggled.len()).into_bytes();
    req.extend_from_slice(smuggled);
    c.send(&req);
    let r = c.read_response();
    assert_eq!(r.status, 404);
    r.assert_error_body();
    assert!(r.closes(), "the body was not read, so the connection must close:\n{}", r.head);
    let rest = c.read_until_eof();
    assert!(rest.is_empty(), "the unread body was parsed as a request: {:?}", String::from_utf8_lossy(&rest));
}

#[test]
fn body_at_the_limit_is_accepted_and_one_over_is_413() {
    let srv = TestServer::gateway(json!({ "debug_routes": true, "limits": { "max_body_bytes": 1024 } }));
    let body = vec![b'z'; 1024];
    assert_echo(&srv.request(&post("/debug/echo", &body)), &body, "exactly max_body_bytes");
    let over = vec![b'z'; 1025];
    let r = srv.request(&post("/debug/echo", &over));
    assert_eq!(r.status, 413);
    r.assert_error_body();
    let chunked = format!(
        "POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n{}\r\n0\r\n\r\n",
        "z".repeat(1024)
    );
    assert_echo(&srv.request(chunked.as_bytes()), &body, "chunked, exactly max_body_bytes");
}

#[test]
fn pipelined_flood_is_answered_completely_under_backpressure() {
    let srv = server();
    let c = srv.connect();
    let n = 3000usize;
    let mut writer = c.stream().try_clone().expect("clone stream");
    let sender = std::thread::spawn(move || {
        let one = get("/health");
        let mut all = Vec::with_capacity(one.len() * n);
        for _ in 0..n {
            all.extend_from_slice(&one);
        }
        // The server stops reading while its output is backed up; keep writing from here.
        writer.write_all(&all).is_ok()
    });
    let mut c = c;
    for i in 0..n {
        let r = c.read_response();
        assert_eq!(r.status, 200, "response {i}");
    }
    assert!(sender.join().expect("writer thread"), "all requests written");
}

#[test]
fn head_on_worker_route_has_no_body() {
    let srv = server();
    let mut c = srv.connect();
    c.send(b"HEAD /debug/echo HTTP/1.1\r\nHost: t\r\n\r\n");
    let h = c.read_head_response();
    assert_eq!(h.status, 200, "{}", h.head);
    assert!(h.header("content-length").is_some_and(|v| v != "0"), "HEAD keeps the GET length:\n{}", h.head);
    c.send(&get("/health"));
    let next = c.read_response();
    assert_eq!(next.status, 200, "a body after the HEAD response would break this parse");
}

#[test]
fn options_without_cors_lists_allowed_methods() {
    let srv = server();
    let mut c = srv.connect();
    c.send(b"OPTIONS /health HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response();
    assert!(r.status == 204 || r.status == 200, "{}", r.head);
    let allow = r.header("allow").unwrap_or_else(|| panic!("OPTIONS without Allow:\n{}", r.head)).to_owned();
    for m in ["GET", "HEAD", "OPTIONS"] {
        assert!(allow.split(',').any(|x| x.trim() == m), "Allow {allow:?} lacks {m}");
    }
    assert!(!allow.contains("POST"), "Allow {allow:?}");
    assert!(!r.closes());
    c.send(&get("/health"));
    assert_eq!(c.read_response().status, 200);
}

#[test]
fn responses_carry_date_length_and_json_type() {
    let srv = server();
    let r = srv.get("/health");
    let date = r.header("date").unwrap_or_else(|| panic!("no Date:\n{}", r.head));
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
    assert_eq!(date.len(), 29, "Date {date:?}");
    assert!(date.ends_with(" GMT") && date.as_bytes().get(3) == Some(&b','), "Date {date:?}");
    assert_eq!(r.header("content-length"), Some(r.body.len().to_string().as_str()));
    assert!(r.header("content-type").is_some_and(|t| t.starts_with("application/json")));
    let v = r.json();
    assert_eq!(v["status"], json!("ok"));
    assert!(v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z') && t.contains('T')), "{v}");
}

#[test]
fn half_closed_client_still_gets_its_responses() {
    let srv = server();
    for req in [get("/health"), post("/debug/echo", b"half")] {
        let mut c = srv.connect();
        c.send(&req);
        c.shutdown_write();
        let r = c.read_response();
        assert_eq!(r.status, 200, "request then FIN: {}", r.text());
        assert!(c.read_until_eof().is_empty());
    }
}

#[test]
fn client_gone_before_the_worker_finishes() {
    let srv = server();
    for _ in 0..5 {
        let mut c = srv.connect();
        c.send(&get("/debug/sleep?ms=100"));
        drop(c);
    }
    std::thread::sleep(Duration::from_millis(300));
    // The server keeps serving; stale completions are dropped.
    assert_eq!(srv.get("/health").status, 200);
    assert_echo(&srv.request(&post("/debug/echo", b"still here")), b"still here", "after abandoned jobs");
}
