//! The one fake OpenAI-compatible upstream of the integration tests: a std `TcpListener` on
//! 127.0.0.1:0 that answers every `POST …/chat/completions` with a close-delimited SSE stream
//! of the given tokens, one every `every` (then a finish chunk, a usage chunk and
//! `data: [DONE]`).
//!
//! - [`FakeUpstream::start`]: a short stream, at once.
//! - [`FakeUpstream::held`]: the same behind a closed gate; requests are read and counted, and
//!   their streams wait until [`FakeUpstream::release`]. "The upstream has the request and the
//!   turn cannot end" is then a state a test can wait for ([`FakeUpstream::wait_for_requests`])
//!   with no timing assumption.
//! - [`FakeUpstream::endless`]: `word ` [`ENDLESS_WORDS`] times (a minute at 100 ms): the slow
//!   upstream an abort or a vanished client has to cut short. [`FakeUpstream::cut_short`]
//!   counts the streams whose client closed the connection before the end, so a test can see
//!   that the gateway really stopped the upstream request.
//!
//! Every read has a deadline. Include with `#[path = "support/fake_upstream.rs"] mod
//! fake_upstream;` next to `mod support;`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::TestServer;

/// How many times [`FakeUpstream::endless`] streams its word before it ends the stream.
pub const ENDLESS_WORDS: usize = 600;

/// The model id [`FakeUpstream::server`] configures as the default (`providers.slow`).
pub const MODEL: &str = "slow/slow-model";

/// What every connection streams.
struct Script {
    tokens: Vec<String>,
    /// How many times `tokens` is streamed, in order.
    times: usize,
    every: Duration,
}

/// What the test and the connection threads share.
#[derive(Default)]
struct Shared {
    requests: AtomicUsize,
    cut: AtomicUsize,
    open: AtomicBool,
    stop: AtomicBool,
}

/// The running fake.
pub struct FakeUpstream {
    /// `http://127.0.0.1:<port>/v1`, for `providers.<name>.base_url`.
    pub base: String,
    shared: Arc<Shared>,
}

impl FakeUpstream {
    /// Stream `tokens`, one every `every`, to every request; the gate starts open.
    #[must_use]
    pub fn start(tokens: &[&str], every: Duration) -> Self {
        Self::launch(Script { tokens: owned(tokens), times: 1, every }, true)
    }

    /// As [`FakeUpstream::start`], with the gate closed: requests are read and counted, and
    /// their streams wait (sending nothing) until [`FakeUpstream::release`].
    #[must_use]
    pub fn held(tokens: &[&str], every: Duration) -> Self {
        Self::launch(Script { tokens: owned(tokens), times: 1, every }, false)
    }

    /// Stream `word ` every `every`, [`ENDLESS_WORDS`] times, to every request.
    #[must_use]
    pub fn endless(every: Duration) -> Self {
        Self::endless_with(every, "word ")
    }

    /// As [`FakeUpstream::endless`], streaming `word` (any text) each time.
    #[must_use]
    pub fn endless_with(every: Duration, word: &str) -> Self {
        Self::launch(Script { tokens: owned(&[word]), times: ENDLESS_WORDS, every }, true)
    }

    fn launch(script: Script, open: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake upstream");
        let base = format!("http://{}/v1", listener.local_addr().expect("addr"));
        let shared = Arc::new(Shared { open: AtomicBool::new(open), ..Shared::default() });
        let (script, accepted) = (Arc::new(script), Arc::clone(&shared));
        thread::spawn(move || {
            for conn in listener.incoming() {
                if accepted.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (script, shared) = (Arc::clone(&script), Arc::clone(&accepted));
                thread::spawn(move || {
                    if serve(conn, &script, &shared) == Ended::ClientLeft {
                        shared.cut.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Self { base, shared }
    }

    /// Let every held and later stream go.
    pub fn release(&self) {
        self.shared.open.store(true, Ordering::SeqCst);
    }

    /// Requests read so far.
    #[must_use]
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
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

    /// Streams whose client closed the connection before the end.
    #[must_use]
    pub fn cut_short(&self) -> usize {
        self.shared.cut.load(Ordering::SeqCst)
    }

    /// An in-process server whose default model is this upstream's ([`MODEL`]), configured
    /// by the sections of `doc` otherwise (an `agent` section keeps its other keys).
    #[must_use]
    pub fn server(&self, doc: Value) -> TestServer {
        let mut doc = doc;
        doc["agent"]["default_model"] = json!(MODEL);
        doc["providers"] = json!({ "slow": {
            "kind": "openai-compatible", "base_url": self.base, "models": ["slow-model"], "max_retries": 0,
        } });
        TestServer::from_doc(doc)
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.open.store(true, Ordering::SeqCst);
        let addr = self.base.trim_start_matches("http://").trim_end_matches("/v1").to_owned();
        let _ = TcpStream::connect(addr);
    }
}

fn owned(tokens: &[&str]) -> Vec<String> {
    tokens.iter().map(|t| (*t).to_owned()).collect()
}

#[derive(PartialEq, Eq)]
enum Ended {
    BadRequest,
    ClientLeft,
    Complete,
}

/// Read one request (head and `Content-Length` body); `false` if it did not come whole.
fn read_request(conn: &mut TcpStream) -> bool {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).is_ok()
}

fn serve(mut conn: TcpStream, script: &Script, shared: &Shared) -> Ended {
    if !read_request(&mut conn) {
        return Ended::BadRequest;
    }
    shared.requests.fetch_add(1, Ordering::SeqCst);
    while !shared.open.load(Ordering::SeqCst) && !shared.stop.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(5));
    }
    let chunk = |delta: Value, finish: Value| {
        let v = json!({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {v}\n\n")
    };
    let mut sent = 0usize;
    let streamed = (|| {
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")?;
        for token in script.tokens.iter().cycle().take(script.tokens.len() * script.times) {
            thread::sleep(script.every);
            conn.write_all(chunk(json!({ "content": token }), Value::Null).as_bytes())?;
            conn.flush()?;
            sent += 1;
        }
        let usage = json!({"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": sent}});
        write!(conn, "{}data: {usage}\n\ndata: [DONE]\n\n", chunk(json!({}), json!("stop")))?;
        conn.flush()
    })();
    if streamed.is_ok() { Ended::Complete } else { Ended::ClientLeft }
}
