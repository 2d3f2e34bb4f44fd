//! Request-head parsing: `talon::protocol::http1::parse_head` against httparse alone (the floor).
//!
//! Inputs are the raw fixtures in `proto/http1/fixtures/`; throughput is head bytes per second.
//! The difference between the two rows of a fixture is what Talon's RFC 9112 layer costs on top
//! of tokenising: bare-LF scan, request-line length check, framing rules, one copy of the head
//! into a `Box<[u8]>` and one `Vec` of header ranges.
//!
//! Run: `cargo bench --bench http1_parse` (add `-- --quick` for a fast smoke run).
//!
//! Baseline, measured 2026-11-23 on the 2-vCPU AMD EPYC (2.6 GHz, AVX-512) VM, rustc 1.95, two full
//! `cargo bench --bench http1_parse` runs on a shared machine (loadavg 0.6-1.3; ±15% between runs),
//! criterion point estimates, run A / run B (see docs/BENCHMARKS.md):
//!
//! | fixture                       | head bytes | talon `parse_head` | httparse alone | talon / httparse |
//! |-------------------------------|-----------:|-------------------:|---------------:|-----------------:|
//! | get_curl                      |         83 |    325 / 303 ns    |   86 / 88 ns   |       ~3.6x      |
//! | get_browser (12 headers)      |        705 |   1.27 / 1.42 µs   |  251 / 308 ns  |       ~4.8x      |
//! | post_webhook_head             |        539 |   0.98 / 1.12 µs   |  261 / 315 ns  |       ~3.6x      |
//! | post_chunked (head only)      |        160 |    449 / 440 ns    |  113 / 107 ns  |       ~4.0x      |
//!
//! Deterministic cross-check (callgrind, get_browser): ~20.5 k instructions per `parse_head`, of
//! which httparse is ~3.2 k; the byte-at-a-time bare-LF scan is ~5 k and the per-value control-byte
//! scan ~2.5 k. With `HeadLimits::default()` (`max_headers` 100 > 48 stack slots) every call also
//! allocates 100 header slots on the heap (~150 ns).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use talon::protocol::http1::{HeadLimits, parse_head};

/// Same slot count Talon keeps on the stack, so the floor parses with the same header array size.
const SLOTS: usize = 48;

const FIXTURES: &[(&str, &[u8])] = &[
    ("get_curl", include_bytes!("../proto/http1/fixtures/get_curl.http")),
    ("get_browser", include_bytes!("../proto/http1/fixtures/get_browser.http")),
    ("post_webhook_head", include_bytes!("../proto/http1/fixtures/post_webhook_head.http")),
    ("post_chunked", include_bytes!("../proto/http1/fixtures/post_chunked.http")),
];

fn httparse_floor(buf: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; SLOTS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n + req.headers.len(),
        _ => 0,
    }
}

fn bench_heads(c: &mut Criterion) {
    let limits = HeadLimits::default();
    let mut group = c.benchmark_group("http1_head");
    for &(name, bytes) in FIXTURES {
        // Every fixture must parse; the head length (not the body) is the unit of throughput.
        let head_len = match parse_head(bytes, &limits) {
            Ok(Some((_, n))) => n,
            other => panic!("fixture {name} does not parse: {other:?}"),
        };
        group.throughput(Throughput::Bytes(head_len as u64));
        group.bench_function(format!("talon/{name}"), |b| {
            b.iter(|| parse_head(black_box(bytes), black_box(&limits)).map(|r| r.map(|(h, n)| (h.header_count(), n))))
        });
        group.bench_function(format!("httparse/{name}"), |b| b.iter(|| httparse_floor(black_box(bytes))));
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_heads(&mut c);
    c.final_summary();
}
