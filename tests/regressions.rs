//! One test per bug found in review, named after what went wrong.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{ADMIN_TOKEN, TestServer, get, get_with};

#[test]
fn keepalive_deadline_does_not_cut_a_slow_reader_with_pipelined_answers() {
    // Output pending behind backpressure is governed by write_timeout_ms, not keep-alive.
    let srv = TestServer::gateway(json!({ "limits": { "keepalive_timeout_ms": 300, "write_timeout_ms": 30000 } }));
    let mut c = srv.connect();
    let n = 20_000;
    let mut writer = c.stream().try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let all: Vec<u8> = (0..n).flat_map(|_| get("/health")).collect();
        writer.write_all(&all).is_ok()
    });
    std::thread::sleep(Duration::from_millis(1200));
    for i in 0..n {
        assert_eq!(c.read_response().status, 200, "response {i} of a stalled reader");
    }
    assert!(sender.join().unwrap());
}

#[test]
fn an_unreadable_forwarded_hop_ends_the_walk_at_the_proxy() {
    // A forged hop left of `unknown` must not become the client's address.
    let srv = TestServer::gateway(json!({
        "auth_token": ADMIN_TOKEN, "trusted_proxies": ["127.0.0.1/32"],
        "auth_rate_limit": { "max_attempts": 1, "window_ms": 60000, "lockout_ms": 60000, "exempt_loopback": false }
    }));
    let wrong = "Authorization: Bearer tln-wrong-00000000000000000000000000000000";
    let good = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let r = srv.request(&get_with("/api/version", &["X-Forwarded-For: 203.0.113.5, unknown", wrong]));
    assert_eq!(r.status, 401);
    let r = srv.request(&get_with("/api/version", &["X-Forwarded-For: 198.51.100.77, unknown", &good]));
    assert_eq!(r.status, 429, "the failure was keyed on the proxy, whatever the forged hop says: {}", r.text());
}

#[test]
fn forwarding_headers_from_an_unknown_proxy_are_not_local() {
    // No token, loopback bind, no trusted_proxies: a reverse proxy on this host must not
    // turn every remote client into a full-scope loopback client.
    let srv = TestServer::gateway(json!({}));
    assert_eq!(srv.get("/api/version").status, 200, "a plain loopback client is let in");
    for h in ["X-Forwarded-For: 203.0.113.9", "Forwarded: for=203.0.113.9", "X-Real-IP: 203.0.113.9"] {
        let r = srv.request(&get_with("/api/version", &[h]));
        assert_eq!(r.status, 401, "{h}: {}", r.text());
    }
}

#[test]
fn a_trickled_body_meets_the_absolute_body_deadline() {
    let srv = TestServer::gateway(json!({
        "debug_routes": true, "limits": { "body_idle_timeout_ms": 800, "body_timeout_ms": 1000 }
    }));
    let mut c = srv.connect();
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n");
    let start = Instant::now();
    let mut answered = None;
    for _ in 0..20 {
        if c.try_send(b"x").is_err() {
            break;
        }
        if let Ok(r) = c.try_read_response_within(false, Duration::from_millis(300)) {
            answered = Some(r);
            break;
        }
    }
    let r = answered.expect("a 408 before the body completes");
    assert_eq!(r.status, 408, "{}", r.text());
    assert!(start.elapsed() < Duration::from_millis(2500), "took {:?}", start.elapsed());
}

#[test]
fn a_stray_crlf_after_a_request_is_not_answered_408() {
    let srv = TestServer::gateway(json!({ "limits": { "header_timeout_ms": 300, "keepalive_timeout_ms": 5000 } }));
    let mut c = srv.connect();
    let mut first = get("/health");
    first.extend_from_slice(b"\r\n");
    c.send(&first);
    assert_eq!(c.read_response().status, 200);
    std::thread::sleep(Duration::from_millis(700));
    c.send(&get("/health"));
    assert_eq!(c.read_response().status, 200, "the connection is still a healthy keep-alive");
}
