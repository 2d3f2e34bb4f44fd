//! `loadgen fake-upstream`: a stand-in OpenAI-compatible model server for the streaming
//! benchmarks. `POST .../chat/completions` with `"stream": true` answers OpenAI's chunk
//! sequence (role chunk, `--tokens` content chunks `--interval-us` apart, finish chunk, a usage
//! chunk, `[DONE]`) with chunked framing on a keep-alive connection, like llama.cpp's server;
//! without `stream` it answers one `chat.completion` after `tokens × interval`. `GET
//! .../models` lists `--model`. One thread per connection: the pacing of one stream never
//! waits on another, so the direct run measures the pacing, not this server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::wire;

/// The answer's shape.
#[derive(Clone)]
pub struct Config {
    pub port: u16,
    pub model: String,
    pub tokens: usize,
    pub interval: Duration,
}

/// Serve until killed.
pub fn serve(c: &Config) -> ! {
    let listener = match TcpListener::bind(("127.0.0.1", c.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fake-upstream: bind 127.0.0.1:{}: {e}", c.port);
            std::process::exit(1);
        }
    };
    eprintln!("fake-upstream: listening on 127.0.0.1:{}", c.port);
    loop {
        if let Ok((stream, _)) = listener.accept() {
            let c = c.clone();
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let _ = connection(stream, &c);
            });
        }
    }
}

/// Requests on one connection until the client closes it.
fn connection(mut s: TcpStream, c: &Config) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // The head, then a Content-Length body.
        let head_end = loop {
            if let Some(i) = wire::find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok()))
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        if head.starts_with("get ") && head.contains("/models") {
            let list = serde_json::json!({ "object": "list", "data": [{ "id": c.model, "object": "model", "owned_by": "bench" }] });
            respond(&mut s, 200, &list.to_string())?;
        } else if head.starts_with("post ") && head.contains("/chat/completions") {
            if wire::find(&body, b"\"stream\":true").is_some() {
                stream(&mut s, c)?;
            } else {
                std::thread::sleep(c.interval * u32::try_from(c.tokens).unwrap_or(u32::MAX));
                let text: String = (0..c.tokens).map(|i| format!("tok{i} ")).collect();
                let answer = serde_json::json!({
                    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": c.model,
                    "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
                    "usage": { "prompt_tokens": 8, "completion_tokens": c.tokens, "total_tokens": 8 + c.tokens },
                });
                respond(&mut s, 200, &answer.to_string())?;
            }
        } else {
            respond(&mut s, 404, r#"{"error":{"message":"not found","type":"invalid_request_error"}}"#)?;
        }
    }
}

fn respond(s: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = if status == 200 { "OK" } else { "Not Found" };
    write!(
        s,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn chunk(s: &mut TcpStream, data: &str) -> std::io::Result<()> {
    let event = format!("data: {data}\n\n");
    write!(s, "{:x}\r\n{event}\r\n", event.len())
}

fn stream(s: &mut TcpStream, c: &Config) -> std::io::Result<()> {
    s.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-store\r\nTransfer-Encoding: chunked\r\n\r\n",
    )?;
    let piece = |delta: serde_json::Value, finish: Option<&str>| {
        serde_json::json!({
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": c.model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        })
        .to_string()
    };
    chunk(s, &piece(serde_json::json!({ "role": "assistant" }), None))?;
    for i in 0..c.tokens {
        std::thread::sleep(c.interval);
        chunk(s, &piece(serde_json::json!({ "content": format!("tok{i} ") }), None))?;
    }
    chunk(s, &piece(serde_json::json!({}), Some("stop")))?;
    let usage = serde_json::json!({
        "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": c.model, "choices": [],
        "usage": { "prompt_tokens": 8, "completion_tokens": c.tokens, "total_tokens": 8 + c.tokens },
    });
    chunk(s, &usage.to_string())?;
    chunk(s, "[DONE]")?;
    s.write_all(b"0\r\n\r\n")
}
