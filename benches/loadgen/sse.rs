//! The `sse` scenario (S4): N subscribers on one mio poll read `text/event-stream` responses
//! (plain or chunked), while a publisher thread posts events at a fixed rate, either to Talon's
//! `POST /debug/publish?count=K&bytes=B` or to an nginx+nchan publisher location (one POST per
//! event, the body being the event; a batch of K goes as K pipelined POSTs in one write). The
//! publisher is closed-loop: a tick waits for the previous tick's answers, so a server that cannot
//! keep up shows as `publish_rate_achieved` below `publish_rate`. It stores each event's send time
//! before it sends; a subscriber maps an event to its sequence number by the `"seq":` field when the
//! payload carries one (nchan: we wrote the payload), else by the order it arrived in (Talon
//! writes its own payload; every subscriber is connected before the first publish).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::hist::Hist;
use crate::procfs;
use crate::publish::{PubCfg, publisher};
use crate::wire::{self, Chunked};

/// Where and how events are published.
#[derive(Clone)]
pub enum Publish {
    /// Talon: `POST <url>?count=K&bytes=B` publishes K server-made events.
    Talon(String),
    /// nginx + nchan: one `POST <url>` per event; the body is the event.
    Nchan(String),
}

/// Scenario settings.
pub struct Config {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
    pub token: Option<String>,
    pub subs: usize,
    pub src_addrs: u8,
    pub connect_inflight: usize,
    pub publish: Publish,
    pub rate: f64,
    pub batch: usize,
    pub event_bytes: usize,
    pub seconds: f64,
    pub drain: f64,
    pub connect_timeout: f64,
    pub skip_events: Vec<String>,
    /// Only events whose data contains this are counted (others are skipped).
    pub match_data: String,
    pub server_pids: Vec<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Connecting,
    Head,
    Streaming,
}

struct Sub {
    stream: TcpStream,
    st: St,
    rbuf: Vec<u8>,
    chunked: Option<Chunked>,
    body: Vec<u8>,
    ev_name: Vec<u8>,
    data: Vec<u8>,
    /// Counted events so far (the sequence number when the payload has none).
    index: u64,
}

/// State shared with the publisher thread.
pub(crate) struct Shared {
    /// Send time (ns since `epoch`, +1 so 0 means "not yet") of event `seq`.
    pub(crate) times: Vec<AtomicU64>,
    pub(crate) published: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) done: AtomicBool,
    pub(crate) stop: AtomicBool,
    pub(crate) first_error: Mutex<Option<String>>,
    /// (start, end) of the publishing window, ns since epoch.
    pub(crate) window: Mutex<(u64, u64)>,
}

#[derive(Default)]
struct Counters {
    connect_errors: u64,
    head_errors: u64,
    closed_by_peer: u64,
    io_errors: u64,
    framing_errors: u64,
    deliveries: u64,
    data_bytes: u64,
    skipped: u64,
    seq_out_of_range: u64,
    no_send_time: u64,
    first_error: Option<String>,
    last_delivery_ns: u64,
}

impl Counters {
    fn error(&mut self, e: String) {
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }
}

struct Ctx<'a> {
    epoch: Instant,
    shared: &'a Shared,
    got: Vec<u32>,
    last: Vec<u64>,
    hist: Hist,
    /// Latency from the server's own `sentNs` stamp (Talon) to arrival.
    stamp_hist: Hist,
    c: Counters,
    skip: Vec<Vec<u8>>,
    match_data: Vec<u8>,
    /// Talon: order maps events to sequence numbers, and `sentNs` is the server's stamp.
    talon: bool,
    request: Vec<u8>,
    opened: usize,
    failed_setup: usize,
}

/// Runs the scenario and returns its JSON line.
pub fn run(cfg: Config) -> serde_json::Value {
    let epoch = Instant::now();
    let batch = cfg.batch.max(1);
    let cap = (cfg.rate * cfg.seconds).ceil() as usize + 2 * batch + 16;
    let shared = Shared {
        times: (0..cap).map(|_| AtomicU64::new(0)).collect(),
        published: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        done: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        first_error: Mutex::new(None),
        window: Mutex::new((0, 0)),
    };
    let shared = Arc::new(shared);
    let mut request = format!("GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n", cfg.path, cfg.host);
    if let Some(t) = &cfg.token {
        request.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    request.push_str("\r\n");
    let mut ctx = Ctx {
        epoch,
        shared: &shared,
        got: vec![0; cap],
        last: vec![0; cap],
        hist: Hist::new(),
        stamp_hist: Hist::new(),
        c: Counters::default(),
        skip: cfg.skip_events.iter().map(|s| s.as_bytes().to_vec()).collect(),
        match_data: cfg.match_data.as_bytes().to_vec(),
        talon: matches!(cfg.publish, Publish::Talon(_)),
        request: request.into_bytes(),
        opened: 0,
        failed_setup: 0,
    };
    let mut poll = Poll::new().expect("mio Poll::new");
    let mut events = Events::with_capacity(1024);
    let mut subs: Vec<Option<Sub>> = (0..cfg.subs).map(|_| None).collect();
    let mut scratch = vec![0u8; 256 * 1024];

    let load_before = procfs::loadavg1();
    let pids = procfs::with_children(&cfg.server_pids);
    let (rss_before, _) = procfs::rss_pss_kb(&pids);

    // Phase 1: every subscriber connected and past its response head.
    let t_connect = Instant::now();
    let (mut next, mut in_setup, mut open, mut failed) = (0usize, 0usize, 0usize, 0usize);
    while open + failed < cfg.subs && t_connect.elapsed().as_secs_f64() < cfg.connect_timeout {
        while in_setup < cfg.connect_inflight && next < cfg.subs {
            let i = next;
            next += 1;
            match wire::connect(cfg.addr, wire::source_for(i, cfg.src_addrs)).and_then(|mut s| {
                poll.registry().register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE).map(|()| s)
            }) {
                Ok(stream) => {
                    subs[i] = Some(Sub {
                        stream,
                        st: St::Connecting,
                        rbuf: Vec::new(),
                        chunked: None,
                        body: Vec::new(),
                        ev_name: Vec::new(),
                        data: Vec::new(),
                        index: 0,
                    });
                    in_setup += 1;
                }
                Err(e) => {
                    ctx.c.connect_errors += 1;
                    ctx.c.error(format!("connect: {e}"));
                    failed += 1;
                }
            }
        }
        turn(&mut poll, &mut events, &mut subs, &mut ctx, &mut scratch, &mut open, Duration::from_millis(50));
        in_setup -= ctx.opened + ctx.failed_setup;
        failed += ctx.failed_setup;
        ctx.opened = 0;
        ctx.failed_setup = 0;
    }
    let connect_s = t_connect.elapsed().as_secs_f64();
    // Subscribers still in setup at the deadline are dropped: events are matched to subscribers
    // by arrival order, which only holds for those streaming before the first publish.
    let mut dropped = 0usize;
    for s in subs.iter_mut() {
        if s.as_ref().is_some_and(|s| s.st != St::Streaming)
            && let Some(mut s) = s.take()
        {
            let _ = poll.registry().deregister(&mut s.stream);
            dropped += 1;
        }
    }
    let subs_open = open;
    eprintln!(
        "sse: {open} of {} subscribers streaming after {connect_s:.2}s ({failed} failed, {dropped} still connecting)",
        cfg.subs
    );
    // Let the server finish registering the last subscriptions.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(500) {
        turn(&mut poll, &mut events, &mut subs, &mut ctx, &mut scratch, &mut open, Duration::from_millis(20));
    }
    ctx.c.deliveries = 0;
    ctx.c.data_bytes = 0;
    ctx.c.skipped = 0;

    // Phase 2: publish for `seconds`, then drain.
    let cpu = procfs::CpuWindow::start(&cfg.server_pids);
    let publisher = {
        let shared = Arc::clone(&shared);
        let p = PubCfg {
            publish: cfg.publish.clone(),
            token: cfg.token.clone(),
            rate: cfg.rate,
            batch,
            event_bytes: cfg.event_bytes,
            seconds: cfg.seconds,
        };
        std::thread::spawn(move || publisher(p, &shared, epoch))
    };
    let mut rss_peak = 0;
    let mut last_sample = Instant::now();
    while !shared.done.load(Ordering::Acquire) {
        turn(&mut poll, &mut events, &mut subs, &mut ctx, &mut scratch, &mut open, Duration::from_millis(10));
        if last_sample.elapsed() > Duration::from_millis(500) {
            rss_peak = rss_peak.max(procfs::rss_pss_kb(&pids).0);
            last_sample = Instant::now();
        }
    }
    let published = shared.published.load(Ordering::Acquire);
    let expected = published * subs_open as u64;
    let drain_t = Instant::now();
    while ctx.c.deliveries < expected && drain_t.elapsed().as_secs_f64() < cfg.drain && open > 0 {
        turn(&mut poll, &mut events, &mut subs, &mut ctx, &mut scratch, &mut open, Duration::from_millis(10));
    }
    let (server_cpu_s, client_cpu_s) = cpu.end();
    rss_peak = rss_peak.max(procfs::rss_pss_kb(&pids).0);
    shared.stop.store(true, Ordering::Release);
    let _ = publisher.join();
    for s in subs.iter_mut() {
        if let Some(mut s) = s.take() {
            let _ = poll.registry().deregister(&mut s.stream);
        }
    }

    let (w0, w1) = *shared.window.lock().unwrap_or_else(|e| e.into_inner());
    let mut last_hist = Hist::new();
    let mut incomplete = 0u64;
    for seq in 0..published as usize {
        let t = shared.times[seq].load(Ordering::Acquire);
        if ctx.got[seq] as usize >= subs_open && t > 0 {
            last_hist.record(ctx.last[seq].saturating_sub(t - 1));
        } else {
            incomplete += 1;
        }
    }
    let span_s = (ctx.c.last_delivery_ns.max(w1).saturating_sub(w0)) as f64 / 1e9;
    let pub_s = (w1.saturating_sub(w0)) as f64 / 1e9;
    let d = ctx.c.deliveries;
    let c = &ctx.c;
    let first_pub_error = shared.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone();
    serde_json::json!({
        "mode": "sse",
        "publisher": match &cfg.publish { Publish::Talon(u) => format!("talon {u}"), Publish::Nchan(u) => format!("nchan {u}") },
        "subs": cfg.subs,
        "subs_streaming": subs_open,
        "subs_not_ready_at_deadline": dropped + cfg.subs.saturating_sub(next),
        "connect_s": round3(connect_s),
        "publish_rate": cfg.rate,
        "batch": batch,
        "event_bytes": cfg.event_bytes,
        "publish_s": round3(pub_s),
        "published": published,
        "publish_rate_achieved": round3(published as f64 / pub_s.max(1e-9)),
        "publish_requests": shared.requests.load(Ordering::Relaxed),
        "publish_errors": shared.errors.load(Ordering::Relaxed),
        "publish_first_error": first_pub_error,
        "expected_deliveries": expected,
        "deliveries": d,
        "lost_deliveries": expected.saturating_sub(d),
        "events_not_reaching_all": incomplete,
        "deliveries_per_s": round3(d as f64 / span_s.max(1e-9)),
        "delivery_latency": ctx.hist.summary_us(),
        "last_subscriber_latency": last_hist.summary_us(),
        "delivery_latency_from_server_stamp": ctx.stamp_hist.summary_us(),
        "event_data_bytes_mean": round3(c.data_bytes as f64 / d.max(1) as f64),
        "skipped_events": c.skipped,
        "seq_out_of_range": c.seq_out_of_range,
        "no_send_time": c.no_send_time,
        "errors": {
            "connect": c.connect_errors, "head": c.head_errors, "closed_by_peer": c.closed_by_peer,
            "io": c.io_errors, "framing": c.framing_errors, "first": c.first_error,
        },
        "server_pids": cpu.pids(),
        "server_cpu_s": server_cpu_s,
        "server_us_per_delivery": round3(server_cpu_s * 1e6 / (d.max(1) as f64)),
        "client_cpu_s": client_cpu_s,
        "server_rss_kb_before": rss_before,
        "server_rss_kb_peak": rss_peak,
        "loadavg1_before": load_before,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn turn(
    poll: &mut Poll,
    events: &mut Events,
    subs: &mut [Option<Sub>],
    ctx: &mut Ctx,
    scratch: &mut [u8],
    open: &mut usize,
    timeout: Duration,
) {
    if let Err(e) = poll.poll(events, Some(timeout)) {
        if e.kind() != io::ErrorKind::Interrupted {
            panic!("poll failed: {e}");
        }
        return;
    }
    for ev in events.iter() {
        let i = ev.token().0;
        let Some(sub) = subs.get_mut(i).and_then(|s| s.as_mut()) else { continue };
        let before = sub.st;
        let alive = drive(sub, ctx, scratch);
        let after = sub.st;
        if !alive {
            if let Some(mut s) = subs[i].take() {
                let _ = poll.registry().deregister(&mut s.stream);
            }
            if before == St::Streaming {
                *open -= 1;
            } else {
                ctx.failed_setup += 1;
            }
        } else if before != St::Streaming && after == St::Streaming {
            *open += 1;
            ctx.opened += 1;
        }
    }
}

fn drive(sub: &mut Sub, ctx: &mut Ctx, scratch: &mut [u8]) -> bool {
    if sub.st == St::Connecting {
        match sub.stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => {
                ctx.c.connect_errors += 1;
                ctx.c.error(format!("connect: {e}"));
                return false;
            }
        }
        match sub.stream.peer_addr() {
            Ok(_) => {
                sub.st = St::Head;
                // The request is tiny; a fresh socket always takes it whole.
                match sub.stream.write(&ctx.request) {
                    Ok(n) if n == ctx.request.len() => {}
                    Ok(_) | Err(_) => {
                        ctx.c.connect_errors += 1;
                        ctx.c.error("could not send the GET".into());
                        return false;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return true,
            Err(e) => {
                ctx.c.connect_errors += 1;
                ctx.c.error(format!("connect: {e}"));
                return false;
            }
        }
    }
    loop {
        match sub.stream.read(scratch) {
            Ok(0) => {
                if sub.st == St::Streaming {
                    ctx.c.closed_by_peer += 1;
                    ctx.c.error("stream closed by the server".into());
                } else {
                    ctx.c.head_errors += 1;
                    ctx.c.error("closed before the response head".into());
                }
                return false;
            }
            Ok(n) => {
                if !consume(sub, ctx, &scratch[..n]) {
                    return false;
                }
                if n < scratch.len() {
                    return true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                ctx.c.io_errors += 1;
                ctx.c.error(format!("read: {e}"));
                return false;
            }
        }
    }
}

fn consume(sub: &mut Sub, ctx: &mut Ctx, bytes: &[u8]) -> bool {
    let mut bytes = bytes;
    let head_buf;
    if sub.st == St::Head {
        sub.rbuf.extend_from_slice(bytes);
        let head = match wire::parse_head(&sub.rbuf) {
            Ok(None) => return true,
            Ok(Some(h)) => h,
            Err(e) => {
                ctx.c.head_errors += 1;
                ctx.c.error(e);
                return false;
            }
        };
        if head.status != 200 {
            ctx.c.head_errors += 1;
            let body = String::from_utf8_lossy(&sub.rbuf[head.len..sub.rbuf.len().min(head.len + 200)]).into_owned();
            ctx.c.error(format!("GET answered {}: {body}", head.status));
            return false;
        }
        if head.chunked {
            sub.chunked = Some(Chunked::default());
        }
        sub.st = St::Streaming;
        head_buf = std::mem::take(&mut sub.rbuf);
        bytes = &head_buf[head.len..];
    }
    match sub.chunked.as_mut() {
        Some(ch) => match ch.feed(bytes, &mut sub.body) {
            Ok(false) => {}
            Ok(true) => {
                ctx.c.closed_by_peer += 1;
                ctx.c.error("stream ended (last chunk)".into());
                return false;
            }
            Err(e) => {
                ctx.c.framing_errors += 1;
                ctx.c.error(e);
                return false;
            }
        },
        None => sub.body.extend_from_slice(bytes),
    }
    parse_events(sub, ctx);
    true
}

fn parse_events(sub: &mut Sub, ctx: &mut Ctx) {
    let body = std::mem::take(&mut sub.body);
    let mut start = 0;
    while let Some(nl) = body[start..].iter().position(|&b| b == b'\n') {
        let mut line = &body[start..start + nl];
        start += nl + 1;
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        if line.is_empty() {
            dispatch(sub, ctx);
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(k) => {
                let v = &line[k + 1..];
                (&line[..k], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => {
                sub.ev_name.clear();
                sub.ev_name.extend_from_slice(value);
            }
            b"data" => {
                if !sub.data.is_empty() {
                    sub.data.push(b'\n');
                }
                sub.data.extend_from_slice(value);
            }
            _ => {}
        }
    }
    let mut body = body;
    body.drain(..start);
    sub.body = body;
}

fn dispatch(sub: &mut Sub, ctx: &mut Ctx) {
    let skip = sub.data.is_empty()
        || ctx.skip.contains(&sub.ev_name)
        || (!ctx.match_data.is_empty() && wire::find(&sub.data, &ctx.match_data).is_none());
    if skip {
        ctx.c.skipped += 1;
    } else {
        let seq = if ctx.talon { sub.index } else { wire::json_u64(&sub.data, b"\"seq\":").unwrap_or(sub.index) };
        sub.index += 1;
        let now = ctx.epoch.elapsed().as_nanos() as u64;
        ctx.c.deliveries += 1;
        ctx.c.data_bytes += sub.data.len() as u64;
        ctx.c.last_delivery_ns = now;
        if ctx.talon
            && let Some(stamp) = wire::json_u64(&sub.data, b"\"sentNs\":\"")
        {
            let unix_now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            ctx.stamp_hist.record(unix_now.saturating_sub(stamp));
        }
        match ctx.shared.times.get(seq as usize) {
            None => ctx.c.seq_out_of_range += 1,
            Some(t) => {
                let t = t.load(Ordering::Acquire);
                if t == 0 {
                    ctx.c.no_send_time += 1;
                } else {
                    ctx.hist.record(now.saturating_sub(t - 1));
                }
                let s = seq as usize;
                ctx.got[s] += 1;
                ctx.last[s] = ctx.last[s].max(now);
            }
        }
    }
    sub.ev_name.clear();
    sub.data.clear();
}
