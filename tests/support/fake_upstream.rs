//! A fake OpenAI-compatible upstream for tests that need a turn to take as long as the test
//! says: a std `TcpListener` on 127.0.0.1:0 that answers every `POST …/chat/completions` with
//! a close-delimited SSE stream of the given tokens (then a finish chunk, a usage chunk and
//! `data: [DONE]`), each token after `every`, and only once its gate is open.
//!
//! A held gate makes "the upstream has the request and the turn cannot end" a state the test
//! can wait for and rely on, with no timing assumption. Every read has a deadline.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The running fake.
pub struct FakeUpstream {
    /// `http://127.0.0.1:<port>/v1`, for `providers.<name>.base_url`.
    pub base: String,
    requests: Arc<AtomicUsize>,
    open: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl FakeUpstream {
    /// Stream `tokens`, one every `every`, to every request; the gate starts open.
    #[must_use]
    pub fn start(tokens: &[&str], every: Duration) -> Self {
        Self::with_gate(tokens, every, true)
    }

    /// As [`FakeUpstream::start`], with the gate closed: requests are read and counted, and
    /// their streams wait (sending nothing) until [`FakeUpstream::release`].
    #[must_use]
    pub fn held(tokens: &[&str], every: Duration) -> Self {
        Self::with_gate(tokens, every, false)
    }

    fn with_gate(tokens: &[&str], every: Duration, open: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake upstream");
        let base = format!("http://{}/v1", listener.local_addr().expect("addr"));
        let (requests, open, stop) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(open)), Arc::new(AtomicBool::new(false)));
        let tokens: Arc<Vec<String>> = Arc::new(tokens.iter().map(|t| (*t).to_owned()).collect());
        let (r, o, s) = (Arc::clone(&requests), Arc::clone(&open), Arc::clone(&stop));
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (r, o, s, tokens) = (Arc::clone(&r), Arc::clone(&o), Arc::clone(&s), Arc::clone(&tokens));
                thread::spawn(move || serve(conn, &tokens, every, &r, &o, &s));
            }
        });
        Self { base, requests, open, stop }
    }

    /// Let every held and later stream go.
    pub fn release(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    /// Requests read so far.
    #[must_use]
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Wait until `n` requests were read (or `timeout` passed); whether they were.
    #[must_use]
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.requests() < n {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.open.store(true, Ordering::SeqCst);
        let addr = self.base.trim_start_matches("http://").trim_end_matches("/v1").to_owned();
        let _ = TcpStream::connect(addr);
    }
}

fn serve(
    mut conn: TcpStream,
    tokens: &[String],
    every: Duration,
    requests: &AtomicUsize,
    open: &AtomicBool,
    stop: &AtomicBool,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if conn.read_exact(&mut body).is_err() {
        return;
    }
    requests.fetch_add(1, Ordering::SeqCst);
    while !open.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(5));
    }
    let chunk = |delta: &str| {
        let v = serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": delta}}]});
        format!("data: {v}\n\n")
    };
    let _ = (|| {
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")?;
        for token in tokens {
            thread::sleep(every);
            conn.write_all(chunk(token).as_bytes())?;
            conn.flush()?;
        }
        let finish = serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
        let usage = serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": tokens.len()}});
        write!(conn, "data: {finish}\n\ndata: {usage}\n\ndata: [DONE]\n\n")?;
        conn.flush()
    })();
}
