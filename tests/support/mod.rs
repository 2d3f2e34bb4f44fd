//! Shared helpers for the integration tests: an in-process server on an ephemeral port,
//! a raw TCP client that never hangs, and a small HTTP/1.1 response parser.
//!
//! Every read has a deadline (`READ_DEADLINE` unless told otherwise), so a server that
//! stops answering makes a test fail in seconds instead of hanging the suite.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

mod chunked;

/// How long any one response may take to arrive before the test fails.
pub const READ_DEADLINE: Duration = Duration::from_secs(5);

/// A token that passes the server's strength checks (32+ bytes, no placeholder words).
pub const ADMIN_TOKEN: &str = "tln-admin-9f3c1d7e5b2a4c6e8d0f1a3b5c7d9e1f";

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty directory under the system temp dir, unique to this process and call.
#[must_use]
pub fn temp_dir(tag: &str) -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("talon-it-{tag}-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A gateway running in this process on 127.0.0.1 and an ephemeral port.
///
/// Dropping it shuts the server down gracefully, waits for it, and removes its data dir.
pub struct TestServer {
    server: Option<talon::server::Server>,
    /// The bound address.
    pub addr: SocketAddr,
    /// The server's data directory.
    pub dir: PathBuf,
}

impl TestServer {
    /// Start a server from a whole configuration document (JSON text).
    ///
    /// `gateway.port` defaults to 0, `gateway.shutdown_grace_ms` to 1000 and logging to
    /// stderr at level `error`, unless the document sets them.
    ///
    /// # Panics
    /// The JSON is malformed or the configuration is refused.
    #[must_use]
    pub fn from_json(config: &str) -> Self {
        let doc: Value = serde_json::from_str(config).expect("test config is JSON");
        Self::from_value(doc)
    }

    /// Start a server whose `gateway` section is `gateway` (other sections default).
    #[must_use]
    pub fn gateway(gateway: Value) -> Self {
        Self::from_value(json!({ "gateway": gateway }))
    }

    /// Start a server with the default configuration plus debug routes.
    #[must_use]
    pub fn debug() -> Self {
        Self::gateway(json!({ "debug_routes": true }))
    }

    /// Start a server from a whole configuration document given as JSON.
    #[must_use]
    pub fn from_doc(doc: Value) -> Self {
        Self::from_value(doc)
    }

    fn from_value(mut doc: Value) -> Self {
        let root = doc.as_object_mut().expect("config is a JSON object");
        let gw = root.entry("gateway").or_insert_with(|| json!({}));
        let gw = gw.as_object_mut().expect("gateway is an object");
        gw.entry("port").or_insert(json!(0));
        gw.entry("shutdown_grace_ms").or_insert(json!(1000));
        let logging = root.entry("logging").or_insert_with(|| json!({}));
        let logging = logging.as_object_mut().expect("logging is an object");
        logging.entry("file").or_insert(Value::Null);
        logging.entry("level").or_insert(json!("error"));

        let dir = temp_dir("srv");
        let text = serde_json::to_vec(&doc).expect("serialise config");
        let cfg = talon::config::load::parse(&text).unwrap_or_else(|e| panic!("config refused: {e}"));
        let loaded = talon::config::Loaded {
            config: cfg,
            data_dir: dir.clone(),
            config_path: dir.join("config.json"),
            file_found: true,
        };
        let settings = talon::config::validate(&loaded, &|_| None).unwrap_or_else(|errors| {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("config invalid: {}", list.join("; "))
        });
        let server = talon::server::start(settings).expect("server starts");
        let addr = server.local_addr();
        Self { server: Some(server), addr, dir }
    }

    /// The shared application state of the running server.
    #[must_use]
    pub fn app(&self) -> &Arc<talon::app::App> {
        self.server.as_ref().expect("server running").app()
    }

    /// Begin graceful shutdown without waiting (what SIGTERM does).
    pub fn begin_shutdown(&self) {
        if let Some(s) = &self.server {
            s.shutdown();
        }
    }

    /// Shut down and wait until every reactor has drained.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
            s.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// A new raw connection to the server.
    #[must_use]
    pub fn connect(&self) -> Conn {
        Conn::open(self.addr)
    }

    /// Send `bytes` on a fresh connection and read one response.
    #[must_use]
    pub fn request(&self, bytes: &[u8]) -> Response {
        let mut c = self.connect();
        c.send(bytes);
        c.read_response()
    }

    /// `GET path` on a fresh connection.
    #[must_use]
    pub fn get(&self, path: &str) -> Response {
        self.request(&get(path))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// `GET path HTTP/1.1` with a Host header.
#[must_use]
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

/// `GET path HTTP/1.1` with a Host header and extra header lines (each without CRLF).
#[must_use]
pub fn get_with(path: &str, headers: &[&str]) -> Vec<u8> {
    let mut s = format!("GET {path} HTTP/1.1\r\nHost: test\r\n");
    for h in headers {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// `POST path` with a Content-Length body.
#[must_use]
pub fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!("POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    v.extend_from_slice(body);
    v
}

/// `POST path` with a JSON content type, extra header lines (each without CRLF) and a body.
#[must_use]
pub fn post_with(path: &str, headers: &[String], body: &[u8]) -> Vec<u8> {
    let mut s = format!("POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n");
    for h in headers {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut v = s.into_bytes();
    v.extend_from_slice(body);
    v
}

/// Lower-case hex of `bytes`.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why reading a response failed.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (EOF or reset) before a whole response arrived; the bytes so far.
    Closed(Vec<u8>),
    /// The deadline passed; the bytes so far.
    Timeout(Vec<u8>),
    /// The bytes are not an HTTP/1.1 response.
    Malformed(String),
}

/// One raw client connection with a read buffer (so pipelined responses parse in order).
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
    /// Deadline for each response read.
    pub deadline: Duration,
}

impl Conn {
    /// Connect with TCP_NODELAY so each `send` leaves as its own segment.
    ///
    /// # Panics
    /// The connection is refused.
    #[must_use]
    pub fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream.set_write_timeout(Some(Duration::from_secs(5))).expect("write timeout");
        Self { stream, buf: Vec::new(), eof: false, deadline: READ_DEADLINE }
    }

    /// The underlying stream (e.g. to clone it for a writer thread).
    #[must_use]
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Write all of `bytes`.
    ///
    /// # Panics
    /// The write fails.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
        self.stream.flush().expect("flush");
    }

    /// Write all of `bytes`, reporting failure instead of panicking.
    ///
    /// # Errors
    /// The write fails (e.g. the server already closed).
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Close our write side (the server sees EOF).
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Bytes received but not yet consumed by a parsed response.
    #[must_use]
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Read more bytes into the buffer before `until`. `Ok(0)` means EOF (or reset).
    fn fill(&mut self, until: Instant) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        let now = Instant::now();
        if now >= until {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let wait = (until - now).max(Duration::from_millis(1));
        self.stream.set_read_timeout(Some(wait))?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe
                    ) =>
                {
                    self.eof = true;
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Read one whole response (a 1xx interim response counts as one).
    ///
    /// # Panics
    /// No complete response arrives within the deadline.
    #[must_use]
    pub fn read_response(&mut self) -> Response {
        self.try_read_response(false).unwrap_or_else(|e| panic!("reading a response: {}", describe(&e)))
    }

    /// Read the response to a HEAD request (headers only, whatever Content-Length says).
    ///
    /// # Panics
    /// No complete head arrives within the deadline.
    #[must_use]
    pub fn read_head_response(&mut self) -> Response {
        self.try_read_response(true).unwrap_or_else(|e| panic!("reading a HEAD response: {}", describe(&e)))
    }

    /// Read one response; `head_only` for answers to HEAD.
    ///
    /// # Errors
    /// See [`ReadError`].
    pub fn try_read_response(&mut self, head_only: bool) -> Result<Response, ReadError> {
        self.try_read_response_within(head_only, self.deadline)
    }

    /// As [`Conn::try_read_response`] with an explicit deadline.
    ///
    /// # Errors
    /// See [`ReadError`].
    pub fn try_read_response_within(&mut self, head_only: bool, within: Duration) -> Result<Response, ReadError> {
        let until = Instant::now() + within;
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = self.buf.get(..end).unwrap_or_default().to_vec();
                let mut resp = parse_head(&head)?;
                let start = end + 4;
                let bodiless = head_only || resp.status < 200 || resp.status == 204 || resp.status == 304;
                let body_len = if bodiless {
                    Some(0)
                } else {
                    match resp.header("content-length") {
                        Some(v) => {
                            Some(v.trim().parse::<usize>().map_err(|_| ReadError::Malformed(format!("bad CL {v:?}")))?)
                        }
                        None => None,
                    }
                };
                match body_len {
                    Some(n) => {
                        while self.buf.len() < start + n {
                            match self.fill(until) {
                                Ok(0) => return Err(ReadError::Closed(self.buf.clone())),
                                Ok(_) => {}
                                Err(_) => return Err(ReadError::Timeout(self.buf.clone())),
                            }
                        }
                        resp.body = self.buf.get(start..start + n).unwrap_or_default().to_vec();
                        self.buf.drain(..start + n);
                    }
                    None => {
                        // No length: the body runs to EOF.
                        loop {
                            match self.fill(until) {
                                Ok(0) => break,
                                Ok(_) => {}
                                Err(_) => return Err(ReadError::Timeout(self.buf.clone())),
                            }
                        }
                        resp.body = self.buf.get(start..).unwrap_or_default().to_vec();
                        self.buf.clear();
                    }
                }
                return Ok(resp);
            }
            match self.fill(until) {
                Ok(0) => return Err(ReadError::Closed(self.buf.clone())),
                Ok(_) => {}
                Err(_) => return Err(ReadError::Timeout(self.buf.clone())),
            }
        }
    }

    /// Everything left until the peer closes, including bytes already buffered.
    ///
    /// # Panics
    /// The peer does not close within `within`.
    #[must_use]
    pub fn read_until_eof_within(&mut self, within: Duration) -> Vec<u8> {
        self.try_read_until_eof(within).unwrap_or_else(|got| {
            panic!("connection still open after {within:?}; got {:?}", String::from_utf8_lossy(&got))
        })
    }

    /// Everything left until the peer closes, with the default deadline.
    ///
    /// # Panics
    /// The peer does not close in time.
    #[must_use]
    pub fn read_until_eof(&mut self) -> Vec<u8> {
        self.read_until_eof_within(self.deadline)
    }

    /// Everything left until the peer closes.
    ///
    /// # Errors
    /// The deadline passed first; the bytes so far.
    pub fn try_read_until_eof(&mut self, within: Duration) -> Result<Vec<u8>, Vec<u8>> {
        let until = Instant::now() + within;
        loop {
            match self.fill(until) {
                Ok(0) => return Ok(std::mem::take(&mut self.buf)),
                Ok(_) => {}
                Err(_) => return Err(self.buf.clone()),
            }
        }
    }

    /// Whether the peer has closed (EOF seen, or seen now within `within`), ignoring any
    /// bytes that arrive meanwhile (they stay buffered).
    pub fn closed_within(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        loop {
            match self.fill(until) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }
}

fn describe(e: &ReadError) -> String {
    match e {
        ReadError::Closed(b) => format!("connection closed after {:?}", String::from_utf8_lossy(b)),
        ReadError::Timeout(b) => format!("timed out after {:?}", String::from_utf8_lossy(b)),
        ReadError::Malformed(m) => format!("malformed response: {m}"),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> Result<Response, ReadError> {
    let text = std::str::from_utf8(head).map_err(|_| ReadError::Malformed("head is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if version != "HTTP/1.1" {
        return Err(ReadError::Malformed(format!("status line {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| ReadError::Malformed(format!("status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) =
            line.split_once(':').ok_or_else(|| ReadError::Malformed(format!("header line {line:?}")))?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(Response { status, reason, headers, body: Vec::new(), head: text.to_owned() })
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields in order, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (empty for HEAD, 1xx, 204, 304).
    pub body: Vec<u8>,
    /// The head as text, for failure messages.
    pub head: String,
}

impl Response {
    /// The first value of `name` (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    #[must_use]
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether the response says `Connection: close`.
    #[must_use]
    pub fn closes(&self) -> bool {
        self.header_all("connection").iter().any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }

    /// The body as (lossy) text.
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// The body is not JSON.
    #[must_use]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}\n{}", self.head, self.text()))
    }

    /// Check the error body contract: JSON with a non-empty `error` code and `message`.
    ///
    /// # Errors
    /// What is wrong with the body.
    pub fn check_error_body(&self) -> Result<(), String> {
        let v: Value = serde_json::from_slice(&self.body)
            .map_err(|e| format!("error body is not JSON ({e}): {:?}", self.text()))?;
        let nonempty = |k: &str| v.get(k).and_then(Value::as_str).is_some_and(|s| !s.trim().is_empty());
        if !nonempty("error") {
            return Err(format!("error body lacks a non-empty \"error\": {}", self.text()));
        }
        if !nonempty("message") {
            return Err(format!("error body lacks a non-empty \"message\": {}", self.text()));
        }
        if !self.header("content-type").is_some_and(|t| t.starts_with("application/json")) {
            return Err(format!("error response Content-Type is {:?}", self.header("content-type")));
        }
        Ok(())
    }

    /// Assert the error body contract.
    ///
    /// # Panics
    /// The body breaks it.
    pub fn assert_error_body(&self) {
        if let Err(e) = self.check_error_body() {
            panic!("{e}\n{}", self.head);
        }
    }
}

/// Read a response or fail with `ctx` in the message.
///
/// # Panics
/// As [`Conn::read_response`].
#[must_use]
pub fn expect_response(c: &mut Conn, ctx: &str) -> Response {
    c.try_read_response(false).unwrap_or_else(|e| panic!("{ctx}: {}", describe(&e)))
}
