//! The channel loop across `kill -9`, with the real binary (`CARGO_BIN_EXE_talon`) on a data
//! dir in a temp dir, a fake OpenAI-compatible upstream (`support/fake_upstream.rs`) as
//! `agent.default_model`, and a fake Telegram API (`support/fake_platform.rs`).
//!
//! 1. Killed mid-turn (the upstream holds the stream, so the kill lands while the turn runs):
//!    after the restart the turn runs again and exactly one `sendMessage` with the whole reply
//!    arrives, and no more after a grace period.
//! 2. Killed after the reply was committed, while Telegram has the `sendMessage` and has not
//!    answered: after the restart the outbox sends it again and the turn does NOT run again.
//!    This is the residual at-least-once window: Telegram has no idempotency key, so a send it
//!    accepted just before the crash is sent a second time (two requests reach the fake here,
//!    the first never answered).

#[path = "support/fake_platform.rs"]
mod fake_platform;
#[path = "support/fake_upstream.rs"]
mod fake_upstream;
mod support;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fake_platform::{FakePlatform, Seen, json};
use fake_upstream::FakeUpstream;
use serde_json::{Value, json as j};
use support::{Conn, post_with};

/// How long a start, a turn or a send may take on a loaded machine before a test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// How long nothing more may arrive after the expected requests.
const GRACE: Duration = Duration::from_millis(1500);

const TG_SECRET: &str = "s3cr3t_Token-1";

/// The gateway as a child process.
struct Gateway {
    child: Child,
    addr: SocketAddr,
}

impl Gateway {
    /// Start `talon gateway` on `dir` and a free port; wait until `/health` answers.
    fn start(dir: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("gateway.log")).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_talon"))
            .args(["gateway", "--host", "127.0.0.1", "--port", &port.to_string(), "--data-dir"])
            .arg(dir)
            .env_remove("TALON_GATEWAY_TOKEN")
            .env_remove("TALON_GATEWAY_PORT")
            .env_remove("TALON_GATEWAY_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn talon");
        let gw = Self { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(stream) = std::net::TcpStream::connect_timeout(&gw.addr, Duration::from_millis(200)) {
                drop(stream);
                if gw.request(&support::get("/health")).0 == 200 {
                    return gw;
                }
            }
            assert!(Instant::now() < deadline, "the gateway did not start: {}", log_of(dir));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One request on a fresh connection: status and JSON body.
    fn request(&self, bytes: &[u8]) -> (u16, Value) {
        let mut c = Conn::open(self.addr);
        c.send(bytes);
        let r = c.read_response();
        (r.status, serde_json::from_slice(&r.body).unwrap_or(Value::Null))
    }

    /// SIGKILL, and reap it.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default()
}

/// A data dir with a config pointing the agent at `upstream` and Telegram at `telegram`.
fn data_dir(tag: &str, upstream: &FakeUpstream, telegram: &FakePlatform) -> PathBuf {
    let dir = support::temp_dir(tag);
    let config = j!({
        "logging": { "level": "info", "file": null },
        "agent": { "default_model": "fake/slow" },
        "providers": { "fake": { "base_url": upstream.base, "models": ["slow"], "max_retries": 0 } },
        "channels": {
            "telegram": { "enabled": true, "secret_token": TG_SECRET, "bot_token": "123:SECRET", "api_base": telegram.base("/tg") },
            "outbound": { "backoff_base_ms": 50, "backoff_max_ms": 500, "poll_interval_ms": 100 }
        }
    });
    std::fs::write(dir.join("config.json"), config.to_string()).expect("config");
    dir
}

/// Post a Telegram update; the inbox id of the stored delivery.
fn post_update(gw: &Gateway, update_id: u64, chat: i64, text: &str) -> i64 {
    let body = j!({"update_id": update_id, "message": {"message_id": 1, "from": {"id": 9, "is_bot": false}, "chat": {"id": chat}, "text": text}});
    let token = format!("X-Telegram-Bot-Api-Secret-Token: {TG_SECRET}");
    let (status, v) = gw.request(&post_with("/webhook/telegram", &[token], body.to_string().as_bytes()));
    assert_eq!(status, 200, "{v}");
    v["id"].as_i64().unwrap_or_else(|| panic!("no id: {v}"))
}

fn texts(seen: &[Seen]) -> Vec<String> {
    seen.iter().map(|s| format!("{}:{}", s.json()["chat_id"], s.json()["text"].as_str().unwrap_or(""))).collect()
}

/// Wait until the inbox row is `state` (over the admin API).
fn wait_for_state(gw: &Gateway, id: i64, state: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (_, v) = gw.request(&support::get(&format!("/api/inbox/{id}")));
        if v["state"] == state {
            return;
        }
        assert!(Instant::now() < deadline, "row {id} never became {state}: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn killed_mid_turn_the_restart_sends_exactly_one_reply() {
    let telegram = FakePlatform::start(|_, _| json(200, r#"{"ok":true,"result":{"message_id":1}}"#));
    let upstream = FakeUpstream::held(&["alpha ", "beta ", "gamma"], Duration::from_millis(20));
    let dir = data_dir("chan-kill-turn", &upstream, &telegram);

    let gw = Gateway::start(&dir);
    let id = post_update(&gw, 1, 777, "tell me");
    assert!(upstream.wait_for_requests(1, DEADLINE), "the turn reached the upstream: {}", log_of(&dir));
    gw.kill();
    assert!(telegram.seen().is_empty(), "no reply before the kill");

    upstream.release();
    let gw = Gateway::start(&dir);
    let seen = telegram.wait_for(1, DEADLINE);
    assert_eq!(texts(&seen), ["777:alpha beta gamma"], "{}", log_of(&dir));
    wait_for_state(&gw, id, "done");
    std::thread::sleep(GRACE);
    assert_eq!(texts(&telegram.seen()), ["777:alpha beta gamma"], "exactly one sendMessage");
    assert_eq!(upstream.requests(), 2, "the interrupted turn ran once more, not twice");

    // The session holds the question once (the interrupted run left nothing) and the answer.
    let (_, history) = gw.request(&support::get("/api/chat/history?sessionKey=telegram:777"));
    let messages: Vec<(String, String)> = history["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| (m["role"].as_str().unwrap_or("").into(), m["content"].as_str().unwrap_or("").into()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        messages,
        [("user".to_owned(), "tell me".to_owned()), ("assistant".to_owned(), "alpha beta gamma".to_owned())],
        "{history}"
    );
    gw.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn killed_while_telegram_holds_the_reply_the_outbox_sends_it_again_without_a_second_turn() {
    let answer_first = Arc::new(AtomicBool::new(false));
    let gate = Arc::clone(&answer_first);
    let telegram = FakePlatform::start(move |_, before| {
        if before == 0 {
            // Hold the first send until the test has killed the gateway (bounded).
            let until = Instant::now() + DEADLINE;
            while !gate.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        json(200, r#"{"ok":true,"result":{"message_id":1}}"#)
    });
    let upstream = FakeUpstream::start(&["one ", "two"], Duration::from_millis(5));
    let dir = data_dir("chan-kill-send", &upstream, &telegram);

    let gw = Gateway::start(&dir);
    let id = post_update(&gw, 1, 778, "count");
    // The sender only sends committed rows: once Telegram has the request, the reply is durable.
    assert_eq!(texts(&telegram.wait_for(1, DEADLINE)), ["778:one two"], "{}", log_of(&dir));
    gw.kill();
    answer_first.store(true, Ordering::SeqCst);

    let gw = Gateway::start(&dir);
    let seen = telegram.wait_for(2, DEADLINE);
    assert_eq!(texts(&seen), ["778:one two", "778:one two"], "sent again after the restart: {}", log_of(&dir));
    wait_for_state(&gw, id, "done");
    std::thread::sleep(GRACE);
    assert_eq!(telegram.seen().len(), 2, "nothing more once Telegram answered");
    assert_eq!(upstream.requests(), 1, "the reply was committed with the turn: no second turn");
    gw.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
