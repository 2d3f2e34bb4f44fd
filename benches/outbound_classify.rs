//! Outbound answers and replies: each platform's response classifier on its usual success
//! and rate-limit answers, and the reply splitter on a 41 KB reply (ten Telegram messages,
//! twenty-one Discord ones, two Lark ones), as the `talon-outbound` thread runs them once per
//! send.
//!
//! Run: `cargo bench --bench outbound_classify` (add `-- --quick` for a fast smoke run).
//! It measures, it asserts only that the fixtures classify as expected.
//!
//! First figures (2026-12-02, 2-vCPU VM, `--quick`, another build running niced): a success
//! that is read as JSON 0.75-1.9 µs (Telegram's is the largest body), one decided by status
//! alone 6 ns (Discord, WhatsApp, LINE), a rate limit 0.46-2.4 µs; splitting the 41 KB reply
//! 113-130 µs (about 3 ns per byte). Against a platform round trip of tens of milliseconds,
//! none of it matters; the bench is here to catch a regression.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use talon::outbound::split::{message_limit, split};
use talon::outbound::{OutResponse, Verdict, discord, lark, line, slack, telegram, whatsapp};
use talon::webhook::Channel;

type Classify = fn(&OutResponse<'_>) -> Verdict;

fn line_push(r: &OutResponse<'_>) -> Verdict {
    line::classify(r, true)
}

/// (name, classifier, status, body): a success and a rate limit per platform, with bodies
/// shaped like the platforms' real answers.
const ANSWERS: &[(&str, Classify, u16, &str)] = &[
    (
        "telegram/ok",
        telegram::classify,
        200,
        r#"{"ok":true,"result":{"message_id":4217,"from":{"id":7000000001,"is_bot":true,"first_name":"Talon"},"chat":{"id":12345678,"type":"private"},"date":1764640000,"text":"Hello there"}}"#,
    ),
    (
        "telegram/429",
        telegram::classify,
        429,
        r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#,
    ),
    (
        "slack/ok",
        slack::classify,
        200,
        r#"{"ok":true,"channel":"C0123","ts":"1764640000.000200","message":{"type":"message","text":"Hello there","user":"U0BOT"}}"#,
    ),
    ("slack/ratelimited", slack::classify, 200, r#"{"ok":false,"error":"ratelimited"}"#),
    (
        "discord/ok",
        discord::classify,
        200,
        r#"{"id":"1180000000000000000","type":0,"content":"Hello there","channel_id":"1170000000000000000"}"#,
    ),
    (
        "discord/429",
        discord::classify,
        429,
        r#"{"message":"You are being rate limited.","retry_after":0.64,"global":false}"#,
    ),
    (
        "whatsapp/ok",
        whatsapp::classify,
        200,
        r#"{"messaging_product":"whatsapp","contacts":[{"input":"15551234567","wa_id":"15551234567"}],"messages":[{"id":"wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI"}]}"#,
    ),
    (
        "whatsapp/throttled",
        whatsapp::classify,
        400,
        r#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"fbtrace_id":"A1b2"}}"#,
    ),
    ("line/ok", line_push, 200, r#"{"sentMessages":[{"id":"500000000000000000","quoteToken":"q"}]}"#),
    (
        "lark/ok",
        lark::classify,
        200,
        r#"{"code":0,"msg":"success","data":{"message_id":"om_dc13264520392913993dd051dba21dcf"}}"#,
    ),
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("outbound_classify");
    for &(name, classify, status, body) in ANSWERS {
        let response = OutResponse { status, retry_after: None, body: body.as_bytes() };
        let expect_sent = name.ends_with("/ok");
        assert_eq!(matches!(classify(&response), Verdict::Sent), expect_sent, "{name}");
        group.bench_function(name, |b| b.iter(|| classify(black_box(&response))));
    }
    group.finish();

    let reply: String = (0..8000).map(|i| if i % 13 == 12 { "line.\n" } else { "word " }).collect();
    let mut group = c.benchmark_group("outbound_split");
    group.throughput(Throughput::Bytes(reply.len() as u64));
    for channel in [Channel::Telegram, Channel::Discord, Channel::Lark] {
        let limit = message_limit(channel);
        assert!(split(&reply, limit).len() > 1, "the reply must need cutting for {channel:?}");
        group.bench_function(format!("{}_{}b", channel.name(), reply.len()), |b| {
            b.iter(|| split(black_box(&reply), limit).len())
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
