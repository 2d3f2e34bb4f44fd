//! `loadgen chat-stream`: streaming chat completions under load, for the per-token overhead
//! benchmark (benches/chat_stream.sh). Each of `--conns` threads holds one keep-alive
//! connection and posts `{"model", "messages", "stream": true}` to `--path` back to back; it
//! reads the chunked SSE answer, counts content chunks (tokens) and records the gap between
//! consecutive tokens of a stream and each stream's time per token. The same client runs
//! against the fake upstream directly and against Talon in front of it, so the two figures
//! differ only by what the gateway adds.
//!
//! Threads, not a poll loop: 64 blocking streams are cheap, and a token's arrival time is then
//! taken on the thread that reads it, with no queueing behind other connections.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::hist::Hist;
use crate::{procfs, r3, wire};

/// What one run is asked to do.
pub struct Config {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
    pub token: Option<String>,
    pub model: String,
    pub conns: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub server_pids: Vec<u32>,
}

/// What the threads add up.
#[derive(Default)]
struct Totals {
    streams: u64,
    tokens: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Run the scenario; one JSON object with the figures.
pub fn run(c: &Config) -> serde_json::Value {
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let gaps = Arc::new(Mutex::new(Hist::new()));
    let per_token = Arc::new(Mutex::new(Hist::new()));
    let totals = Arc::new(Mutex::new(Totals::default()));
    let body = json!({
        "model": c.model,
        "stream": true,
        "messages": [{ "role": "user", "content": "Tell me a story about a gateway." }],
    })
    .to_string();
    let auth = c.token.as_ref().map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        c.path,
        c.host,
        body.len()
    );
    let load_before = procfs::loadavg1();
    let mut threads = Vec::new();
    for _ in 0..c.conns {
        let (stop, measuring, gaps, per_token, totals) =
            (stop.clone(), measuring.clone(), gaps.clone(), per_token.clone(), totals.clone());
        let (request, addr) = (request.clone(), c.addr);
        threads.push(std::thread::spawn(move || {
            let mut local_gaps = Hist::new();
            let mut local_per_token = Hist::new();
            let mut local = Totals::default();
            let mut conn: Option<TcpStream> = None;
            while !stop.load(Ordering::Relaxed) {
                let stream = match conn.take() {
                    Some(s) => s,
                    None => match TcpStream::connect(addr) {
                        Ok(s) => s,
                        Err(e) => {
                            local.errors += 1;
                            local.first_error.get_or_insert_with(|| format!("connect: {e}"));
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        }
                    },
                };
                let counted = measuring.load(Ordering::Relaxed);
                match one_stream(stream, &request, counted.then_some(&mut local_gaps)) {
                    Ok((s, tokens, elapsed)) => {
                        conn = s;
                        if counted && tokens > 0 {
                            local.streams += 1;
                            local.tokens += tokens;
                            local_per_token.record(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX) / tokens);
                        }
                    }
                    Err(e) => {
                        local.errors += 1;
                        local.first_error.get_or_insert(e);
                    }
                }
            }
            gaps.lock().map(|mut g| g.merge(&local_gaps)).ok();
            per_token.lock().map(|mut g| g.merge(&local_per_token)).ok();
            if let Ok(mut t) = totals.lock() {
                t.streams += local.streams;
                t.tokens += local.tokens;
                t.errors += local.errors;
                if t.first_error.is_none() {
                    t.first_error = local.first_error;
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(c.warmup));
    measuring.store(true, Ordering::Relaxed);
    let cpu = procfs::CpuWindow::start(&c.server_pids);
    let pids = procfs::with_children(&c.server_pids);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(c.seconds / 2.0));
    // Memory while every stream is in flight (the middle of the window).
    let (rss_mid, _) = procfs::rss_pss_kb(&pids);
    std::thread::sleep(Duration::from_secs_f64(c.seconds / 2.0));
    let wall = t0.elapsed().as_secs_f64();
    let (server_cpu_s, client_cpu_s) = cpu.end();
    measuring.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let t = totals.lock().map(|t| (t.streams, t.tokens, t.errors, t.first_error.clone())).unwrap_or_default();
    let (gaps, per_token) = (gaps.lock().ok(), per_token.lock().ok());
    json!({
        "mode": "chat-stream",
        "conns": c.conns,
        "path": c.path,
        "model": c.model,
        "seconds": r3(wall),
        "streams": t.0,
        "tokens": t.1,
        "tokens_per_s": r3(t.1 as f64 / wall),
        "errors": t.2,
        "first_error": t.3,
        "token_gap": gaps.map(|g| g.summary_us()),
        "stream_time_per_token": per_token.map(|g| g.summary_us()),
        "server_pids": pids,
        "server_rss_kb_mid": rss_mid,
        "server_cpu_s": server_cpu_s,
        "server_us_per_token": r3(server_cpu_s * 1e6 / t.1.max(1) as f64),
        "client_cpu_s": client_cpu_s,
        "loadavg1_before": load_before,
    })
}

/// One request and its streamed answer: the connection back (for the next request), the number
/// of content chunks and the time from sending the request to the end of the stream.
fn one_stream(
    mut s: TcpStream,
    request: &str,
    mut gaps: Option<&mut Hist>,
) -> Result<(Option<TcpStream>, u64, Duration), String> {
    s.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    let start = Instant::now();
    s.write_all(request.as_bytes()).map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    let head = loop {
        let n = s.read(&mut chunk).map_err(|e| format!("read head: {e}"))?;
        if n == 0 {
            return Err("closed before the head".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(h) = wire::parse_head(&buf)? {
            break h;
        }
    };
    if head.status != 200 {
        return Err(format!("status {}: {}", head.status, String::from_utf8_lossy(&buf[head.len..])));
    }
    let mut decoder = wire::Chunked::default();
    let mut body = Vec::new();
    let (mut tokens, mut last) = (0u64, Instant::now());
    let mut pending = buf.split_off(head.len);
    let mut scanned = 0;
    loop {
        let done = decoder.feed(&pending, &mut body)?;
        pending.clear();
        // Count complete events: each `data: {...content...}` line with a non-empty content.
        while let Some(end) = wire::find(&body[scanned..], b"\n\n") {
            let event = &body[scanned..scanned + end];
            scanned += end + 2;
            if wire::find(event, b"\"content\":\"").is_some() && wire::find(event, b"\"content\":\"\"").is_none() {
                let now = Instant::now();
                if let Some(g) = gaps.as_deref_mut()
                    && tokens > 0
                {
                    g.record(u64::try_from(now.duration_since(last).as_nanos()).unwrap_or(u64::MAX));
                }
                last = now;
                tokens += 1;
            }
        }
        if done {
            break;
        }
        let n = s.read(&mut chunk).map_err(|e| format!("read body: {e}"))?;
        if n == 0 {
            return Err("closed mid-stream".into());
        }
        pending.extend_from_slice(&chunk[..n]);
    }
    if wire::find(&body, b"data: [DONE]").is_none() {
        return Err("stream ended without [DONE]".into());
    }
    Ok((Some(s), tokens, start.elapsed()))
}
