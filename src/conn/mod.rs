//! One client connection: its socket, buffers, deadlines and request state machine.
//!
//! Guarantees:
//! - Requests on a connection are handled one at a time, so pipelined responses leave in
//!   request order; while a request waits on the worker pool or the output passes
//!   [`WRITE_HIGH_WATER`], no further input is read (TCP pushes back on the client).
//! - Input held per connection is bounded: the head parser fails past `max_header_bytes`,
//!   body bytes move into the body buffer, bounded by `max_body_bytes`.
//! - A framing error gets one response with `Connection: close`; the write side is then
//!   shut and input drained for a short lingering period so the client sees the response.
//! - Every state has a deadline (header, body idle, keep-alive, write, linger) except
//!   waiting on a worker, which is bounded by graceful shutdown.

mod chat;
mod embed;
mod ingest;
mod live_chat;
mod request;
mod rpc;
mod stream;
mod turn_stream;
mod ws;

pub use stream::DELIVERY_BATCH;

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use crate::app::App;
use crate::http::Admitted;
use crate::log::LogBuffer;
use crate::protocol::http1::{BodyDecoder, RequestHead};
use crate::workers::ReplyTo;

/// Output queued past this stops request processing until the client reads.
pub const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Reads per wake-up before a connection yields to the others (fairness, as sozu's
/// `MAX_LOOP_ITERATIONS`); a connection with more input is revisited next iteration.
const MAX_READS_PER_WAKEUP: usize = 16;
/// How long input is drained after a final response before the socket is closed.
pub const LINGER: Duration = Duration::from_secs(2);
/// A buffer bigger than this is released once empty (or shrunk once mostly empty), so idle
/// connections stay small.
const KEEP_WRITE_CAPACITY: usize = 16 * 1024;

/// Why a deadline fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// The head did not complete in time.
    Header,
    /// The body stalled.
    BodyIdle,
    /// An idle keep-alive connection.
    KeepAlive,
    /// Output made no progress.
    Write,
    /// The lingering close is over.
    Linger,
    /// A WebSocket ping is due, a pong is overdue, or in-band auth expired.
    WebSocket,
    /// An SSE keep-alive ping is due.
    EventStream,
    /// A keep-alive comment of a streamed agent turn is due.
    TurnStream,
}

/// Whether the reactor should keep the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Keep it.
    Open,
    /// Deregister and drop it.
    Close,
}

/// A request between its head and its response.
#[derive(Debug)]
struct InFlight {
    head: RequestHead,
    admitted: Admitted,
    decoder: BodyDecoder,
    body: Vec<u8>,
    started: Instant,
    request_id: u64,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for (the rest of) a request head.
    Idle,
    /// Reading a request body.
    Body(Box<InFlight>),
    /// The request is on the worker pool.
    Waiting(Box<InFlight>),
    /// The last response is being written; then the write side is shut.
    Closing,
    /// Write side shut; input is read and dropped until EOF or the linger deadline.
    Lingering,
    /// Upgraded: WebSocket frames both ways.
    WebSocket(Box<ws::WsSession>),
    /// A Server-Sent Events stream: events out, input read and dropped.
    EventStream(Box<stream::SseSession>),
    /// An agent turn streamed as a chunked response; input is held, unprocessed, until its
    /// end (up to [`HELD_INPUT_WHILE_STREAMING`]).
    TurnStream(Box<turn_stream::TurnStream>),
}

/// Input read while a turn streams is kept for after it (pipelined requests); past this many
/// bytes reading stops and TCP pushes back. Reading on is what notices a client that left.
pub const HELD_INPUT_WHILE_STREAMING: usize = 16 * 1024;

/// Per-iteration context lent by the reactor.
pub struct Cx<'a> {
    /// Shared state.
    pub app: &'a Arc<App>,
    /// Loop time of this iteration.
    pub now: Instant,
    /// Cached `Date` header value.
    pub date: &'a [u8],
    /// Reactor read buffer.
    pub scratch: &'a mut [u8],
    /// Reactor log buffer.
    pub log: &'a mut LogBuffer,
    /// Where worker completions for this reactor go.
    pub reply: &'a ReplyTo,
    /// Request id counter of this reactor.
    pub request_seq: &'a mut u64,
    /// This reactor's event subscribers.
    pub events: &'a mut crate::reactor::Subscribers,
}

/// One connection.
#[derive(Debug)]
pub struct Connection {
    socket: TcpStream,
    peer: SocketAddr,
    token: usize,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    wpos: usize,
    phase: Phase,
    readable: bool,
    read_closed: bool,
    served: u64,
    head_started: Option<Instant>,
    idle_since: Instant,
    last_read: Instant,
    last_write: Instant,
    linger_until: Option<Instant>,
    drain: bool,
    /// Buffered input may hold a complete head: set when a newline or a size limit arrives,
    /// so a client trickling a head byte by byte does not make us re-parse it per byte.
    parse_pending: bool,
    /// The poller reported the peer's FIN (or an error); the EOF is still to be read.
    peer_hup: bool,
    /// Empty lines skipped since the last request head.
    blank_lines: u8,
    /// Earliest deadline this connection has in the reactor's timer heap.
    pub scheduled: Option<Instant>,
    /// On the reactor's list of connections to revisit (so it is listed once).
    pub revisit: bool,
    /// Counted as an event subscriber of its reactor (until [`Connection::leave_events`]).
    subscribed: bool,
}

impl Connection {
    /// Wrap an accepted socket.
    #[must_use]
    pub fn new(socket: TcpStream, peer: SocketAddr, token: usize, now: Instant) -> Self {
        Self {
            socket,
            peer,
            token,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            wpos: 0,
            phase: Phase::Idle,
            readable: false,
            read_closed: false,
            served: 0,
            head_started: None,
            idle_since: now,
            last_read: now,
            last_write: now,
            linger_until: None,
            drain: false,
            parse_pending: false,
            peer_hup: false,
            blank_lines: 0,
            scheduled: None,
            revisit: false,
            subscribed: false,
        }
    }

    /// The socket, for registration.
    pub fn socket_mut(&mut self) -> &mut TcpStream {
        &mut self.socket
    }

    /// The peer's IP.
    #[must_use]
    pub fn peer_ip(&self) -> IpAddr {
        self.peer.ip()
    }

    /// Whether the connection is idle between requests with nothing buffered.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Idle) && self.rbuf.is_empty() && self.pending_output() == 0
    }

    fn pending_output(&self) -> usize {
        self.wbuf.len().saturating_sub(self.wpos)
    }

    /// Graceful shutdown: finish the current request, then close instead of keeping alive.
    pub fn drain(&mut self) {
        self.drain = true;
    }

    /// Start taking bus events (before any replay, so nothing published meanwhile is missed).
    fn subscribe(&mut self, cx: &mut Cx<'_>) {
        if !self.subscribed {
            self.subscribed = true;
            cx.events.subscribe(self.token, &cx.app.bus);
        }
    }

    /// Stop being counted as a subscriber; returns whether it was one. The reactor calls it
    /// when the connection closes or stops taking events (a WebSocket that began closing).
    pub fn leave_events(&mut self) -> bool {
        std::mem::take(&mut self.subscribed)
    }

    /// Graceful shutdown begins: idle connections close now, WebSockets get close 1001,
    /// busy requests finish first.
    pub fn begin_drain(&mut self, cx: &mut Cx<'_>) -> Status {
        self.drain = true;
        if matches!(self.phase, Phase::WebSocket(_)) {
            self.ws_shutdown(cx);
            return self.pump(cx);
        }
        if matches!(self.phase, Phase::EventStream(_)) {
            self.phase = Phase::Closing;
            return self.pump(cx);
        }
        // The turn ends (aborted) soon and ends its stream; the connection then closes.
        self.turn_stream_abort();
        if self.is_idle() { Status::Close } else { Status::Open }
    }

    /// The socket became readable and/or writable; `hup` when the peer shut its side
    /// (then reads continue until they return 0, even after a short read).
    pub fn on_ready(&mut self, cx: &mut Cx<'_>, readable: bool, writable: bool, hup: bool) -> Status {
        if readable {
            self.readable = true;
        }
        if hup {
            self.peer_hup = true;
        }
        if writable && self.flush(cx.now).is_err() {
            return Status::Close;
        }
        self.pump(cx)
    }

    /// Whether the socket may hold more input that this connection can take now.
    #[must_use]
    pub fn wants_read(&self) -> bool {
        self.readable && !self.read_closed && self.can_read()
    }

    /// Read, process and write until nothing more can be done now, or the fairness bound.
    fn pump(&mut self, cx: &mut Cx<'_>) -> Status {
        let mut reads = 0usize;
        loop {
            if self.has_buffered_work() {
                self.process_buffered(cx);
            }
            if self.flush(cx.now).is_err() {
                return Status::Close;
            }
            if matches!(self.phase, Phase::EventStream(_)) && self.sse_drain(cx) == Status::Close {
                return Status::Close;
            }
            if self.pending_output() == 0 {
                match self.phase {
                    Phase::Closing => self.start_lingering(cx.now),
                    Phase::Lingering if self.read_closed => return Status::Close,
                    _ => {}
                }
            }
            // Output drained while requests were buffered behind it: answer them before
            // reading more (no further event may come for input we already hold).
            if self.has_buffered_work() {
                continue;
            }
            if !self.wants_read() || reads >= MAX_READS_PER_WAKEUP {
                break;
            }
            reads += 1;
            // The read buffer is lent out of `cx` while `advance` borrows `cx` mutably.
            let scratch = std::mem::take(&mut cx.scratch);
            let result = self.socket.read(scratch);
            match result {
                Ok(0) => {
                    self.read_closed = true;
                    self.readable = false;
                }
                Ok(n) => {
                    self.last_read = cx.now;
                    // A short read emptied the socket: with edge-triggered epoll the next byte
                    // raises a new event, so skip the read that would only say WouldBlock
                    // (nginx does the same; it saves one syscall per request).
                    if n < scratch.len() && !self.peer_hup {
                        self.readable = false;
                    }
                    // A stream's client has nothing to say; its bytes are dropped unread.
                    if !matches!(self.phase, Phase::Lingering | Phase::EventStream(_)) {
                        let data = scratch.get(..n).unwrap_or_default();
                        if self.rbuf.is_empty() {
                            let used = self.advance(cx, data);
                            self.rbuf.extend_from_slice(data.get(used..).unwrap_or_default());
                        } else {
                            let before = self.rbuf.len();
                            self.rbuf.extend_from_slice(data);
                            self.note_appended(cx.app, before, data);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    cx.scratch = scratch;
                    return Status::Close;
                }
            }
            cx.scratch = scratch;
        }
        if self.drain && self.is_idle() {
            // Shutting down and the last response is out: nothing more will be served.
            return Status::Close;
        }
        if self.peer_hup && matches!(self.phase, Phase::TurnStream(_)) && !self.wants_read() {
            // Gone while its held input is full (so the EOF is not read): stop its turn.
            return Status::Close;
        }
        self.after_eof()
    }

    /// After the peer's EOF: close once nothing more can be answered.
    fn after_eof(&mut self) -> Status {
        if !self.read_closed {
            return Status::Open;
        }
        match self.phase {
            // Buffered requests wait only for output room: answer them before closing.
            Phase::Idle | Phase::Body(_) if self.parse_pending && !self.rbuf.is_empty() => Status::Open,
            // Nothing buffered, or a head or body that can never complete now.
            Phase::Idle | Phase::Body(_) if self.pending_output() == 0 => Status::Close,
            Phase::Idle | Phase::Body(_) => {
                self.phase = Phase::Closing;
                Status::Open
            }
            Phase::Lingering => Status::Close,
            // The client of a stream went away: dropping the phase aborts its turn.
            Phase::EventStream(_) | Phase::TurnStream(_) => Status::Close,
            // The peer shut its side without a close frame: nothing more will come.
            Phase::WebSocket(_) if self.pending_output() == 0 => Status::Close,
            Phase::WebSocket(_) => {
                self.phase = Phase::Closing;
                Status::Open
            }
            Phase::Waiting(_) | Phase::Closing => Status::Open,
        }
    }

    /// Decide whether appended input is worth another head parse.
    fn note_appended(&mut self, app: &App, before: usize, data: &[u8]) {
        if matches!(self.phase, Phase::WebSocket(_)) {
            // Frames are cut by length, not by newline: any new byte may complete one.
            self.parse_pending = true;
            return;
        }
        let l = &app.settings.limits;
        let line_limit = l.max_request_line_bytes.saturating_add(2);
        let crossed_line_limit = before <= line_limit && self.rbuf.len() > line_limit;
        if data.contains(&b'\n') || crossed_line_limit || self.rbuf.len() > l.max_header_bytes {
            self.parse_pending = true;
        }
    }

    /// Buffered input that can be processed now.
    fn has_buffered_work(&self) -> bool {
        let body_phase = matches!(self.phase, Phase::Body(_));
        if let Phase::WebSocket(ws) = &self.phase {
            return !ws.waiting
                && self.parse_pending
                && !self.rbuf.is_empty()
                && self.pending_output() < WRITE_HIGH_WATER;
        }
        self.can_process() && !self.rbuf.is_empty() && (self.parse_pending || body_phase)
    }

    fn can_process(&self) -> bool {
        let ready = match &self.phase {
            Phase::Idle | Phase::Body(_) => true,
            Phase::WebSocket(ws) => !ws.waiting,
            _ => false,
        };
        ready && self.pending_output() < WRITE_HIGH_WATER
    }

    fn can_read(&self) -> bool {
        self.can_process()
            || matches!(self.phase, Phase::Lingering | Phase::EventStream(_))
            || (matches!(self.phase, Phase::TurnStream(_)) && self.rbuf.len() < HELD_INPUT_WHILE_STREAMING)
    }

    fn process_buffered(&mut self, cx: &mut Cx<'_>) {
        let buf = std::mem::take(&mut self.rbuf);
        let used = self.advance(cx, &buf);
        let mut buf = buf;
        buf.drain(..used.min(buf.len()));
        // Give back what a burst of input grew, so an idle connection holds no buffer.
        if buf.is_empty() {
            buf = Vec::new();
        } else if buf.capacity() > KEEP_WRITE_CAPACITY && buf.len() < buf.capacity() / 4 {
            buf.shrink_to_fit();
        }
        self.rbuf = buf;
    }

    /// Write pending output until done or the socket is full.
    fn flush(&mut self, now: Instant) -> io::Result<()> {
        while self.wpos < self.wbuf.len() {
            match self.socket.write(self.wbuf.get(self.wpos..).unwrap_or_default()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.wpos += n;
                    self.last_write = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wpos = 0;
        // A WebSocket or SSE stream may stay idle for hours between messages: it keeps no
        // buffer at all (the target is under 1 KB per idle socket). An HTTP connection keeps
        // a small one for its next response.
        let streaming = matches!(self.phase, Phase::WebSocket(_) | Phase::EventStream(_));
        if streaming || self.wbuf.capacity() > KEEP_WRITE_CAPACITY {
            self.wbuf = Vec::new();
        } else {
            self.wbuf.clear();
        }
        Ok(())
    }

    fn start_lingering(&mut self, now: Instant) {
        let _ = self.socket.shutdown(Shutdown::Write);
        self.rbuf = Vec::new();
        self.phase = Phase::Lingering;
        self.linger_until = Some(now + LINGER);
    }

    /// The next deadline and what it is for.
    #[must_use]
    pub fn deadline(&self, app: &App) -> Option<(Instant, TimerKind)> {
        let l = &app.settings.limits;
        let ms = Duration::from_millis;
        let state = match &self.phase {
            Phase::Idle => match self.head_started {
                Some(t) => Some((t + ms(l.header_timeout_ms), TimerKind::Header)),
                // Output still going out (pipelined answers behind backpressure): only the
                // write deadline applies; the connection is not idle.
                None if self.pending_output() > 0 => None,
                None if self.served == 0 => Some((self.idle_since + ms(l.header_timeout_ms), TimerKind::Header)),
                None => Some((self.idle_since + ms(l.keepalive_timeout_ms), TimerKind::KeepAlive)),
            },
            Phase::Body(inflight) => {
                // Idle time between reads, and an absolute cap from the end of the head, so a
                // body trickled one byte per interval cannot hold the connection forever.
                let idle = self.last_read + ms(l.body_idle_timeout_ms);
                Some((idle.min(inflight.started + ms(l.body_timeout_ms)), TimerKind::BodyIdle))
            }
            Phase::Waiting(_) | Phase::Closing => None,
            Phase::Lingering => self.linger_until.map(|t| (t, TimerKind::Linger)),
            Phase::WebSocket(_) => self.ws_deadline(app).map(|t| (t, TimerKind::WebSocket)),
            Phase::EventStream(_) => self.sse_deadline().map(|t| (t, TimerKind::EventStream)),
            Phase::TurnStream(_) => self.turn_stream_deadline().map(|t| (t, TimerKind::TurnStream)),
        };
        let write = (self.pending_output() > 0).then(|| (self.last_write + ms(l.write_timeout_ms), TimerKind::Write));
        match (state, write) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}
