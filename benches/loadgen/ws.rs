//! The connection engine for `ws-rpc`, `ws-idle` and `http-idle`: one thread, one mio poll,
//! non-blocking sockets, a slab of connections indexed by token. Each connection does the
//! opening handshake (WebSocket upgrade, or one `GET` for `http-idle`), then either runs the
//! closed-loop JSON-RPC exchange or sits idle answering server pings.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::hist::Hist;
use crate::wire::{self, MaskGen, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT};

/// What each connection does once open.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Closed-loop JSON-RPC with `depth` requests outstanding.
    Rpc { depth: usize },
    /// Idle WebSocket: wait for the server's first frame, send one ping, hold.
    WsIdle { wait_first: bool },
    /// Idle HTTP keep-alive: one `GET`, read the response, hold.
    HttpIdle,
}

/// Engine settings.
pub struct Config {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
    pub token: Option<String>,
    pub subprotocol: Option<String>,
    pub method: String,
    pub conns: usize,
    pub src_addrs: u8,
    pub connect_inflight: usize,
    pub mode: Mode,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Connecting,
    Handshake,
    Open,
    Closing,
}

struct Conn {
    stream: TcpStream,
    st: St,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Reassembly of a fragmented message.
    msg: Vec<u8>,
    /// (request id, send time ns) of requests awaiting an answer.
    outstanding: Vec<(u64, u64)>,
    got_first: bool,
    got_pong: bool,
}

/// Counters, all reset at the start of the measured window except the connection ones.
#[derive(Default)]
pub struct Stats {
    pub connect_errors: u64,
    pub handshake_errors: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub closed_by_peer: u64,
    pub io_errors: u64,
    pub protocol_errors: u64,
    pub first_error: Option<String>,
    pub round_trips: u64,
    pub rpc_errors: u64,
    pub unmatched: u64,
    pub skipped_frames: u64,
    pub server_pings: u64,
    pub pongs: u64,
}

impl Stats {
    fn error(&mut self, what: String) {
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }

    /// Error counters as JSON.
    pub fn errors_json(&self) -> serde_json::Value {
        serde_json::json!({
            "connect": self.connect_errors,
            "handshake": self.handshake_errors,
            "handshake_statuses": self.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "closed_by_peer": self.closed_by_peer,
            "io": self.io_errors,
            "protocol": self.protocol_errors,
            "rpc_error_responses": self.rpc_errors,
            "unmatched_responses": self.unmatched,
            "first": self.first_error,
        })
    }
}

/// Shared state the per-connection code touches.
struct Ctx {
    cfg_mode: Mode,
    method: String,
    epoch: Instant,
    masks: MaskGen,
    next_id: u64,
    sending: bool,
    measuring: bool,
    hist: Hist,
    stats: Stats,
    tmp: Vec<u8>,
    handshake: Vec<u8>,
    /// Connections whose handshake finished (or failed) since the last look.
    opened: usize,
    failed_setup: usize,
    firsts: usize,
}

impl Ctx {
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// The engine.
pub struct Engine {
    cfg: Config,
    poll: Poll,
    events: Events,
    conns: Vec<Option<Conn>>,
    scratch: Vec<u8>,
    ctx: Ctx,
    next_connect: usize,
    in_setup: usize,
    /// Connections open (handshake done) and not closed.
    pub open: usize,
    /// Connections that failed before opening.
    pub failed: usize,
}

const MAX_FRAME: usize = 16 << 20;

impl Engine {
    /// A new engine; nothing is connected yet.
    pub fn new(cfg: Config) -> Self {
        let handshake = match cfg.mode {
            Mode::HttpIdle => format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", cfg.path, cfg.host).into_bytes(),
            _ => wire::ws_handshake(&cfg.host, &cfg.path, cfg.token.as_deref(), cfg.subprotocol.as_deref()),
        };
        let ctx = Ctx {
            cfg_mode: cfg.mode,
            method: cfg.method.clone(),
            epoch: Instant::now(),
            masks: MaskGen::new(0x9E37_79B9_7F4A_7C15),
            next_id: 1,
            sending: false,
            measuring: false,
            hist: Hist::new(),
            stats: Stats::default(),
            tmp: Vec::with_capacity(256),
            handshake,
            opened: 0,
            failed_setup: 0,
            firsts: 0,
        };
        let n = cfg.conns;
        Self {
            poll: Poll::new().expect("mio Poll::new"),
            events: Events::with_capacity(1024),
            conns: (0..n).map(|_| None).collect(),
            scratch: vec![0; 256 * 1024],
            ctx,
            next_connect: 0,
            in_setup: 0,
            open: 0,
            failed: 0,
            cfg,
        }
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.ctx.stats
    }

    /// Latency histogram of the measured window.
    pub fn hist(&self) -> &Hist {
        &self.ctx.hist
    }

    /// Connections that have received their first server frame.
    pub fn firsts(&self) -> usize {
        self.ctx.firsts
    }

    /// Connections that got the pong to their ping.
    pub fn pongs(&self) -> u64 {
        self.ctx.stats.pongs
    }

    fn start_connects(&mut self) {
        while self.in_setup < self.cfg.connect_inflight && self.next_connect < self.cfg.conns {
            let i = self.next_connect;
            self.next_connect += 1;
            let src = wire::source_for(i, self.cfg.src_addrs);
            match wire::connect(self.cfg.addr, src) {
                Ok(mut stream) => {
                    if let Err(e) =
                        self.poll.registry().register(&mut stream, Token(i), Interest::READABLE | Interest::WRITABLE)
                    {
                        self.ctx.stats.connect_errors += 1;
                        self.ctx.stats.error(format!("register: {e}"));
                        self.failed += 1;
                        continue;
                    }
                    self.conns[i] = Some(Conn {
                        stream,
                        st: St::Connecting,
                        rbuf: Vec::new(),
                        wbuf: Vec::new(),
                        wpos: 0,
                        msg: Vec::new(),
                        outstanding: Vec::new(),
                        got_first: false,
                        got_pong: false,
                    });
                    self.in_setup += 1;
                }
                Err(e) => {
                    self.ctx.stats.connect_errors += 1;
                    self.ctx.stats.error(format!("connect from {src:?}: {e}"));
                    self.failed += 1;
                }
            }
        }
    }

    /// Opens every connection (at most `connect_inflight` in setup at once), until all are
    /// open or failed, or the deadline passes. Returns the time it took.
    pub fn open_all(&mut self, limit: Duration) -> Duration {
        let t0 = Instant::now();
        while self.open + self.failed < self.cfg.conns && t0.elapsed() < limit {
            self.start_connects();
            self.turn(Duration::from_millis(50));
        }
        t0.elapsed()
    }

    /// One poll round: waits up to `timeout`, services every ready connection.
    pub fn turn(&mut self, timeout: Duration) {
        if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                panic!("poll failed: {e}");
            }
            return;
        }
        let ready: Vec<usize> = self.events.iter().map(|e| e.token().0).collect();
        for i in ready {
            self.service(i);
        }
        self.open += self.ctx.opened;
        self.in_setup -= self.ctx.opened + self.ctx.failed_setup;
        self.failed += self.ctx.failed_setup;
        self.ctx.opened = 0;
        self.ctx.failed_setup = 0;
    }

    fn service(&mut self, i: usize) {
        let Some(conn) = self.conns.get_mut(i).and_then(|c| c.as_mut()) else { return };
        let was_open = conn.st == St::Open || conn.st == St::Closing;
        let was_setup = matches!(conn.st, St::Connecting | St::Handshake);
        let alive = drive(conn, &mut self.ctx, &mut self.scratch);
        if !alive {
            if let Some(mut c) = self.conns[i].take() {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
            if was_setup {
                self.ctx.failed_setup += 1;
            } else if was_open {
                self.open -= 1;
            }
        }
    }

    /// Starts the closed loop: `depth` requests on every open connection.
    pub fn start_rpc(&mut self) {
        let Mode::Rpc { depth } = self.cfg.mode else { return };
        self.ctx.sending = true;
        for i in 0..self.conns.len() {
            let Some(conn) = self.conns[i].as_mut() else { continue };
            if conn.st != St::Open {
                continue;
            }
            for _ in 0..depth {
                send_rpc(conn, &mut self.ctx);
            }
            if !flush(conn, &mut self.ctx.stats) {
                self.service(i);
            }
        }
    }

    /// Clears the counters and starts recording latencies.
    pub fn begin_measuring(&mut self) {
        let keep = Stats {
            connect_errors: self.ctx.stats.connect_errors,
            handshake_errors: self.ctx.stats.handshake_errors,
            statuses: std::mem::take(&mut self.ctx.stats.statuses),
            first_error: self.ctx.stats.first_error.take(),
            ..Stats::default()
        };
        self.ctx.stats = keep;
        self.ctx.hist = Hist::new();
        self.ctx.measuring = true;
    }

    /// Stops recording; no new requests are sent after this.
    pub fn end_measuring(&mut self) {
        self.ctx.measuring = false;
        self.ctx.sending = false;
    }

    /// Requests still awaiting an answer.
    pub fn outstanding(&self) -> usize {
        self.conns.iter().flatten().map(|c| c.outstanding.len()).sum()
    }

    /// Sends a close frame (WebSocket) on every connection, waits briefly, drops them all.
    pub fn close_all(&mut self, wait: Duration) {
        let ws = self.cfg.mode != Mode::HttpIdle;
        for i in 0..self.conns.len() {
            let Some(conn) = self.conns[i].as_mut() else { continue };
            if ws && conn.st == St::Open {
                let mask = self.ctx.masks.next_mask();
                wire::encode_frame(&mut conn.wbuf, OP_CLOSE, &1000u16.to_be_bytes(), mask);
                conn.st = St::Closing;
                let _ = flush(conn, &mut self.ctx.stats);
            }
        }
        let t0 = Instant::now();
        while ws && self.open > 0 && t0.elapsed() < wait {
            self.turn(Duration::from_millis(20));
        }
        for c in self.conns.iter_mut() {
            if let Some(mut c) = c.take() {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
        }
        self.open = 0;
    }
}

fn send_rpc(conn: &mut Conn, ctx: &mut Ctx) {
    let id = ctx.next_id;
    ctx.next_id += 1;
    ctx.tmp.clear();
    let _ = write!(ctx.tmp, r#"{{"jsonrpc":"2.0","id":{id},"method":"{}"}}"#, ctx.method);
    let mask = ctx.masks.next_mask();
    wire::encode_frame(&mut conn.wbuf, OP_TEXT, &ctx.tmp, mask);
    conn.outstanding.push((id, ctx.now_ns()));
}

/// Writes as much of the output buffer as the socket takes. False on a write error.
fn flush(conn: &mut Conn, stats: &mut Stats) -> bool {
    while conn.wpos < conn.wbuf.len() {
        match conn.stream.write(&conn.wbuf[conn.wpos..]) {
            Ok(0) => return false,
            Ok(n) => conn.wpos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                stats.io_errors += 1;
                stats.error(format!("write: {e}"));
                return false;
            }
        }
    }
    if conn.wpos == conn.wbuf.len() {
        conn.wbuf.clear();
        conn.wpos = 0;
    }
    true
}

/// Services one ready connection. False when it is finished (closed or failed).
fn drive(conn: &mut Conn, ctx: &mut Ctx, scratch: &mut [u8]) -> bool {
    if conn.st == St::Connecting {
        match conn.stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => {
                ctx.stats.connect_errors += 1;
                ctx.stats.error(format!("connect: {e}"));
                return false;
            }
        }
        match conn.stream.peer_addr() {
            Ok(_) => {
                conn.st = St::Handshake;
                conn.wbuf.extend_from_slice(&ctx.handshake);
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return true,
            Err(e) => {
                ctx.stats.connect_errors += 1;
                ctx.stats.error(format!("connect: {e}"));
                return false;
            }
        }
    }
    let mut eof = false;
    loop {
        match conn.stream.read(scratch) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => {
                conn.rbuf.extend_from_slice(&scratch[..n]);
                if n < scratch.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                ctx.stats.io_errors += 1;
                ctx.stats.error(format!("read: {e}"));
                if conn.st == St::Handshake {
                    ctx.stats.handshake_errors += 1;
                }
                return false;
            }
        }
    }
    if !process(conn, ctx) {
        return false;
    }
    if !flush(conn, &mut ctx.stats) {
        return false;
    }
    if eof {
        match conn.st {
            St::Closing => {}
            St::Handshake | St::Connecting => {
                ctx.stats.handshake_errors += 1;
                ctx.stats.error("connection closed during the handshake".into());
            }
            St::Open => {
                ctx.stats.closed_by_peer += 1;
                ctx.stats.error("connection closed by the server".into());
            }
        }
        return false;
    }
    true
}

/// Consumes what the connection has read. False when it must be dropped.
fn process(conn: &mut Conn, ctx: &mut Ctx) -> bool {
    if conn.st == St::Handshake {
        let head = match wire::parse_head(&conn.rbuf) {
            Ok(None) => return true,
            Ok(Some(h)) => h,
            Err(e) => {
                ctx.stats.handshake_errors += 1;
                ctx.stats.error(e);
                return false;
            }
        };
        if ctx.cfg_mode == Mode::HttpIdle {
            if head.status != 200 {
                *ctx.stats.statuses.entry(head.status).or_default() += 1;
                ctx.stats.handshake_errors += 1;
                ctx.stats.error(format!("GET answered {}", head.status));
                return false;
            }
            let need = head.len + head.content_length.unwrap_or(0);
            if conn.rbuf.len() < need {
                return true;
            }
            conn.rbuf.drain(..need);
        } else {
            let expected = tungstenite::handshake::derive_accept_key(wire::WS_KEY.as_bytes());
            if head.status != 101 || head.ws_accept.as_deref() != Some(expected.as_str()) {
                *ctx.stats.statuses.entry(head.status).or_default() += 1;
                ctx.stats.handshake_errors += 1;
                let body = String::from_utf8_lossy(&conn.rbuf[head.len..conn.rbuf.len().min(head.len + 200)]);
                ctx.stats.error(format!("upgrade answered {} (accept {:?}): {body}", head.status, head.ws_accept));
                return false;
            }
            conn.rbuf.drain(..head.len);
        }
        conn.st = St::Open;
        ctx.opened += 1;
        if ctx.cfg_mode == Mode::HttpIdle || ctx.cfg_mode == (Mode::WsIdle { wait_first: false }) {
            conn.got_first = true;
            ctx.firsts += 1;
        }
    }
    if ctx.cfg_mode == Mode::HttpIdle {
        // Nothing is expected on an idle keep-alive connection; discard anything that comes.
        conn.rbuf.clear();
        return true;
    }
    let mut pos = 0;
    let mut ok = true;
    while pos < conn.rbuf.len() {
        let f = match wire::decode_frame(&conn.rbuf[pos..], MAX_FRAME) {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                ctx.stats.protocol_errors += 1;
                ctx.stats.error(e);
                ok = false;
                break;
            }
        };
        let range = pos + f.payload.start..pos + f.payload.end;
        pos += f.payload.end;
        if let Some(m) = f.mask {
            for (k, b) in conn.rbuf[range.clone()].iter_mut().enumerate() {
                *b ^= m[k & 3];
            }
        }
        match f.opcode {
            OP_PING => {
                ctx.stats.server_pings += 1;
                let mask = ctx.masks.next_mask();
                if conn.st == St::Open {
                    wire::encode_frame(&mut conn.wbuf, OP_PONG, &conn.rbuf[range], mask);
                }
            }
            OP_PONG => {
                if !conn.got_pong {
                    conn.got_pong = true;
                    ctx.stats.pongs += 1;
                }
            }
            OP_CLOSE => {
                if conn.st == St::Open {
                    ctx.stats.closed_by_peer += 1;
                    let reason = String::from_utf8_lossy(&conn.rbuf[range.clone()]).into_owned();
                    ctx.stats.error(format!("server sent close: {reason:?}"));
                    let mask = ctx.masks.next_mask();
                    let code = conn.rbuf.get(range.start..range.start + 2).map(<[u8]>::to_vec).unwrap_or_default();
                    wire::encode_frame(&mut conn.wbuf, OP_CLOSE, &code, mask);
                    let _ = flush(conn, &mut ctx.stats);
                }
                ok = false;
                break;
            }
            OP_TEXT | OP_BINARY if f.fin && conn.msg.is_empty() => {
                let text = std::mem::take(&mut conn.rbuf);
                on_message(conn, ctx, &text[range]);
                conn.rbuf = text;
            }
            OP_TEXT | OP_BINARY | OP_CONT => {
                if f.opcode != OP_CONT {
                    conn.msg.clear();
                }
                conn.msg.extend_from_slice(&conn.rbuf[range]);
                if f.fin {
                    let msg = std::mem::take(&mut conn.msg);
                    on_message(conn, ctx, &msg);
                }
            }
            other => {
                ctx.stats.protocol_errors += 1;
                ctx.stats.error(format!("unknown opcode {other:#x}"));
                ok = false;
                break;
            }
        }
    }
    conn.rbuf.drain(..pos);
    ok
}

fn on_message(conn: &mut Conn, ctx: &mut Ctx, text: &[u8]) {
    if !conn.got_first {
        conn.got_first = true;
        ctx.firsts += 1;
        if let Mode::WsIdle { .. } = ctx.cfg_mode {
            let mask = ctx.masks.next_mask();
            wire::encode_frame(&mut conn.wbuf, OP_PING, b"loadgen", mask);
        }
    }
    let Mode::Rpc { .. } = ctx.cfg_mode else {
        ctx.stats.skipped_frames += 1;
        return;
    };
    let is_result = wire::find(text, b"\"result\"").is_some();
    let is_error = !is_result && wire::find(text, b"\"error\"").is_some();
    if !is_result && !is_error {
        ctx.stats.skipped_frames += 1;
        return;
    }
    let Some(id) = wire::json_u64(text, b"\"id\":") else {
        ctx.stats.unmatched += 1;
        if is_error {
            ctx.stats.rpc_errors += 1;
            ctx.stats.error(format!("error without id: {}", String::from_utf8_lossy(&text[..text.len().min(200)])));
        }
        return;
    };
    let Some(k) = conn.outstanding.iter().position(|&(i, _)| i == id) else {
        ctx.stats.unmatched += 1;
        return;
    };
    let (_, sent) = conn.outstanding.swap_remove(k);
    if ctx.measuring {
        let now = ctx.now_ns();
        ctx.hist.record(now.saturating_sub(sent));
        ctx.stats.round_trips += 1;
        if is_error {
            ctx.stats.rpc_errors += 1;
        }
    }
    if is_error {
        ctx.stats.error(format!("rpc error: {}", String::from_utf8_lossy(&text[..text.len().min(200)])));
    }
    if ctx.sending {
        send_rpc(conn, ctx);
    }
}
