//! Graceful shutdown: the real binary on SIGTERM, and the in-process server's drain.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Conn, TestServer, get};

/// The gateway binary as a child process; killed on drop if still running.
struct Gateway {
    child: Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl Gateway {
    fn spawn(config: &serde_json::Value) -> Self {
        let dir = support::temp_dir("bin");
        std::fs::write(dir.join("config.json"), config.to_string()).expect("write config.json");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_talon"));
        cmd.args(["gateway", "--port", "0", "--data-dir"]).arg(&dir);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("TALON_") {
                cmd.env_remove(&k);
            }
        }
        cmd.env("TALON_LOG_FILE", "").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn talon");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Keep draining so the child never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    panic!("talon did not print its listening address within 10 s");
                }
            };
            if let Some(rest) = line.strip_prefix("talon: listening on http://") {
                break rest.trim().parse::<SocketAddr>().expect("listening address");
            }
        };
        Self { child, addr, dir }
    }

    fn sigterm(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("talon did not exit within {within:?} after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a connection to `addr` is refused within `within`.
fn refused_within(addr: SocketAddr, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return true,
            _ if Instant::now() >= deadline => return false,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn sigterm_finishes_in_flight_request_refuses_new_ones_and_exits_zero() {
    let mut gw = Gateway::spawn(&json!({ "gateway": { "debug_routes": true, "shutdown_grace_ms": 5000 } }));

    let mut idle = Conn::open(gw.addr);
    idle.send(&get("/health"));
    assert_eq!(idle.read_response().status, 200);

    let mut busy = Conn::open(gw.addr);
    busy.send(&get("/debug/sleep?ms=800"));
    std::thread::sleep(Duration::from_millis(200));

    let t = Instant::now();
    gw.sigterm();

    assert!(idle.closed_within(Duration::from_secs(2)), "an idle keep-alive connection is closed at shutdown");
    assert!(refused_within(gw.addr, Duration::from_secs(2)), "new connections are refused once shutdown begins");

    let r = busy.read_response();
    assert_eq!(r.status, 200, "the in-flight request completes: {}", r.text());
    assert_eq!(r.json()["slept_ms"], json!(800));
    assert!(r.closes(), "the last response of a draining server says Connection: close:\n{}", r.head);
    assert!(busy.read_until_eof().is_empty());

    let status = gw.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "shutdown took {:?}", t.elapsed());
}

#[test]
fn sigterm_on_an_idle_server_exits_zero_promptly() {
    let mut gw = Gateway::spawn(&json!({ "gateway": {} }));
    let mut c = Conn::open(gw.addr);
    c.send(&get("/health"));
    assert_eq!(c.read_response().status, 200);
    let t = Instant::now();
    gw.sigterm();
    let status = gw.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "exit status {status:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "idle shutdown took {:?}", t.elapsed());
}

#[test]
fn in_process_drain_completes_requests_and_reports_not_ready() {
    let srv = TestServer::gateway(json!({ "debug_routes": true, "shutdown_grace_ms": 5000 }));
    let addr = srv.addr;
    let mut busy = srv.connect();
    busy.send(&get("/debug/sleep?ms=600"));
    // A half-sent head keeps this connection out of the idle set at drain time.
    let mut late = srv.connect();
    late.send(b"GET /ready HTTP/1.1\r\nHo");
    std::thread::sleep(Duration::from_millis(150));

    srv.begin_shutdown();
    assert!(refused_within(addr, Duration::from_secs(2)), "listener closed at shutdown");

    late.send(b"st: t\r\n\r\n");
    let r = late.read_response();
    assert_eq!(r.status, 503, "/ready while draining: {}", r.text());
    assert_eq!(r.json()["status"], json!("not_ready"));
    assert!(r.closes(), "{}", r.head);

    let r = busy.read_response();
    assert_eq!(r.status, 200);
    assert!(r.closes(), "{}", r.head);
    assert!(busy.read_until_eof().is_empty());

    let t = Instant::now();
    srv.stop();
    assert!(t.elapsed() < Duration::from_secs(3), "wait() took {:?} with nothing in flight", t.elapsed());
}

#[test]
fn ready_503_while_draining_carries_retry_after() {
    let srv = TestServer::gateway(json!({ "shutdown_grace_ms": 5000 }));
    let mut late = srv.connect();
    late.send(b"GET /readyz HTTP/1.1\r\nHo");
    std::thread::sleep(Duration::from_millis(100));
    srv.begin_shutdown();
    std::thread::sleep(Duration::from_millis(100));
    late.send(b"st: t\r\n\r\n");
    let r = late.read_response();
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.header("retry-after").is_some(), "every 503 carries Retry-After:\n{}", r.head);
}

#[test]
fn requests_past_the_grace_period_are_cut() {
    let srv = TestServer::gateway(json!({ "debug_routes": true, "shutdown_grace_ms": 300 }));
    let mut busy = srv.connect();
    busy.send(&get("/debug/sleep?ms=1500"));
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    srv.begin_shutdown();
    let got = busy.read_until_eof_within(Duration::from_secs(3));
    assert!(got.is_empty(), "no response for a request cut at the grace deadline: {:?}", String::from_utf8_lossy(&got));
    let at = t.elapsed();
    assert!(at >= Duration::from_millis(200) && at < Duration::from_millis(1200), "cut after {at:?} (grace 300 ms)");
}
