//! Chunked body decoding: a 16 KiB body in 1, 8 and 64 chunks, delivered whole and 1 byte at a time.
//!
//! "whole" is the common case (the body arrived in one read); "bytewise" is the worst case the
//! state machine must survive (every call sees one byte), which bounds the per-call overhead.
//! Throughput is encoded (wire) bytes per second. The decoded output goes into one reused `Vec`.
//! A last case decodes the realistic fixture `proto/http1/fixtures/chunked_body.bin`
//! (3 chunks, a quoted extension, 2 trailer fields).
//!
//! Run: `cargo bench --bench chunked_decode` (add `-- --quick` for a fast smoke run).
//!
//! Baseline, measured 2026-11-23 on the 2-vCPU AMD EPYC (2.6 GHz) VM, rustc 1.95, two full
//! `cargo bench --bench chunked_decode` runs on a shared machine (±25% between runs), criterion
//! point estimates, run A / run B (see docs/BENCHMARKS.md):
//!
//! | case                   | wire bytes | whole                 | bytewise (1-byte calls)        |
//! |------------------------|-----------:|----------------------:|-------------------------------:|
//! | 16 KiB in 1 chunk      |     16 397 |  215 / 183 ns         |  139 / 112 µs (~7.5 ns/byte)   |
//! | 16 KiB in 8 chunks     |     16 445 |  428 / 271 ns         |  115 / 109 µs                  |
//! | 16 KiB in 64 chunks    |     16 837 | 1.04 / 0.93 µs        |  136 / 125 µs                  |
//! | fixture (3 chunks, ext, 2 trailers) | 373 | 291 / 380 ns |  2.64 / 2.34 µs                |
//!
//! Whole-buffer decoding is memcpy-bound (15-80 GiB/s); each size line, extension and trailer
//! byte goes through the state machine at ~2 ns/byte; a 1-byte call costs ~7 ns of overhead.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use talon::protocol::http1::BodyDecoder;

const BODY_LEN: usize = 16 * 1024;
const MAX_BODY: u64 = 1 << 20;
const MAX_TRAILER: usize = 8192;
const FIXTURE: &[u8] = include_bytes!("../proto/http1/fixtures/chunked_body.bin");
const FIXTURE_DECODED: &[u8] = include_bytes!("../proto/http1/fixtures/chunked_body.decoded");

/// A chunked encoding of a `BODY_LEN`-byte JSON-ish body split into `chunks` equal chunks.
fn encode(chunks: usize) -> (Vec<u8>, Vec<u8>) {
    let body: Vec<u8> = (0..BODY_LEN).map(|i| b"{\"k\":\"value\",\"n\":12345}\n"[i % 24]).collect();
    let mut wire = Vec::with_capacity(BODY_LEN + chunks * 16);
    for part in body.chunks(BODY_LEN.div_ceil(chunks)) {
        wire.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        wire.extend_from_slice(part);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    (wire, body)
}

fn decode_whole(wire: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut dec = BodyDecoder::chunked(MAX_BODY, MAX_TRAILER);
    match dec.decode(wire, out) {
        Ok(p) if p.done => p.consumed,
        other => panic!("decode failed: {other:?}"),
    }
}

fn decode_bytewise(wire: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut dec = BodyDecoder::chunked(MAX_BODY, MAX_TRAILER);
    for (i, byte) in wire.chunks(1).enumerate() {
        match dec.decode(byte, out) {
            Ok(p) if p.done => return i + p.consumed,
            Ok(_) => {}
            Err(e) => panic!("decode failed at {i}: {e:?}"),
        }
    }
    panic!("body never completed")
}

fn bench_chunked(c: &mut Criterion) {
    let mut group = c.benchmark_group("chunked_16k");
    let mut out = Vec::with_capacity(BODY_LEN);
    for chunks in [1usize, 8, 64] {
        let (wire, body) = encode(chunks);
        assert_eq!(decode_whole(&wire, &mut out), wire.len());
        assert_eq!(out, body);
        assert_eq!(decode_bytewise(&wire, &mut out), wire.len());
        assert_eq!(out, body);
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_with_input(BenchmarkId::new("whole", chunks), &wire, |b, w| {
            b.iter(|| decode_whole(black_box(w), &mut out))
        });
        group.bench_with_input(BenchmarkId::new("bytewise", chunks), &wire, |b, w| {
            b.iter(|| decode_bytewise(black_box(w), &mut out))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("chunked_fixture");
    assert_eq!(decode_whole(FIXTURE, &mut out), FIXTURE.len());
    assert_eq!(out, FIXTURE_DECODED);
    group.throughput(Throughput::Bytes(FIXTURE.len() as u64));
    group.bench_function("whole", |b| b.iter(|| decode_whole(black_box(FIXTURE), &mut out)));
    group.bench_function("bytewise", |b| b.iter(|| decode_bytewise(black_box(FIXTURE), &mut out)));
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_chunked(&mut c);
    c.final_summary();
}
