//! SSE encoding and event publication: `protocol::sse::encode_event` on a 256-byte JSON payload,
//! and `EventBus::publish` / `publish_raw` of an event whose payload serialises to 256 bytes
//! (serialisation, both wire forms, id under the lock, ring push with eviction, no listeners).
//!
//! Run: `cargo bench --bench sse_encode` (add `-- --quick` for a fast smoke run).
//!
//! First measurement, 2026-11-23, the 2-vCPU VM while other builds and benches ran (loadavg
//! 7.6, so expect these to be several times slower than on a quiet machine; re-measure before
//! comparing), `--warm-up-time 1 --measurement-time 4`, criterion point estimates:
//!
//! | bench                   | time/op |
//! |-------------------------|--------:|
//! | encode_event/256B       |  730 ns |
//! | bus_publish/256B        |  2.9 µs |
//! | bus_publish_raw/256B    |  2.0 µs |
//!
//! Single-threaded and uncontended; no listeners registered (a wake-up is one eventfd write,
//! and at most one per reactor per burst).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use serde_json::json;
use serde_json::value::RawValue;
use talon::events::EventBus;
use talon::protocol::sse::encode_event;

/// A payload of about the size of a chat message event.
fn payload() -> serde_json::Value {
    let with =
        |text: String| json!({ "sessionKey": "web-session-1", "channelId": "web", "role": "user", "text": text });
    let overhead = serde_json::to_vec(&with(String::new())).map_or(0, |v| v.len());
    with("x".repeat(256usize.saturating_sub(overhead)))
}

fn bench(c: &mut Criterion) {
    let value = payload();
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    assert_eq!(bytes.len(), 256, "payload must serialise to 256 bytes");
    let raw = RawValue::from_string(String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_else(|e| panic!("{e}"));

    let mut group = c.benchmark_group("sse");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    let mut out = Vec::with_capacity(512);
    group.bench_function("encode_event/256B", |b| {
        b.iter(|| {
            out.clear();
            encode_event(&mut out, Some(black_box(123_456)), Some("message:received"), black_box(&bytes));
            out.len()
        })
    });
    // The default ring size, so steady state includes evicting (and freeing) the oldest event.
    let bus = EventBus::new(10_000);
    group.bench_function("bus_publish/256B", |b| b.iter(|| bus.publish("message:received", black_box(&value))));
    let bus = EventBus::new(10_000);
    group.bench_function("bus_publish_raw/256B", |b| b.iter(|| bus.publish_raw("message:received", black_box(&raw))));
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
