//! A fake OpenAI-compatible upstream that streams `word ` (or any text) every `every` (600 times, or until
//! the client goes away): the slow upstream an abort or a vanished client has to cut short.
//! It counts the streams whose client closed the connection before the end, so a test can see
//! that the gateway really stopped the upstream request.
//!
//! Include with `#[path = "support/slow_upstream.rs"] mod slow_upstream;` next to `mod support;`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::TestServer;

/// The running fake upstream.
pub struct SlowUpstream {
    /// Its base URL (`http://127.0.0.1:<port>/v1`).
    pub base: String,
    stop: Arc<AtomicBool>,
    cut: Arc<AtomicUsize>,
}

impl SlowUpstream {
    /// Listen on 127.0.0.1:0 and stream one `word ` per `every` on each request.
    #[must_use]
    pub fn start(every: Duration) -> Self {
        Self::start_with(every, "word ")
    }

    /// As [`SlowUpstream::start`], streaming `word` (any text) each time.
    #[must_use]
    pub fn start_with(every: Duration, word: &str) -> Self {
        let word = word.to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}/v1", listener.local_addr().expect("addr"));
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(AtomicUsize::new(0));
        let (stop2, cut2) = (Arc::clone(&stop), Arc::clone(&cut));
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (cut, word) = (Arc::clone(&cut2), word.clone());
                thread::spawn(move || {
                    if stream_slowly(conn, every, &word) == Ended::ClientLeft {
                        cut.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Self { base, stop, cut }
    }

    /// Streams whose client closed the connection before the last word.
    #[must_use]
    pub fn cut_short(&self) -> usize {
        self.cut.load(Ordering::SeqCst)
    }
}

impl Drop for SlowUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let addr = self.base.trim_start_matches("http://").trim_end_matches("/v1").to_owned();
        let _ = TcpStream::connect(addr);
    }
}

#[derive(PartialEq, Eq)]
enum Ended {
    BadRequest,
    ClientLeft,
    Complete,
}

fn stream_slowly(mut conn: TcpStream, every: Duration, word: &str) -> Ended {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return Ended::BadRequest,
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
        return Ended::BadRequest;
    }
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    if conn.write_all(head.as_bytes()).is_err() {
        return Ended::ClientLeft;
    }
    for _ in 0..600 {
        let chunk = json!({ "choices": [{ "index": 0, "delta": { "content": word } }] });
        if conn.write_all(format!("data: {chunk}\n\n").as_bytes()).and_then(|()| conn.flush()).is_err() {
            return Ended::ClientLeft;
        }
        thread::sleep(every);
    }
    Ended::Complete
}

/// A server whose default model is the slow upstream's (`slow/slow-model`), with `agent` as
/// its agent section otherwise.
#[must_use]
pub fn slow_server(upstream: &SlowUpstream, agent: Value) -> TestServer {
    let mut agent = agent;
    agent["default_model"] = json!("slow/slow-model");
    TestServer::from_doc(json!({
        "agent": agent,
        "providers": { "slow": { "kind": "openai-compatible", "base_url": upstream.base, "models": ["slow-model"], "max_retries": 0 } },
    }))
}
