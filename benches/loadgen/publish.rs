//! The publisher of the `sse` scenario (S4): a thread that posts events at a fixed rate, closed
//! loop (a tick waits for the previous tick's answers), to Talon's `POST /debug/publish` or to an
//! nginx+nchan publisher location, recording each event's send time in the shared table.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::sse::{Publish, Shared};
use crate::wire::{self, Chunked};

/// Bytes Talon's debug payload adds around its padding
/// (`{"debug":true,"i":N,"sentNs":"<19 digits>","pad":"…"}`), so `--event-bytes` means about
/// the same data-line size for Talon and for nchan (whose payload we write to exactly that size).
const TALON_PAYLOAD_OVERHEAD: usize = 62;

pub(crate) struct PubCfg {
    pub(crate) publish: Publish,
    pub(crate) token: Option<String>,
    pub(crate) rate: f64,
    pub(crate) batch: usize,
    pub(crate) event_bytes: usize,
    pub(crate) seconds: f64,
}

/// `http://host:port/path?query` -> (socket address, host, path and query).
pub fn split_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// URLs"))?;
    let (host, path) = match rest.find('/') {
        Some(k) => (&rest[..k], &rest[k..]),
        None => (rest, "/"),
    };
    let addr = host
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))?;
    Ok((addr, host.to_string(), path.to_string()))
}

/// A blocking keep-alive HTTP/1.1 client connection for the publisher.
struct HttpConn {
    addr: SocketAddr,
    stream: Option<StdStream>,
    buf: Vec<u8>,
}

impl HttpConn {
    /// Writes `req` (one request, or `answers` pipelined ones) and reads `answers` answers.
    fn request(&mut self, req: &[u8], answers: usize) -> Result<(), String> {
        if self.stream.is_none() {
            let s = StdStream::connect(self.addr).map_err(|e| format!("publisher connect: {e}"))?;
            let _ = s.set_nodelay(true);
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            self.stream = Some(s);
            self.buf.clear();
        }
        let res = self.exchange(req, answers);
        if res.is_err() {
            self.stream = None;
        }
        res
    }

    fn exchange(&mut self, req: &[u8], answers: usize) -> Result<(), String> {
        let s = self.stream.as_mut().ok_or("no connection")?;
        s.write_all(req).map_err(|e| format!("publisher write: {e}"))?;
        for _ in 0..answers {
            self.answer()?;
        }
        Ok(())
    }

    /// Reads one answer; Err on a non-2xx status.
    fn answer(&mut self) -> Result<u16, String> {
        let s = self.stream.as_mut().ok_or("no connection")?;
        let mut tmp = [0u8; 8192];
        loop {
            if let Some(h) = wire::parse_head(&self.buf)? {
                let mut body = Vec::new();
                if h.chunked {
                    let mut ch = Chunked::default();
                    let mut finished = ch.feed(&self.buf[h.len..], &mut body)?;
                    while !finished {
                        let n = s.read(&mut tmp).map_err(|e| format!("publisher read: {e}"))?;
                        if n == 0 {
                            return Err("publisher: closed mid-body".into());
                        }
                        finished = ch.feed(&tmp[..n], &mut body)?;
                    }
                    // Only nchan's answers are pipelined, and they carry Content-Length.
                    self.buf.clear();
                } else {
                    let need = h.len + h.content_length.unwrap_or(0);
                    while self.buf.len() < need {
                        let n = s.read(&mut tmp).map_err(|e| format!("publisher read: {e}"))?;
                        if n == 0 {
                            return Err("publisher: closed mid-body".into());
                        }
                        self.buf.extend_from_slice(&tmp[..n]);
                    }
                    body.extend_from_slice(&self.buf[h.len..need]);
                    self.buf.drain(..need);
                }
                if !(200..300).contains(&h.status) {
                    return Err(format!("publish answered {}: {}", h.status, String::from_utf8_lossy(&body)));
                }
                return Ok(h.status);
            }
            let n = s.read(&mut tmp).map_err(|e| format!("publisher read: {e}"))?;
            if n == 0 {
                return Err("publisher: connection closed before the answer".into());
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }
}

pub(crate) fn publisher(p: PubCfg, shared: &Shared, epoch: Instant) {
    let url = match &p.publish {
        Publish::Talon(u) | Publish::Nchan(u) => u.clone(),
    };
    let (addr, host, path) = match split_url(&url) {
        Ok(x) => x,
        Err(e) => {
            *shared.first_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
            shared.done.store(true, Ordering::Release);
            return;
        }
    };
    let mut conn = HttpConn { addr, stream: None, buf: Vec::new() };
    let auth = p.token.as_ref().map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let interval = Duration::from_secs_f64(p.batch as f64 / p.rate.max(1e-9));
    let t0 = Instant::now();
    let w0 = epoch.elapsed().as_nanos() as u64;
    let mut seq = 0usize;
    let mut k = 0u32;
    let fail = |e: String| {
        shared.errors.fetch_add(1, Ordering::Relaxed);
        let mut fe = shared.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if fe.is_none() {
            *fe = Some(e);
        }
    };
    while t0.elapsed().as_secs_f64() < p.seconds && !shared.stop.load(Ordering::Acquire) {
        let due = t0 + interval * k;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        k += 1;
        if seq + p.batch > shared.times.len() {
            break;
        }
        let t_ns = epoch.elapsed().as_nanos() as u64;
        for j in 0..p.batch {
            shared.times[seq + j].store(t_ns + 1, Ordering::Release);
        }
        match &p.publish {
            Publish::Talon(_) => {
                let sep = if path.contains('?') { '&' } else { '?' };
                let req = format!(
                    "POST {path}{sep}count={}&bytes={} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: 0\r\n\r\n",
                    p.batch,
                    p.event_bytes.saturating_sub(TALON_PAYLOAD_OVERHEAD)
                );
                shared.requests.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = conn.request(req.as_bytes(), 1) {
                    fail(e);
                }
            }
            Publish::Nchan(_) => {
                // nchan takes one message per POST: the batch goes as pipelined POSTs in one write.
                let mut reqs = String::new();
                for j in 0..p.batch {
                    let body = event_body(seq + j, t_ns, p.event_bytes);
                    reqs.push_str(&format!(
                        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    ));
                }
                shared.requests.fetch_add(p.batch as u64, Ordering::Relaxed);
                if let Err(e) = conn.request(reqs.as_bytes(), p.batch) {
                    fail(e);
                }
            }
        }
        seq += p.batch;
        shared.published.store(seq as u64, Ordering::Release);
    }
    *shared.window.lock().unwrap_or_else(|e| e.into_inner()) = (w0, epoch.elapsed().as_nanos() as u64);
    shared.done.store(true, Ordering::Release);
}

/// The event we publish to nchan: JSON with the sequence number and the send time (ns since the
/// load client started), padded to `bytes`.
pub fn event_body(seq: usize, t_ns: u64, bytes: usize) -> String {
    let mut s = format!(r#"{{"seq":{seq},"t":{t_ns},"pad":""#);
    while s.len() + 2 < bytes {
        s.push('x');
    }
    s.push_str("\"}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_body_size_and_fields() {
        let b = event_body(7, 123, 256);
        assert_eq!(b.len(), 256);
        assert_eq!(wire::json_u64(b.as_bytes(), b"\"seq\":"), Some(7));
        assert_eq!(wire::json_u64(b.as_bytes(), b"\"t\":"), Some(123));
        assert!(serde_json::from_str::<serde_json::Value>(&b).is_ok());
    }

    #[test]
    fn url_split() {
        let (a, h, p) = split_url("http://127.0.0.1:8080/debug/publish?x=1").unwrap();
        assert_eq!(a.port(), 8080);
        assert_eq!(h, "127.0.0.1:8080");
        assert_eq!(p, "/debug/publish?x=1");
    }
}
