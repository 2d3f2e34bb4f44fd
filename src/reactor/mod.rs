//! The event loop: one mio `Poll` per I/O thread, its listener, its connections, its timers.
//!
//! Each iteration: poll → accept and socket events → worker completions → accept resume
//! → expired deadlines → log flush. Sockets are edge-triggered and drained until
//! `WouldBlock`; interest is registered once at accept, never changed per request.
//!
//! Guarantees:
//! - At `max_connections` (across reactors) accepting stops; it resumes when the count is
//!   back at 90%. Connections over `max_connections_per_ip` are closed at accept.
//! - A completion or deadline for a closed connection is dropped by generation check.
//! - On shutdown the listener is closed at once, idle connections are closed, busy ones
//!   finish their current request with `Connection: close`, and whatever remains at the
//!   grace deadline is closed; then the loop returns.

mod fanout;
mod listener;
mod slab;
mod timer;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, unbounded};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::app::App;
use crate::config::LogLevel;
use crate::conn::{Connection, Cx, Status};
use crate::log::{Field, LogBuffer};
use crate::metrics::Reject;
use crate::protocol::http1::date::imf_fixdate;
use crate::workers::{Completion, ReplyTo};
pub use fanout::Subscribers;
pub use listener::bind;
use slab::{LISTENER, Slab, WAKER};
use timer::Timers;

/// Size of the per-reactor read buffer; one read never takes more than this.
const READ_CHUNK: usize = 64 * 1024;
/// Events taken from the kernel per poll.
const EVENTS_PER_POLL: usize = 1024;
/// Retry delay after accept fails with a resource error (EMFILE, ENFILE, ENOMEM).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// One event loop.
pub struct Reactor {
    poll: Poll,
    listener: Option<TcpListener>,
    app: Arc<App>,
    slab: Slab<Connection>,
    timers: Timers,
    completions: Receiver<Completion>,
    reply: ReplyTo,
    waker: Arc<Waker>,
    scratch: Box<[u8]>,
    log: LogBuffer,
    request_seq: u64,
    date_secs: u64,
    date: Vec<u8>,
    accept_paused: bool,
    /// Connections that stopped at the fairness bound with input left; revisited next.
    busy: Vec<usize>,
    accept_retry_at: Option<Instant>,
    drain_deadline: Option<Instant>,
    subscribers: Subscribers,
}

impl Reactor {
    /// A reactor serving `listener`; `id` seeds its request ids.
    ///
    /// # Errors
    /// The poll or waker could not be created, or the listener not registered.
    pub fn new(id: usize, app: Arc<App>, mut listener: TcpListener) -> io::Result<Self> {
        let poll = Poll::new()?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, completions) = unbounded();
        let reply = ReplyTo::new(tx, Arc::clone(&waker));
        let bus_listener = app.bus.add_listener(Arc::clone(&waker));
        let subscribers = Subscribers::new(bus_listener, app.bus.last_id());
        Ok(Self {
            subscribers,
            poll,
            listener: Some(listener),
            app,
            slab: Slab::default(),
            timers: Timers::default(),
            completions,
            reply,
            waker,
            scratch: vec![0u8; READ_CHUNK].into_boxed_slice(),
            log: LogBuffer::default(),
            request_seq: (id as u64) << 48,
            date_secs: 0,
            date: Vec::new(),
            accept_paused: false,
            busy: Vec::new(),
            accept_retry_at: None,
            drain_deadline: None,
        })
    }

    /// The waker that interrupts this reactor's poll.
    #[must_use]
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Run until shutdown completes.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        loop {
            let timeout = self.poll_timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                let msg = e.to_string();
                self.app.logger.event(LogLevel::Error, "poll failed", &[("error", Field::Str(&msg))]);
                break;
            }
            let now = Instant::now();
            self.refresh_date();
            for token in std::mem::take(&mut self.busy) {
                self.with_conn(token, now, |conn, cx| {
                    conn.revisit = false;
                    conn.on_ready(cx, false, false, false)
                });
            }
            for event in &events {
                match event.token() {
                    LISTENER => self.accept(now),
                    WAKER => {}
                    Token(token) => {
                        let hup = event.is_read_closed() || event.is_error();
                        let readable = event.is_readable() || hup;
                        let writable = event.is_writable() || event.is_write_closed() || event.is_error();
                        self.with_conn(token, now, |conn, cx| conn.on_ready(cx, readable, writable, hup));
                    }
                }
            }
            while let Ok(c) = self.completions.try_recv() {
                self.with_conn(c.token, now, |conn, cx| conn.on_completion(cx, c.output));
            }
            if self.subscribers.take_pending() {
                self.deliver_events(now);
            }
            if self.app.shutting_down() && self.drain_deadline.is_none() {
                self.begin_drain(now);
            }
            self.maybe_resume_accept(now);
            self.expire(now);
            self.log.flush_if_due(&self.app.logger, now);
            if let Some(deadline) = self.drain_deadline {
                if self.slab.is_empty() {
                    break;
                }
                if now >= deadline {
                    for token in self.slab.tokens() {
                        self.close(token);
                    }
                    break;
                }
            }
        }
        self.log.flush(&self.app.logger);
    }

    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.busy.is_empty() {
            return Some(Duration::ZERO);
        }
        let mut next = self.timers.next();
        if self.accept_paused {
            next = Some(next.map_or(now + ACCEPT_RETRY, |t| t.min(now + ACCEPT_RETRY)));
        }
        for t in [self.accept_retry_at, self.drain_deadline, self.log.flush_deadline()].into_iter().flatten() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next.map(|t| t.saturating_duration_since(now))
    }

    fn refresh_date(&mut self) {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs != self.date_secs || self.date.is_empty() {
            self.date_secs = secs;
            self.date = imf_fixdate(secs).into_bytes();
        }
    }

    /// Run `f` on a live connection with a fresh context, then close or reschedule it.
    fn with_conn(&mut self, token: usize, now: Instant, f: impl FnOnce(&mut Connection, &mut Cx<'_>) -> Status) {
        let Self { app, slab, scratch, log, reply, request_seq, date, subscribers, .. } = self;
        let Some(conn) = slab.get_mut(token) else { return };
        let mut cx = Cx { app, now, date, scratch, log, reply, request_seq, events: subscribers };
        match f(conn, &mut cx) {
            Status::Close => self.close(token),
            Status::Open => self.schedule(token),
        }
    }

    fn schedule(&mut self, token: usize) {
        let Some(conn) = self.slab.get_mut(token) else { return };
        if conn.wants_read() && !conn.revisit {
            conn.revisit = true;
            self.busy.push(token);
        }
        if let Some((at, _)) = conn.deadline(&self.app)
            && conn.scheduled.is_none_or(|s| at < s)
        {
            conn.scheduled = Some(at);
            self.timers.push(at, token);
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some((at, token)) = self.timers.pop_due(now) {
            let Some(conn) = self.slab.get_mut(token) else { continue };
            if conn.scheduled == Some(at) {
                conn.scheduled = None;
            }
            match conn.deadline(&self.app) {
                Some((due, kind)) if due <= now => {
                    self.with_conn(token, now, |conn, cx| conn.on_timeout(cx, kind));
                }
                Some(_) => self.schedule(token),
                None => {}
            }
        }
    }

    fn accept(&mut self, now: Instant) {
        loop {
            let Some(listener) = &self.listener else { return };
            if self.app.connections() >= self.app.settings.max_connections {
                if !self.accept_paused {
                    self.accept_paused = true;
                    self.app.metrics.reject(Reject::MaxConnections);
                }
                return;
            }
            match listener.accept() {
                Ok((stream, peer)) => {
                    if let Err(reason) = self.app.open_connection(peer.ip()) {
                        self.app.metrics.reject(reason);
                        drop(stream);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let Some(token) = self.slab.insert_with(|t| Box::new(Connection::new(stream, peer, t, now))) else {
                        self.app.close_connection(peer.ip());
                        self.app.metrics.reject(Reject::MaxConnections);
                        continue;
                    };
                    self.app.metrics.connection_opened();
                    let registry = self.poll.registry();
                    let registered = self.slab.get_mut(token).is_some_and(|conn| {
                        registry
                            .register(conn.socket_mut(), Token(token), Interest::READABLE | Interest::WRITABLE)
                            .is_ok()
                    });
                    if registered {
                        self.schedule(token);
                    } else {
                        self.close(token);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_transient_accept_error(&e) => {}
                Err(e) => {
                    // Out of descriptors or memory: the listener stays readable but edge
                    // triggering will not tell us again, so retry on a timer.
                    self.accept_retry_at = Some(now + ACCEPT_RETRY);
                    let msg = e.to_string();
                    self.app.logger.event(LogLevel::Warn, "accept failed", &[("error", Field::Str(&msg))]);
                    return;
                }
            }
        }
    }

    fn maybe_resume_accept(&mut self, now: Instant) {
        let resume_at = self.app.settings.max_connections.saturating_mul(9) / 10;
        if self.accept_paused && self.app.connections() <= resume_at {
            self.accept_paused = false;
            self.accept(now);
        }
        if self.accept_retry_at.is_some_and(|t| now >= t) {
            self.accept_retry_at = None;
            self.accept(now);
        }
    }

    fn begin_drain(&mut self, now: Instant) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.drain_deadline = Some(now + self.app.settings.shutdown_grace);
        for token in self.slab.tokens() {
            self.with_conn(token, now, Connection::begin_drain);
        }
    }

    /// One delivery round: every new event to every subscriber of this reactor.
    fn deliver_events(&mut self, now: Instant) {
        loop {
            let batch = self.subscribers.next_batch(&self.app.bus, crate::conn::DELIVERY_BATCH);
            if batch.is_empty() {
                return;
            }
            let mut tokens = self.subscribers.take_tokens();
            tokens.retain(|&token| {
                let live = self.slab.get_mut(token).is_some_and(|c| c.is_subscriber());
                if live {
                    self.with_conn(token, now, |conn, cx| conn.deliver(cx, &batch));
                }
                live && self.slab.get_mut(token).is_some_and(|c| c.is_subscriber())
            });
            self.subscribers.restore_tokens(tokens);
            if batch.len() < crate::conn::DELIVERY_BATCH {
                return;
            }
        }
    }

    fn close(&mut self, token: usize) {
        if let Some(mut conn) = self.slab.remove(token) {
            if conn.is_subscriber() {
                self.subscribers.unsubscribed();
            }
            let _ = self.poll.registry().deregister(conn.socket_mut());
            self.app.close_connection(conn.peer_ip());
            self.app.metrics.connection_closed();
        }
    }
}

/// Errors that concern only the one connection being accepted.
fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::PermissionDenied
    )
}
