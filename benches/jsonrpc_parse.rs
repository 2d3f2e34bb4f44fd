//! `/ws` frame decoding and reply encoding: `talon::protocol::jsonrpc` on the frames a benchmark
//! client sends most (a JSON-RPC ping, a Frames `chat.send` with small params, a batch of 10) and
//! the reply it gets (`encode_result` into a reused buffer).
//!
//! Each decode case has two serde_json floors beside it: `serde_json_ignored` (a syntax-only
//! scan that keeps nothing) and `serde_json_value` (the `Value` tree a naive decoder builds).
//!
//! Every decode case asserts once, before timing, that the frame decodes to what it should, so
//! a regression cannot make a case fast by rejecting it. Throughput is frame bytes per second.
//!
//! Run: `cargo bench --bench jsonrpc_parse` (add `-- --quick` for a fast smoke run).
//!
//! Baseline, measured 2026-12-01 on the 2-vCPU AMD EPYC VM, rustc 1.95, one
//! `cargo bench --bench jsonrpc_parse -- --warm-up-time 1 --measurement-time 3` while other
//! builds shared the machine (loadavg ~3 on 2 cores, so ±50% between rows is noise), criterion
//! point estimates; and, deterministic, callgrind instructions per call (scratch harness,
//! 20 000 calls, opt-level 3 without LTO):
//!
//! | case                               | bytes | talon `decode`    | serde_json `IgnoredAny` | serde_json `Value` |
//! |------------------------------------|------:|------------------:|------------------------:|-------------------:|
//! | jsonrpc_ping                       |    59 | 241 ns / 2.1 k ins |     108 ns / 1.4 k ins |  597 ns / 4.5 k ins |
//! | frames_chat_send (3 small params)  |   118 | 345 ns / 3.2 k ins |     326 ns / 2.4 k ins | 1.50 µs / 8.8 k ins |
//! | jsonrpc_batch_10                   |   601 | 2.59 µs / 20.7 k ins | 1.41 µs / 11.7 k ins | 6.40 µs / 60.6 k ins |
//! | `encode_result` JSON-RPC / Frames  |    -- | 19 ns / 25 ns     |                         |                    |
//!
//! So a decoded call costs ~1.4-1.8x a syntax-only scan and a third of a `Value` tree. Of the
//! ping's ~2.1 k instructions, ~350 are serde_json's string scanning (`skip_to_escape`), ~100
//! the UTF-8 check; the rest is spread over member dispatch and the rule checks.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use talon::protocol::jsonrpc::{DEFAULT_MAX_BATCH, Dialect, Inbound, decode, encode_result};

const PING: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"system.ping","params":{}}"#;
const FRAMES_REQ: &[u8] =
    br#"{"type":"req","id":"42","method":"chat.send","params":{"sessionKey":"main","message":"hello","idempotencyKey":"k-42"}}"#;

fn batch_of_10() -> Vec<u8> {
    let items: Vec<String> =
        (0..10).map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"system.ping","params":{{}}}}"#)).collect();
    format!("[{}]", items.join(",")).into_bytes()
}

/// Calls in the frame, or 0 if anything was rejected; keeps the optimiser honest.
fn calls(inbound: &Inbound<'_>) -> usize {
    match inbound {
        Inbound::Single(Ok(_)) => 1,
        Inbound::Batch(items) if items.iter().all(Result::is_ok) => items.len(),
        _ => 0,
    }
}

fn bench_decode(c: &mut Criterion) {
    let batch = batch_of_10();
    let cases: [(&str, &[u8], usize); 3] =
        [("jsonrpc_ping", PING, 1), ("frames_chat_send", FRAMES_REQ, 1), ("jsonrpc_batch_10", &batch, 10)];
    let mut group = c.benchmark_group("jsonrpc_decode");
    for (name, frame, want) in cases {
        assert_eq!(calls(&decode(frame, DEFAULT_MAX_BATCH)), want, "{name} must decode to {want} calls");
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function(format!("talon/{name}"), |b| {
            b.iter(|| calls(&decode(black_box(frame), DEFAULT_MAX_BATCH)))
        });
        // Floors: a syntax-only scan (nothing kept), and the `Value` tree this module avoids.
        group.bench_function(format!("serde_json_ignored/{name}"), |b| {
            b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(frame)).is_ok())
        });
        group.bench_function(format!("serde_json_value/{name}"), |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(frame)).is_ok())
        });
    }
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let rpc_id: &RawValue = match serde_json::from_str("1") {
        Ok(id) => id,
        Err(e) => panic!("id: {e}"),
    };
    let frames_id: &RawValue = match serde_json::from_str(r#""42""#) {
        Ok(id) => id,
        Err(e) => panic!("id: {e}"),
    };
    let mut group = c.benchmark_group("jsonrpc_encode");
    let mut out = Vec::with_capacity(256);
    group.bench_function("result_jsonrpc", |b| {
        b.iter(|| {
            out.clear();
            encode_result(Dialect::JsonRpc, Some(black_box(rpc_id)), black_box(br#"{"pong":true}"#), &mut out);
            out.len()
        })
    });
    group.bench_function("result_frames", |b| {
        b.iter(|| {
            out.clear();
            encode_result(
                Dialect::Frames,
                Some(black_box(frames_id)),
                black_box(br#"{"runId":"r-1","status":"accepted"}"#),
                &mut out,
            );
            out.len()
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_decode(&mut c);
    bench_encode(&mut c);
    c.final_summary();
}
