//! Webhook body reading: `talon::webhook::delivery::classify` (the dedup id, on the path before
//! the 2xx) and `talon::webhook::normalize::normalize` (the `message:received` fields, after) on
//! realistic bodies from `proto/webhooks/payloads.json`, beside two serde_json floors: a
//! syntax-only scan (`IgnoredAny`) and the `Value` tree a naive reader would build.
//!
//! Every case asserts once, before timing, that it classifies as a delivery with the file's id
//! and normalizes to one message, so a regression cannot make a case fast by rejecting it.
//! Throughput is body bytes per second.
//!
//! Run: `cargo bench --bench webhook_body` (add `-- --quick` for a fast smoke run).
//!
//! Baseline, 2026-12-02, rustc 1.95, bench profile (LTO): callgrind instructions per call
//! (scratch harness, 2 000 calls, difference against 1 call), deterministic where wall time on
//! the shared 2-vCPU VM was not (loadavg ~4: a `--quick` run gave classify 0.8-2.0 µs):
//!
//! | case                          | bytes | classify | normalize | serde_json `IgnoredAny` | serde_json `Value` |
//! |-------------------------------|------:|---------:|----------:|------------------------:|-------------------:|
//! | telegram_text                 |   327 |    5.9 k |     9.2 k |                   4.9 k |             19.3 k |
//! | slack_message                 |   354 |    7.0 k |     9.3 k |                   4.8 k |             19.9 k |
//! | slack_slash_command_official  |   362 |    9.8 k |    14.1 k |           (not JSON) -- |                 -- |
//! | discord_slash_command         |   543 |    9.8 k |    16.0 k |                   7.5 k |             31.5 k |
//! | whatsapp_text                 |   499 |   11.4 k |    12.3 k |                   6.3 k |             26.2 k |
//! | line_text                     |   402 |    7.9 k |    10.5 k |                   5.2 k |             20.6 k |
//! | lark_v2_text                  |   675 |   10.6 k |    17.6 k |                   7.5 k |             29.9 k |
//! | hooks_data_text (SHA-256 id)  |   104 |   11.8 k |     5.5 k |                   2.0 k |              7.0 k |
//!
//! So classify costs 1.2-1.8x a syntax-only scan and about a third of a `Value` tree; the Comis
//! row is the body's SHA-256 (software SHA under callgrind). Of classify's extra, the up-front
//! UTF-8 check and the opener count (`lenient::nesting_exceeds`) are ~300 instructions each.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use serde::de::IgnoredAny;
use talon::webhook::Channel;
use talon::webhook::delivery::{Classified, classify};
use talon::webhook::normalize::normalize;

const PAYLOADS: &str = include_str!("../proto/webhooks/payloads.json");

/// The cases timed: one common delivery per channel.
const CASES: [&str; 8] = [
    "telegram_text",
    "slack_message",
    "slack_slash_command_official",
    "discord_slash_command",
    "whatsapp_text",
    "line_text",
    "lark_v2_text",
    "hooks_data_text",
];

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    channel: String,
    content_type: Option<String>,
    body: String,
    expect_delivery_id: Option<String>,
}

fn main() {
    let all: Vec<Case> = match serde_json::from_str(PAYLOADS) {
        Ok(all) => all,
        Err(e) => panic!("payloads.json: {e}"),
    };
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("webhook_body");
    for name in CASES {
        let Some(case) = all.iter().find(|c| c.name == name) else { panic!("no case {name}") };
        let Some(channel) = Channel::from_name(&case.channel) else { panic!("{name}: channel") };
        let (ct, body) = (case.content_type.as_deref(), case.body.as_bytes());
        let id = classify(channel, ct, body).ok().and_then(|c| c.delivery_id().map(str::to_owned));
        assert_eq!(id, case.expect_delivery_id, "{name} must classify as in payloads.json");
        assert_eq!(normalize(channel, ct, body).map(|m| m.len()), Ok(1), "{name} must normalize to one message");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("classify/{name}"), |b| {
            b.iter(|| matches!(classify(channel, ct, black_box(body)), Ok(Classified::Deliver { .. })))
        });
        group.bench_function(format!("normalize/{name}"), |b| {
            b.iter(|| normalize(channel, ct, black_box(body)).map(|m| m.len()))
        });
        if !name.contains("slash") {
            group.bench_function(format!("serde_json_ignored/{name}"), |b| {
                b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(body)).is_ok())
            });
            group.bench_function(format!("serde_json_value/{name}"), |b| {
                b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)).is_ok())
            });
        }
    }
    group.finish();
    c.final_summary();
}
