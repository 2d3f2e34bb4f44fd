//! Upstream stream decoding: a realistic OpenAI chat-completions stream (a role chunk, 256
//! content chunks of one short token each, a finish chunk, a usage chunk, `[DONE]`) and the
//! same answer as an Anthropic Messages stream, through `UpstreamStream` (the bounded SSE
//! decoder plus the chunk decoder), fed in 16 KiB reads as the HTTP client feeds it. Also the
//! SSE decoder alone over the OpenAI stream.
//!
//! Run: `cargo bench --bench provider_stream` (add `-- --quick` for a fast smoke run).
//! Results are in the table below; see docs/BENCHMARKS.md for the machine notes.
//!
//! First measurement, 2026-12, the 2-vCPU VM under `nice 19` while another engineer's CPU
//! benchmarks ran (loadavg 0.9-3.4, so treat these as a noisy floor),
//! `--warm-up-time 1 --measurement-time 3`, criterion point estimates:
//!
//! | bench                          | time/stream | per chunk | throughput |
//! |--------------------------------|------------:|----------:|-----------:|
//! | openai/256_chunks              |      297 µs |   1.15 µs |  204 MiB/s |
//! | sse_only/openai_256_chunks     |       78 µs |   0.30 µs |  783 MiB/s |
//! | anthropic/256_events           |      229 µs |   0.88 µs |          — |
//!
//! So decoding costs about a microsecond per streamed token, most of it serde_json on the chunk;
//! an upstream producing 50-100 tokens/s spends 10-20 ms per token, four orders of magnitude more.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use serde_json::json;
use talon::agent::providers::StreamEvent;
use talon::agent::providers::anthropic_stream::AnthropicStream;
use talon::agent::providers::openai_stream::OpenAiStream;
use talon::agent::providers::stream::{ChunkDecoder, UpstreamStream};
use talon::protocol::sse_decode::SseDecoder;

/// Content chunks per stream (a short answer of about 256 tokens).
const TOKENS: usize = 256;

/// How the HTTP client reads the body.
const READ_BYTES: usize = 16 * 1024;

fn openai_stream() -> Vec<u8> {
    let mut out = String::new();
    let mut chunk = |v: serde_json::Value| out.push_str(&format!("data: {v}\n\n"));
    let base = |delta: serde_json::Value, finish: serde_json::Value| {
        json!({ "id": "chatcmpl-9x3Yk2", "object": "chat.completion.chunk", "created": 1_765_000_000,
                "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0ba0d124f1",
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }] })
    };
    chunk(base(json!({ "role": "assistant", "content": "", "refusal": null }), json!(null)));
    for i in 0..TOKENS {
        chunk(base(json!({ "content": format!(" tok{}", i % 97) }), json!(null)));
    }
    chunk(base(json!({}), json!("stop")));
    chunk(json!({ "id": "chatcmpl-9x3Yk2", "object": "chat.completion.chunk", "choices": [],
                  "usage": { "prompt_tokens": 812, "completion_tokens": TOKENS, "total_tokens": 812 + TOKENS } }));
    out.push_str("data: [DONE]\n\n");
    out.into_bytes()
}

fn anthropic_stream() -> Vec<u8> {
    let mut out = String::new();
    let mut event =
        |v: serde_json::Value| out.push_str(&format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or("")));
    event(json!({ "type": "message_start", "message": { "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message",
        "role": "assistant", "content": [], "model": "claude-sonnet-4-5", "stop_reason": null, "stop_sequence": null,
        "usage": { "input_tokens": 812, "output_tokens": 1 } } }));
    event(json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }));
    for i in 0..TOKENS {
        event(
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": format!(" tok{}", i % 97) } }),
        );
    }
    event(json!({ "type": "content_block_stop", "index": 0 }));
    event(
        json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null }, "usage": { "output_tokens": TOKENS } }),
    );
    event(json!({ "type": "message_stop" }));
    out.into_bytes()
}

fn decode<D: ChunkDecoder>(decoder: D, bytes: &[u8]) -> usize {
    let mut stream = UpstreamStream::new(decoder);
    let mut text = 0usize;
    let mut count = |e: StreamEvent<'_>| {
        if let StreamEvent::TextDelta(t) = e {
            text += t.len();
        }
    };
    for read in bytes.chunks(READ_BYTES) {
        if stream.feed(read, &mut count).is_err() {
            return 0;
        }
    }
    if stream.finish(&mut count).is_err() {
        return 0;
    }
    text
}

fn bench(c: &mut Criterion) {
    let openai = openai_stream();
    let anthropic = anthropic_stream();
    assert!(decode(OpenAiStream::new(), &openai) > 0, "the OpenAI fixture must decode");
    assert!(decode(AnthropicStream::new(), &anthropic) > 0, "the Anthropic fixture must decode");

    let mut group = c.benchmark_group("provider_stream");
    group.throughput(Throughput::Bytes(openai.len() as u64));
    group.bench_function("openai/256_chunks", |b| b.iter(|| decode(OpenAiStream::new(), black_box(&openai))));
    group.bench_function("sse_only/openai_256_chunks", |b| {
        b.iter(|| {
            let mut sse = SseDecoder::new();
            let mut events = 0usize;
            for read in black_box(&openai).chunks(READ_BYTES) {
                let _ = sse.feed(read, &mut |_| events += 1);
            }
            events
        })
    });
    group.throughput(Throughput::Bytes(anthropic.len() as u64));
    group.bench_function("anthropic/256_events", |b| b.iter(|| decode(AnthropicStream::new(), black_box(&anthropic))));
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
