//! `loadgen`: the WebSocket / SSE load client for Talon's realtime benchmarks (scenarios S3,
//! S4 and S6 of shared/reference/performance.md), driven by `benches/realtime.sh`.
//!
//! One thread and one mio poll drive every connection (10 000 are fine); WebSocket framing is
//! hand-rolled (masked client frames, text opcode, pong for every server ping). Each run prints
//! exactly one JSON line on stdout; progress goes to stderr.
//!
//! ```text
//! loadgen ws-rpc   --addr 127.0.0.1:P --path '/ws?protocol=jsonrpc' --token T --conns 64 --depth 1 --seconds 10
//! loadgen sse      --addr 127.0.0.1:P --path /api/events --token T --subs 10000 --publish-rate 20
//!                  --event-bytes 256 --seconds 10 (--publish-url http://127.0.0.1:P/debug/publish
//!                                                  | --nchan-pub http://127.0.0.1:P/pub)
//! loadgen ws-idle  --addr 127.0.0.1:P --path /ws --token T --conns 10000 --hold 10
//! loadgen http-idle --addr 127.0.0.1:P --path /health --conns 10000 --hold 10   (the nginx peer of ws-idle)
//! loadgen chat-stream --addr 127.0.0.1:P --path /v1/chat/completions --model M --conns 64 --seconds 10
//! loadgen fake-upstream --port P --model M --tokens 64 --interval-us 16000   (serves until killed)
//! ```
//!
//! Common options: `--server-pid PID` (repeatable; CPU and memory of the server and its children
//! are read from /proc over the measured window), `--src-addrs N` (spread connections over
//! 127.0.0.1..N so a run never runs out of ephemeral ports), `--connect-inflight N` (connections
//! in setup at once, default 256), `--label L` (copied into the JSON line), `--connect-timeout S` (default 120).
//! `sse` also takes `--match TEXT` (count only events whose data contains it; default
//! `"debug":true` for Talon, `"seq":` for nchan) and `--skip-events a,b` (event names never counted).

mod chat;
mod hist;
mod procfs;
mod publish;
mod sse;
mod upstream;
mod wire;
mod ws;

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde_json::json;

struct Args {
    cmd: String,
    addr: Option<SocketAddr>,
    host: String,
    path: Option<String>,
    token: Option<String>,
    subprotocol: Option<String>,
    method: String,
    conns: usize,
    depth: usize,
    seconds: f64,
    warmup: f64,
    hold: f64,
    no_hello: bool,
    publish_rate: f64,
    batch: Option<usize>,
    event_bytes: usize,
    drain: f64,
    connect_timeout: f64,
    publish_url: Option<String>,
    nchan_pub: Option<String>,
    skip_events: Vec<String>,
    match_data: Option<String>,
    src_addrs: u8,
    connect_inflight: usize,
    server_pids: Vec<u32>,
    label: Option<String>,
    model: String,
    tokens: usize,
    interval_us: u64,
    port: u16,
}

const USAGE: &str = "usage: loadgen (ws-rpc|sse|ws-idle|http-idle|chat-stream) --addr HOST:PORT | loadgen fake-upstream --port P; --addr HOST:PORT [options]; see benches/loadgen/main.rs";

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut a = Args {
        cmd: String::new(),
        addr: None,
        host: String::new(),
        path: None,
        token: None,
        subprotocol: None,
        method: "system.ping".into(),
        conns: 64,
        depth: 1,
        seconds: 10.0,
        warmup: 2.0,
        hold: 10.0,
        no_hello: false,
        publish_rate: 20.0,
        batch: None,
        event_bytes: 256,
        drain: 5.0,
        connect_timeout: 120.0,
        publish_url: None,
        nchan_pub: None,
        skip_events: "ping,heartbeat,keepalive,tick,hello,hello-ok,connected".split(',').map(String::from).collect(),
        match_data: None,
        src_addrs: 1,
        connect_inflight: 256,
        server_pids: Vec::new(),
        label: None,
        model: "bench".into(),
        tokens: 64,
        interval_us: 16_000,
        port: 0,
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Value(v) if a.cmd.is_empty() => a.cmd = v.string()?,
            Long("addr") => {
                let s: String = p.value()?.string()?;
                a.addr = Some(
                    s.to_socket_addrs()
                        .map_err(|e| format!("--addr {s}: {e}"))?
                        .next()
                        .ok_or_else(|| format!("--addr {s}: no address"))?,
                );
                a.host = s;
            }
            Long("path") => a.path = Some(p.value()?.string()?),
            Long("token") => a.token = Some(p.value()?.string()?).filter(|t| !t.is_empty()),
            Long("subprotocol") => a.subprotocol = Some(p.value()?.string()?),
            Long("method") => a.method = p.value()?.string()?,
            Long("conns") | Long("subs") => a.conns = p.value()?.parse()?,
            Long("depth") => a.depth = p.value()?.parse()?,
            Long("seconds") => a.seconds = p.value()?.parse()?,
            Long("warmup") => a.warmup = p.value()?.parse()?,
            Long("hold") => a.hold = p.value()?.parse()?,
            Long("no-hello") => a.no_hello = true,
            Long("publish-rate") => a.publish_rate = p.value()?.parse()?,
            Long("batch") => a.batch = Some(p.value()?.parse()?),
            Long("event-bytes") => a.event_bytes = p.value()?.parse()?,
            Long("drain") => a.drain = p.value()?.parse()?,
            Long("connect-timeout") => a.connect_timeout = p.value()?.parse()?,
            Long("publish-url") => a.publish_url = Some(p.value()?.string()?),
            Long("nchan-pub") => a.nchan_pub = Some(p.value()?.string()?),
            Long("skip-events") => a.skip_events = p.value()?.string()?.split(',').map(String::from).collect(),
            Long("match") => a.match_data = Some(p.value()?.string()?),
            Long("src-addrs") => a.src_addrs = p.value()?.parse()?,
            Long("connect-inflight") => a.connect_inflight = p.value()?.parse()?,
            Long("server-pid") => a.server_pids.push(p.value()?.parse()?),
            Long("label") => a.label = Some(p.value()?.string()?),
            Long("model") => a.model = p.value()?.string()?,
            Long("tokens") => a.tokens = p.value()?.parse()?,
            Long("interval-us") => a.interval_us = p.value()?.parse()?,
            Long("port") => a.port = p.value()?.parse()?,
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(a)
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if a.cmd == "fake-upstream" {
        upstream::serve(&upstream::Config {
            port: a.port,
            model: a.model.clone(),
            tokens: a.tokens,
            interval: Duration::from_micros(a.interval_us),
        });
    }
    let Some(addr) = a.addr else {
        eprintln!("loadgen: --addr is required\n{USAGE}");
        std::process::exit(2);
    };
    if let Some(soft) = procfs::nofile_soft()
        && soft < a.conns as u64 + 64
    {
        eprintln!("loadgen: RLIMIT_NOFILE soft limit {soft} < {} connections + 64; run `ulimit -n` first", a.conns);
        std::process::exit(2);
    }
    let mut out = match a.cmd.as_str() {
        "ws-rpc" => ws_rpc(&a, addr),
        "ws-idle" => idle(&a, addr, ws::Mode::WsIdle { wait_first: !a.no_hello }),
        "http-idle" => idle(&a, addr, ws::Mode::HttpIdle),
        "sse" => sse_cmd(&a, addr),
        "chat-stream" => chat::run(&chat::Config {
            addr,
            host: a.host.clone(),
            path: a.path.clone().unwrap_or_else(|| "/v1/chat/completions".into()),
            token: a.token.clone(),
            model: a.model.clone(),
            conns: a.conns,
            seconds: a.seconds,
            warmup: a.warmup,
            server_pids: a.server_pids.clone(),
        }),
        other => {
            eprintln!("loadgen: unknown scenario {other:?}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let (Some(l), Some(o)) = (&a.label, out.as_object_mut()) {
        o.insert("label".into(), json!(l));
    }
    println!("{out}");
}

fn engine(a: &Args, addr: SocketAddr, mode: ws::Mode, default_path: &str) -> ws::Engine {
    ws::Engine::new(ws::Config {
        addr,
        host: a.host.clone(),
        path: a.path.clone().unwrap_or_else(|| default_path.into()),
        token: a.token.clone(),
        subprotocol: a.subprotocol.clone(),
        method: a.method.clone(),
        conns: a.conns,
        src_addrs: a.src_addrs,
        connect_inflight: a.connect_inflight.max(1),
        mode,
    })
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ws_rpc(a: &Args, addr: SocketAddr) -> serde_json::Value {
    let depth = a.depth.max(1);
    let mut e = engine(a, addr, ws::Mode::Rpc { depth }, "/ws?protocol=jsonrpc");
    let load_before = procfs::loadavg1();
    let connect = e.open_all(Duration::from_secs_f64(a.connect_timeout));
    eprintln!("ws-rpc: {} of {} connections open after {:.2}s", e.open, a.conns, connect.as_secs_f64());
    e.start_rpc();
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < a.warmup && e.open > 0 {
        e.turn(Duration::from_millis(20));
    }
    e.begin_measuring();
    let cpu = procfs::CpuWindow::start(&a.server_pids);
    let t1 = Instant::now();
    while t1.elapsed().as_secs_f64() < a.seconds && e.open > 0 {
        e.turn(Duration::from_millis(20));
    }
    let wall = t1.elapsed().as_secs_f64();
    let (server_cpu_s, client_cpu_s) = cpu.end();
    e.end_measuring();
    let drain = Instant::now();
    while e.outstanding() > 0 && drain.elapsed() < Duration::from_secs(2) && e.open > 0 {
        e.turn(Duration::from_millis(20));
    }
    let left = e.outstanding();
    let open_at_end = e.open;
    e.close_all(Duration::from_millis(500));
    let s = e.stats();
    let n = s.round_trips;
    json!({
        "mode": "ws-rpc",
        "conns": a.conns,
        "conns_open_at_end": open_at_end,
        "depth": depth,
        "method": a.method,
        "connect_s": r3(connect.as_secs_f64()),
        "seconds": r3(wall),
        "round_trips": n,
        "rps": r3(n as f64 / wall),
        "latency": e.hist().summary_us(),
        "unanswered_at_end": left,
        "skipped_frames": s.skipped_frames,
        "server_pings": s.server_pings,
        "errors": s.errors_json(),
        "server_pids": cpu.pids(),
        "server_cpu_s": server_cpu_s,
        "server_us_per_op": r3(server_cpu_s * 1e6 / n.max(1) as f64),
        "client_cpu_s": client_cpu_s,
        "client_us_per_op": r3(client_cpu_s * 1e6 / n.max(1) as f64),
        "loadavg1_before": load_before,
    })
}

fn idle(a: &Args, addr: SocketAddr, mode: ws::Mode) -> serde_json::Value {
    let (name, default_path) = match mode {
        ws::Mode::HttpIdle => ("http-idle", "/health"),
        _ => ("ws-idle", "/ws"),
    };
    let pids = procfs::with_children(&a.server_pids);
    let (rss0, pss0) = procfs::rss_pss_kb(&pids);
    let (slab0, sunrec0) = procfs::slab_kb();
    let (tcp0, tcpmem0) = procfs::tcp_sockstat();
    let load_before = procfs::loadavg1();
    let mut e = engine(a, addr, mode, default_path);
    let connect = e.open_all(Duration::from_secs_f64(a.connect_timeout));
    // Every connection has its first server frame (WebSocket hello) and the pong to its ping.
    let t = Instant::now();
    let want_pongs = matches!(mode, ws::Mode::WsIdle { .. });
    while (e.firsts() < e.open || (want_pongs && (e.pongs() as usize) < e.open))
        && t.elapsed() < Duration::from_secs(20)
    {
        e.turn(Duration::from_millis(20));
    }
    let established = e.open;
    let firsts = e.firsts();
    let pongs = e.pongs();
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(1) {
        e.turn(Duration::from_millis(20));
    }
    let (rss1, pss1) = procfs::rss_pss_kb(&pids);
    let (slab1, sunrec1) = procfs::slab_kb();
    let (tcp1, tcpmem1) = procfs::tcp_sockstat();
    eprintln!(
        "ESTABLISHED {established} of {} after {:.2}s: server RSS {rss0} -> {rss1} KiB, Pss {pss0} -> {pss1} KiB, slab {slab0} -> {slab1} KiB",
        a.conns,
        connect.as_secs_f64()
    );
    let hold = Instant::now();
    while hold.elapsed().as_secs_f64() < a.hold && e.open > 0 {
        e.turn(Duration::from_millis(50));
    }
    let open_after_hold = e.open;
    let (rss2, pss2) = procfs::rss_pss_kb(&pids);
    e.close_all(Duration::from_secs(2));
    let n = established.max(1) as f64;
    let per = |a: u64, b: u64| ((b as f64 - a as f64) * 1024.0 / n).round();
    let s = e.stats();
    json!({
        "mode": name,
        "conns": a.conns,
        "established": established,
        "first_frames": firsts,
        "pongs": pongs,
        "open_after_hold": open_after_hold,
        "connect_s": r3(connect.as_secs_f64()),
        "hold_s": a.hold,
        "server_pids": pids,
        "server_rss_kb": [rss0, rss1, rss2],
        "server_pss_kb": [pss0, pss1, pss2],
        "rss_bytes_per_conn": per(rss0, rss1),
        "pss_bytes_per_conn": per(pss0, pss1),
        "rss_bytes_per_conn_after_hold": per(rss0, rss2),
        "slab_kb": [slab0, slab1],
        "sunreclaim_kb": [sunrec0, sunrec1],
        "slab_bytes_per_conn_both_ends": per(slab0, slab1),
        "tcp_inuse": [tcp0, tcp1],
        "tcp_mem_pages": [tcpmem0, tcpmem1],
        "server_pings": s.server_pings,
        "errors": s.errors_json(),
        "loadavg1_before": load_before,
    })
}

fn sse_cmd(a: &Args, addr: SocketAddr) -> serde_json::Value {
    // Count only the published events: Talon's debug payload says `"debug":true`, ours `"seq":`.
    let (publish, match_default) = match (&a.publish_url, &a.nchan_pub) {
        (Some(u), None) => (sse::Publish::Talon(u.clone()), "\"debug\":true"),
        (None, Some(u)) => (sse::Publish::Nchan(u.clone()), "\"seq\":"),
        _ => {
            eprintln!("loadgen sse: give exactly one of --publish-url (Talon) or --nchan-pub (nchan)");
            std::process::exit(2);
        }
    };
    // One publish call per 10 ms at most: higher rates are batched (nchan: back-to-back POSTs).
    let batch = a.batch.unwrap_or_else(|| (a.publish_rate / 100.0).ceil().max(1.0) as usize);
    sse::run(sse::Config {
        addr,
        host: a.host.clone(),
        path: a.path.clone().unwrap_or_else(|| "/api/events".into()),
        token: a.token.clone(),
        subs: a.conns,
        src_addrs: a.src_addrs,
        connect_inflight: a.connect_inflight.max(1),
        publish,
        rate: a.publish_rate,
        batch,
        event_bytes: a.event_bytes,
        seconds: a.seconds,
        drain: a.drain,
        connect_timeout: a.connect_timeout,
        skip_events: a.skip_events.clone(),
        match_data: a.match_data.clone().unwrap_or_else(|| match_default.into()),
        server_pids: a.server_pids.clone(),
    })
}
