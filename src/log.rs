//! Structured logs: one JSON (or text) line per event, written by a dedicated thread.
//!
//! Guarantees: the event loop never blocks on log I/O. Lines are formatted into a
//! per-reactor buffer and handed to the writer thread in chunks of up to
//! [`LINES_PER_CHUNK`] lines, or after [`FLUSH_AFTER`] at the latest, over a bounded queue
//! (few hand-offs, so the writer rarely preempts the event loop on a shared core); when the queue is full the lines are counted in
//! `talon_log_lines_dropped_total`, never buffered without limit. Request lines carry
//! the path without its query, so a `?token=` never reaches a log.

use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use parking_lot::Mutex;

use crate::config::{LogLevel, Settings};
use crate::metrics::Metrics;
use crate::protocol::http1::date::rfc3339_millis;
use crate::protocol::http1::response::push_u64;

/// Lines per chunk handed to the writer thread.
pub const LINES_PER_CHUNK: usize = 256;
/// Longest a formatted line waits in a reactor before it is handed to the writer.
pub const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// The process logger.
#[derive(Debug)]
pub struct Logger {
    tx: Mutex<Option<Sender<Vec<u8>>>>,
    level: LogLevel,
    json: bool,
    metrics: Arc<Metrics>,
    writer: Mutex<Option<JoinHandle<()>>>,
    queue: Receiver<Vec<u8>>,
    max_lines_per_chunk: usize,
    /// The newest lines, for `/api/logs/recent` and `/api/logs/live`.
    pub tail: Arc<crate::logtail::LogTail>,
}

/// A value in a log line.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    /// Text (escaped for JSON).
    Str(&'a str),
    /// A number.
    U64(u64),
}

impl Logger {
    /// Open the log destination and start the writer thread.
    ///
    /// # Errors
    /// The log file or its directory cannot be created.
    pub fn start(settings: &Settings, metrics: Arc<Metrics>) -> std::io::Result<Arc<Self>> {
        let mut sink: Box<dyn Write + Send> = match &settings.log_file {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                Box::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?)
            }
            None => Box::new(std::io::stderr()),
        };
        // `logging.queue_lines` bounds the lines in flight; the queue holds whole chunks.
        let chunks = settings.log_queue_lines.div_ceil(LINES_PER_CHUNK).max(2);
        let (tx, rx) = bounded::<Vec<u8>>(chunks);
        let writer_rx = rx.clone();
        let tail = Arc::new(crate::logtail::LogTail::default());
        let writer_tail = Arc::clone(&tail);
        let writer = std::thread::Builder::new().name("talon-log".into()).spawn(move || {
            for chunk in &writer_rx {
                // A failing log sink must not take the gateway down; the lines are lost.
                let _ = sink.write_all(&chunk);
                writer_tail.push_chunk(&chunk);
                if writer_rx.is_empty() {
                    let _ = sink.flush();
                }
            }
            let _ = sink.flush();
        })?;
        Ok(Arc::new(Self {
            tx: Mutex::new(Some(tx)),
            level: settings.log_level,
            json: settings.log_json,
            metrics,
            writer: Mutex::new(Some(writer)),
            queue: rx,
            max_lines_per_chunk: LINES_PER_CHUNK.min(settings.log_queue_lines).max(1),
            tail,
        }))
    }

    /// Whether lines of `level` are written.
    #[must_use]
    pub fn enabled(&self, level: LogLevel) -> bool {
        level <= self.level
    }

    /// Chunks (batches of lines from one loop iteration) waiting for the writer.
    #[must_use]
    pub fn queued_chunks(&self) -> usize {
        self.queue.len()
    }

    /// Write one event now (start-up, shutdown, errors; not for the per-request path).
    pub fn event(&self, level: LogLevel, msg: &str, fields: &[(&str, Field<'_>)]) {
        if !self.enabled(level) {
            return;
        }
        let mut buf = LogBuffer::default();
        buf.line(self, level, msg, fields);
        buf.flush(self);
    }

    fn send(&self, chunk: Vec<u8>, lines: usize) {
        let tx = self.tx.lock();
        let Some(tx) = tx.as_ref() else { return };
        match tx.try_send(chunk) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                for _ in 0..lines {
                    self.metrics.log_line_dropped();
                }
            }
        }
    }

    /// Flush and stop the writer thread; later events are discarded.
    pub fn shutdown(&self) {
        drop(self.tx.lock().take());
        if let Some(handle) = self.writer.lock().take() {
            let _ = handle.join();
        }
    }
}

/// Lines formatted on a reactor, sent to the writer in one chunk.
#[derive(Debug, Default)]
pub struct LogBuffer {
    buf: Vec<u8>,
    lines: usize,
    ts_ms: u64,
    ts: Vec<u8>,
    client_ip: Option<IpAddr>,
    client_text: String,
    first_line_at: Option<Instant>,
}

/// What one request line records.
#[derive(Debug, Clone, Copy)]
pub struct RequestRecord<'a> {
    /// Request id (also used to correlate errors).
    pub request_id: u64,
    /// Method token.
    pub method: &'a str,
    /// Path without query.
    pub path: &'a str,
    /// Status sent.
    pub status: u16,
    /// Response bytes (head + body).
    pub bytes: usize,
    /// Microseconds from complete head to response queued.
    pub duration_us: u64,
    /// Client address.
    pub client: IpAddr,
}

impl LogBuffer {
    /// Format one event line.
    pub fn line(&mut self, logger: &Logger, level: LogLevel, msg: &str, fields: &[(&str, Field<'_>)]) {
        if !logger.enabled(level) {
            return;
        }
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        let ts = rfc3339_millis(ts);
        let level = level_name(level);
        let b = &mut self.buf;
        if logger.json {
            b.extend_from_slice(b"{\"ts\":\"");
            b.extend_from_slice(ts.as_bytes());
            b.extend_from_slice(b"\",\"level\":\"");
            b.extend_from_slice(level.as_bytes());
            b.extend_from_slice(b"\",\"msg\":");
            push_json_str(b, msg);
            for (k, v) in fields {
                b.push(b',');
                push_json_str(b, k);
                b.push(b':');
                match v {
                    Field::Str(s) => push_json_str(b, s),
                    Field::U64(n) => b.extend_from_slice(n.to_string().as_bytes()),
                }
            }
            b.extend_from_slice(b"}\n");
        } else {
            let _ = write!(b, "{ts} {} {msg}", level.to_ascii_uppercase());
            for (k, v) in fields {
                let _ = match v {
                    Field::Str(s) => write!(b, " {k}={}", s.escape_debug()),
                    Field::U64(n) => write!(b, " {k}={n}"),
                };
            }
            b.push(b'\n');
        }
        self.count_line(logger);
    }

    /// Format the line for one finished request, straight into the buffer (this runs once
    /// per request on the event loop, so it allocates nothing in the steady state).
    pub fn request(&mut self, logger: &Logger, r: &RequestRecord<'_>) {
        if !logger.enabled(LogLevel::Info) {
            return;
        }
        self.refresh_timestamp();
        if self.client_ip != Some(r.client) {
            self.client_ip = Some(r.client);
            self.client_text = r.client.to_string();
        }
        let Self { buf: b, ts, client_text, .. } = self;
        if logger.json {
            // Hand-assembled: this line is written once per request on the event loop.
            b.extend_from_slice(b"{\"ts\":\"");
            b.extend_from_slice(ts);
            b.extend_from_slice(b"\",\"level\":\"info\",\"msg\":\"request\",\"request_id\":\"");
            push_hex16(b, r.request_id);
            b.extend_from_slice(b"\",\"method\":");
            push_json_str(b, r.method);
            b.extend_from_slice(b",\"path\":");
            push_json_str(b, r.path);
            b.extend_from_slice(b",\"status\":");
            push_u64(b, u64::from(r.status));
            b.extend_from_slice(b",\"bytes\":");
            push_u64(b, r.bytes as u64);
            b.extend_from_slice(b",\"duration_us\":");
            push_u64(b, r.duration_us);
            b.extend_from_slice(b",\"client\":\"");
            b.extend_from_slice(client_text.as_bytes());
            b.extend_from_slice(b"\"}\n");
        } else {
            b.extend_from_slice(ts);
            let _ = writeln!(
                b,
                " INFO request request_id={:016x} method={} path={} status={} bytes={} duration_us={} client={}",
                r.request_id,
                r.method.escape_debug(),
                r.path.escape_debug(),
                r.status,
                r.bytes,
                r.duration_us,
                r.client
            );
        }
        self.count_line(logger);
    }

    /// Format the current time as RFC 3339, at most once per millisecond.
    fn refresh_timestamp(&mut self) {
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        if ms != self.ts_ms || self.ts.is_empty() {
            self.ts_ms = ms;
            self.ts = rfc3339_millis(ms).into_bytes();
        }
    }

    fn count_line(&mut self, logger: &Logger) {
        self.lines += 1;
        if self.first_line_at.is_none() {
            self.first_line_at = Some(Instant::now());
        }
        if self.lines >= logger.max_lines_per_chunk {
            self.flush(logger);
        }
    }

    /// When buffered lines must be handed over at the latest (for the reactor's poll timeout).
    #[must_use]
    pub fn flush_deadline(&self) -> Option<Instant> {
        self.first_line_at.map(|t| t + FLUSH_AFTER)
    }

    /// Hand the lines over if the oldest has waited [`FLUSH_AFTER`].
    pub fn flush_if_due(&mut self, logger: &Logger, now: Instant) {
        if self.flush_deadline().is_some_and(|t| now >= t) {
            self.flush(logger);
        }
    }

    /// Hand the buffered lines to the writer thread.
    pub fn flush(&mut self, logger: &Logger) {
        self.first_line_at = None;
        if self.lines == 0 {
            return;
        }
        let capacity = self.buf.capacity();
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(capacity));
        logger.send(chunk, self.lines);
        self.lines = 0;
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    }
}

fn push_json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') {
        // Printable ASCII without quote or backslash needs no escaping (the common path).
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

fn push_hex16(out: &mut Vec<u8>, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        let nibble = ((n >> (shift * 4)) & 0xf) as usize;
        out.push(DIGITS.get(nibble).copied().unwrap_or(b'0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fragments() {
        let mut out = Vec::new();
        push_json_str(&mut out, "/plain/path");
        push_json_str(&mut out, "a\"b\\c\n\u{1}é");
        push_hex16(&mut out, 0x1234_abcd);
        assert_eq!(String::from_utf8(out).unwrap(), r#""/plain/path""a\"b\\c\n\u0001é"000000001234abcd"#);
    }
}
