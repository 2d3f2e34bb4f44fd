//! Timeouts and resource limits: slowloris, body idle timeout, silent closes of idle
//! connections, per-IP connection cap, worker queue overflow, rate limit and
//! requests-per-connection.

mod support;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Conn, TestServer, get};

#[test]
fn slowloris_gets_408_at_the_header_deadline_while_others_are_served() {
    let srv = TestServer::gateway(json!({ "limits": { "header_timeout_ms": 1000 } }));
    let slow = srv.connect();
    let mut writer = slow.stream().try_clone().expect("clone");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writer = Arc::clone(&stop);
    let started = Instant::now();
    let trickler = std::thread::spawn(move || {
        // A head that never ends: one byte every 50 ms, forever (until told to stop).
        let head = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ";
        let filler = std::iter::repeat(b'a');
        for b in head.iter().copied().chain(filler) {
            if stop_writer.load(Ordering::Relaxed) || writer.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });

    // While the slow client trickles, another client is served promptly.
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        let t = Instant::now();
        let r = srv.get("/health");
        assert_eq!(r.status, 200);
        assert!(t.elapsed() < Duration::from_millis(500), "/health took {:?} during slowloris", t.elapsed());
    }

    let mut slow = slow;
    slow.deadline = Duration::from_secs(3);
    let r = slow.read_response();
    let at = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert_eq!(r.status, 408, "slowloris answer:\n{}", r.head);
    r.assert_error_body();
    assert!(r.closes());
    assert!(
        at >= Duration::from_millis(900) && at <= Duration::from_millis(1600),
        "the header deadline is absolute from the first byte (1 s); the 408 came after {at:?}"
    );
    assert!(slow.closed_within(Duration::from_secs(3)), "closed after the 408");
    let _ = trickler.join();
}

#[test]
fn body_idle_timeout_gets_408() {
    let srv = TestServer::gateway(json!({
        "debug_routes": true,
        "limits": { "body_idle_timeout_ms": 500 }
    }));
    let mut c = srv.connect();
    let t = Instant::now();
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    c.deadline = Duration::from_secs(3);
    let r = c.read_response();
    let at = t.elapsed();
    assert_eq!(r.status, 408, "{}", r.head);
    r.assert_error_body();
    assert!(r.closes());
    assert!(at >= Duration::from_millis(400) && at < Duration::from_millis(1500), "408 after {at:?}");
    assert!(c.read_until_eof().is_empty());
}

#[test]
fn body_idle_timer_resets_on_progress() {
    let srv = TestServer::gateway(json!({
        "debug_routes": true,
        "limits": { "body_idle_timeout_ms": 400 }
    }));
    let mut c = srv.connect();
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n");
    // 5 bytes at 200 ms intervals: 1 s in total, but never 400 ms of silence.
    for b in b"hello" {
        std::thread::sleep(Duration::from_millis(200));
        c.send(std::slice::from_ref(b));
    }
    let r = c.read_response();
    assert_eq!(r.status, 200, "a slow but steady body is not idle: {}", r.text());
    assert_eq!(r.json()["body_len"], json!(5));
}

/// The server closes `c` without a byte, between 0.4 and 1.5 s from now (a 500 ms timer).
fn assert_closed_silently_after_half_a_second(c: &mut Conn, what: &str) {
    let t = Instant::now();
    let got = c.read_until_eof_within(Duration::from_secs(3));
    let at = t.elapsed();
    assert!(got.is_empty(), "{what}: {:?}", String::from_utf8_lossy(&got));
    assert!(at >= Duration::from_millis(400) && at < Duration::from_millis(1500), "closed after {at:?}");
}

#[test]
fn idle_fresh_connection_is_closed_silently() {
    let srv = TestServer::gateway(json!({ "limits": { "header_timeout_ms": 500 } }));
    let mut c = srv.connect();
    assert_closed_silently_after_half_a_second(&mut c, "no response to a connection that never sent a byte");
}

#[test]
fn keep_alive_idle_connection_is_closed_silently() {
    let srv = TestServer::gateway(json!({ "limits": { "keepalive_timeout_ms": 500, "header_timeout_ms": 5000 } }));
    let mut c = srv.connect();
    c.send(&get("/health"));
    let r = c.read_response();
    assert!(!r.closes());
    assert_closed_silently_after_half_a_second(&mut c, "keep-alive expiry sends nothing");
}

#[test]
fn partial_head_after_keep_alive_gets_408() {
    let srv = TestServer::gateway(json!({ "limits": { "keepalive_timeout_ms": 5000, "header_timeout_ms": 500 } }));
    let mut c = srv.connect();
    c.send(&get("/health"));
    assert_eq!(c.read_response().status, 200);
    c.send(b"GET /health HTTP/1.1\r\nHo");
    let t = Instant::now();
    let r = c.read_response();
    assert_eq!(r.status, 408, "a started head on a kept-alive connection has the header deadline:\n{}", r.head);
    assert!(t.elapsed() < Duration::from_millis(1500), "408 after {:?}", t.elapsed());
    assert!(r.closes());
}

#[test]
fn max_connections_per_ip_closes_extra_connections() {
    let srv = TestServer::gateway(json!({ "max_connections_per_ip": 2 }));
    let mut a = srv.connect();
    a.send(&get("/health"));
    assert_eq!(a.read_response().status, 200);
    let mut b = srv.connect();
    b.send(&get("/health"));
    assert_eq!(b.read_response().status, 200);

    let mut extra = srv.connect();
    let _ = extra.try_send(&get("/health"));
    match extra.try_read_until_eof(Duration::from_secs(3)) {
        Ok(got) => assert!(got.is_empty(), "the third connection was served: {:?}", String::from_utf8_lossy(&got)),
        Err(got) => panic!("third connection neither served nor closed: {:?}", String::from_utf8_lossy(&got)),
    }

    // The first two still work, and a slot frees when one closes.
    a.send(&get("/health"));
    assert_eq!(a.read_response().status, 200);
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut d = srv.connect();
        let _ = d.try_send(&get("/health"));
        if let Ok(r) = d.try_read_response_within(false, Duration::from_secs(1)) {
            assert_eq!(r.status, 200);
            break;
        }
        assert!(Instant::now() < deadline, "no slot freed after closing a connection");
        std::thread::sleep(Duration::from_millis(50));
    }
    b.send(&get("/health"));
    assert_eq!(b.read_response().status, 200);
}

#[test]
fn full_worker_queue_answers_503_with_retry_after() {
    let srv = TestServer::gateway(json!({
        "debug_routes": true,
        "worker_threads": 1,
        "worker_queue": 1
    }));
    let mut conns: Vec<Conn> = (0..5).map(|_| srv.connect()).collect();
    let t = Instant::now();
    for c in &mut conns {
        c.send(&get("/debug/sleep?ms=500"));
    }
    let mut ok = 0;
    let mut busy = 0;
    for (i, c) in conns.iter_mut().enumerate() {
        let r = c.read_response();
        match r.status {
            200 => ok += 1,
            503 => {
                busy += 1;
                let retry = r.header("retry-after").unwrap_or_else(|| panic!("503 without Retry-After:\n{}", r.head));
                assert!(retry.parse::<u64>().is_ok_and(|s| s >= 1), "Retry-After {retry:?}");
                r.assert_error_body();
            }
            s => panic!("request {i}: unexpected status {s}: {}", r.text()),
        }
    }
    assert!(busy >= 1, "1 worker + queue of 1 cannot hold 5 sleeps: expected a 503 ({ok} ok)");
    assert!(ok >= 1, "at least the running job completes");
    assert!(t.elapsed() < Duration::from_secs(4), "took {:?}", t.elapsed());
    // /health is inline and unaffected.
    assert_eq!(srv.get("/health").status, 200);
}

#[test]
fn rate_limit_gives_429_with_retry_after_and_health_is_exempt() {
    let srv = TestServer::gateway(json!({ "rate_limit": { "window_ms": 60000, "max_requests": 3 } }));
    let mut c = srv.connect();
    for i in 0..3 {
        c.send(&get("/"));
        let r = c.read_response();
        assert_eq!(r.status, 302, "request {i} within the limit");
        assert_eq!(r.header("location"), Some("/app/"));
    }
    c.send(&get("/"));
    let r = c.read_response();
    assert_eq!(r.status, 429, "{}", r.head);
    r.assert_error_body();
    let retry = r.header("retry-after").unwrap_or_else(|| panic!("429 without Retry-After:\n{}", r.head));
    assert!(retry.parse::<u64>().is_ok_and(|s| s >= 1), "Retry-After {retry:?}");
    // The limit does not close the connection, and health checks stay exempt.
    for path in ["/health", "/api/health", "/healthz", "/health", "/health"] {
        c.send(&get(path));
        assert_eq!(c.read_response().status, 200, "{path} is exempt from the rate limit");
    }
    assert_eq!(srv.get("/").status, 429, "still limited on a new connection");
}

#[test]
fn max_requests_per_connection_closes_after_the_last() {
    let srv = TestServer::gateway(json!({ "limits": { "max_requests_per_connection": 3 } }));
    let mut c = srv.connect();
    for i in 1..=3 {
        c.send(&get("/health"));
        let r = c.read_response();
        assert_eq!(r.status, 200);
        assert_eq!(r.closes(), i == 3, "request {i} of 3:\n{}", r.head);
    }
    assert!(c.read_until_eof().is_empty());
}

#[test]
fn client_that_never_reads_is_cut_at_the_write_timeout() {
    let srv = TestServer::gateway(json!({
        "limits": { "write_timeout_ms": 500 },
        "rate_limit": { "window_ms": 1000, "max_requests": 10000000 }
    }));
    // A small receive buffer so the kernel cannot absorb the responses for us.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect_timeout(&srv.addr.into(), Duration::from_secs(3)).expect("connect");
    let stream: std::net::TcpStream = socket.into();
    stream.set_write_timeout(Some(Duration::from_secs(3))).expect("write timeout");
    let mut writer = stream.try_clone().expect("clone");
    let n = 40_000usize;
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Built before the clock starts: on a slow machine building it takes longer than the wait.
    let one = get("/health");
    let all: Vec<u8> = one.iter().copied().cycle().take(one.len() * n).collect();
    let sender = {
        let sent = std::sync::Arc::clone(&sent);
        std::thread::spawn(move || {
            // Stops (timeout or reset) once the server stops reading and then cuts us off.
            for piece in all.chunks(16 * 1024) {
                if writer.write_all(piece).is_err() {
                    break;
                }
                sent.fetch_add(piece.len(), std::sync::atomic::Ordering::Relaxed);
            }
            sent.fetch_add(usize::MAX / 2, std::sync::atomic::Ordering::Relaxed);
        })
    };
    // Wait until the server has stopped reading (our writes stall for 500 ms) or has read
    // everything, however slow the machine is; then read nothing for well past the write
    // timeout, so the server's output is stuck for longer than write_timeout_ms.
    let mut last = 0;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = sent.load(std::sync::atomic::Ordering::Relaxed);
        if (now == last && now > 0) || now >= usize::MAX / 2 {
            break;
        }
        last = now;
    }
    // Six times the write timeout: a starved server (a loaded CI box) still has time to fill the
    // socket buffers with the queued responses and see its output stuck for 500 ms.
    std::thread::sleep(Duration::from_millis(3000));
    let t = Instant::now();
    let mut reader = stream;
    reader.set_read_timeout(Some(Duration::from_secs(3))).expect("read timeout");
    let mut total = 0usize;
    let mut buf = [0u8; 64 * 1024];
    let ended = loop {
        match std::io::Read::read(&mut reader, &mut buf) {
            Ok(0) => break true,
            Ok(k) => total += k,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
        if t.elapsed() > Duration::from_secs(4) {
            break false;
        }
    };
    let _ = sender.join();
    let per_response = {
        let mut one = srv.connect();
        one.send(&get("/health"));
        let r = one.read_response();
        r.head.len() + 4 + r.body.len()
    };
    assert!(ended, "the server kept a non-reading client open past write_timeout_ms ({total} bytes read)");
    assert!(total < per_response * n, "every response was delivered ({total} bytes): no write timeout happened");
}

#[test]
fn max_connections_pauses_accept_until_a_slot_frees() {
    let srv = TestServer::gateway(json!({ "max_connections": 2 }));
    let mut a = srv.connect();
    a.send(&get("/health"));
    assert_eq!(a.read_response().status, 200);
    let mut b = srv.connect();
    b.send(&get("/health"));
    assert_eq!(b.read_response().status, 200);

    // The third waits in the backlog: not served, not closed.
    let mut c = srv.connect();
    c.send(&get("/health"));
    match c.try_read_response_within(false, Duration::from_millis(500)) {
        Err(support::ReadError::Timeout(got)) => assert!(got.is_empty()),
        Ok(r) => panic!("served past max_connections: {}", r.head),
        Err(e) => panic!("third connection dropped instead of waiting: {e:?}"),
    }
    drop(a);
    let r = c.read_response();
    assert_eq!(r.status, 200, "served once a slot frees");
    b.send(&get("/health"));
    assert_eq!(b.read_response().status, 200);
}

#[test]
fn many_stalled_heads_are_all_cut_on_time() {
    let srv = TestServer::gateway(json!({ "limits": { "header_timeout_ms": 700 } }));
    let t = Instant::now();
    let mut stalled: Vec<Conn> = (0..40)
        .map(|i| {
            let mut c = srv.connect();
            c.send(format!("GET /health HTTP/1.1\r\nHost: t\r\nX-Stall-{i}: ").as_bytes());
            c
        })
        .collect();
    let r = srv.get("/health");
    assert_eq!(r.status, 200, "served while 40 heads are stalled");
    for (i, c) in stalled.iter_mut().enumerate() {
        let r = c.read_response();
        assert_eq!(r.status, 408, "stalled connection {i}");
        assert!(r.closes());
    }
    assert!(t.elapsed() < Duration::from_millis(1800), "all 408s by {:?}", t.elapsed());
}

#[test]
fn rate_limiter_memory_is_bounded_under_many_client_addresses() {
    let srv = TestServer::gateway(json!({
        "trusted_proxies": ["127.0.0.1/32"],
        "rate_limit": { "window_ms": 60000, "max_requests": 600, "max_tracked_ips": 2 }
    }));
    let from = |ip: &str| support::get_with("/", &[&format!("X-Forwarded-For: {ip}")]);
    assert_eq!(srv.request(&from("198.51.100.1")).status, 302);
    assert_eq!(srv.request(&from("198.51.100.2")).status, 302);
    let r = srv.request(&from("198.51.100.3"));
    assert_eq!(r.status, 429, "a third address with max_tracked_ips 2 is refused, not tracked: {}", r.text());
    assert!(r.header("retry-after").is_some(), "{}", r.head);
    r.assert_error_body();
    assert_eq!(srv.request(&from("198.51.100.1")).status, 302, "tracked clients keep their budget");
    assert_eq!(srv.get("/health").status, 200, "health is exempt");
}
