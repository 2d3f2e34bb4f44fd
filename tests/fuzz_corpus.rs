//! Replays every fuzz seed (`fuzz/corpus/<target>/*`) and committed crash regression
//! (`fuzz/regressions/<target>/*`) through the same checks the cargo-fuzz targets run, so CI
//! exercises the corpora on stable without cargo-fuzz or a sanitizer. A few named seeds also
//! carry an expected outcome, so a seed cannot silently stop testing what its name says.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use talon::protocol::http1::{BodyDecoder, BodyFraming, HeadLimits, ParseError, parse_head};
use talon::protocol::jsonrpc::{DecodeError, Dialect, Inbound, decode};
use talon::protocol::sse::{encode_event, parse_stream};
use talon::webhook::Channel;
use talon::webhook::delivery::{BodyError, Classified, classify};
use talon::webhook::normalize::normalize;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Fuzz target names, read from the `[[bin]]` sections of fuzz/Cargo.toml.
fn targets() -> Vec<String> {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let mut in_bin = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(v) = line.strip_prefix("name = ") {
            names.push(v.trim_matches('"').to_owned());
        }
    }
    names
}

fn check_for(target: &str) -> fn(&[u8]) {
    match target {
        "http1_head" => checks::check_head,
        "http1_chunked" => checks::check_chunked,
        "sse_encode" => checks::check_sse_encode,
        "jsonrpc_decode" => checks::check_jsonrpc,
        "webhook_verify" => |data| {
            checks::check_webhook(data);
        },
        "webhook_body" => checks::check_webhook_body,
        "provider_stream" => checks::check_provider_stream,
        "outbound_response" => checks::check_outbound_response,
        "embeddings" => checks::check_embeddings,
        "chat_request" => checks::check_chat_request,
        other => panic!("fuzz target {other} has no replay check in tests/fuzz_corpus.rs"),
    }
}

/// Regular files under `dir` (not recursive; hidden files such as .gitattributes skipped).
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_seed_corpus() {
    let targets = targets();
    assert_eq!(
        targets,
        [
            "http1_head",
            "http1_chunked",
            "sse_encode",
            "jsonrpc_decode",
            "webhook_verify",
            "webhook_body",
            "provider_stream",
            "outbound_response",
            "embeddings",
            "chat_request"
        ],
        "fuzz/Cargo.toml targets changed: update this test"
    );
    for t in &targets {
        let n = inputs(&fuzz_dir().join("corpus").join(t)).len();
        assert!(n >= 10, "fuzz/corpus/{t} has only {n} seeds");
    }
}

#[test]
fn corpus_and_regressions_pass_the_fuzz_checks() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for target in targets() {
        let check = check_for(&target);
        for kind in ["corpus", "regressions"] {
            for file in inputs(&fuzz_dir().join(kind).join(&target)) {
                let data = fs::read(&file).expect("readable corpus file");
                replayed += 1;
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
                    let msg = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    failures.push(format!("{}: {msg}", file.display()));
                }
            }
        }
    }
    assert!(replayed > 0, "no corpus files found under {}", fuzz_dir().display());
    assert!(failures.is_empty(), "{} of {replayed} inputs failed:\n{}", failures.len(), failures.join("\n"));
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    let path = fuzz_dir().join("corpus").join(target).join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn named_head_seeds_mean_what_they_say() {
    let limits = HeadLimits::default();
    let framing = |name: &str| match parse_head(&seed("http1_head", name), &limits) {
        Ok(Some((head, _))) => head.framing,
        other => panic!("{name}: expected a head, got {other:?}"),
    };
    assert_eq!(framing("get_simple"), BodyFraming::None);
    assert_eq!(framing("post_cl"), BodyFraming::Length(13));
    assert_eq!(framing("chunked_ext"), BodyFraming::Chunked);
    assert_eq!(framing("chunked_trailers"), BodyFraming::Chunked);
    assert!(matches!(parse_head(&seed("http1_head", "partial_head"), &limits), Ok(None)));
    let rejected = [
        ("cl_te_conflict", ParseError::ContentLengthWithTransferEncoding),
        ("te_cl_conflict", ParseError::ContentLengthWithTransferEncoding),
        ("bare_lf", ParseError::BareLineFeed),
        ("obs_fold", ParseError::InvalidHeaderName),
        ("space_before_colon", ParseError::InvalidHeaderName),
        ("dup_cl", ParseError::DuplicateContentLength),
        ("dup_host", ParseError::DuplicateHost),
        ("missing_host", ParseError::MissingHost),
        ("te_http10", ParseError::TransferEncodingOnHttp10),
        ("te_not_final", ParseError::ChunkedNotFinal),
        ("connect", ParseError::ConnectNotSupported),
        ("long_request_line", ParseError::RequestLineTooLong),
        ("many_headers", ParseError::TooManyHeaders),
    ];
    for (name, want) in rejected {
        match parse_head(&seed("http1_head", name), &limits) {
            Err(e) => assert_eq!(e, want, "{name}"),
            other => panic!("{name}: expected {want:?}, got {other:?}"),
        }
    }
}

#[test]
fn named_chunked_seeds_mean_what_they_say() {
    // Seeds are [split selector][mode][body]; mode 2 = chunked with the large limits.
    let decode = |name: &str| {
        let data = seed("http1_chunked", name);
        assert_eq!(data.get(1), Some(&2), "{name}: expected mode 2");
        let mut out = Vec::new();
        let r = BodyDecoder::chunked(1 << 20, 8192).decode(data.get(2..).unwrap_or_default(), &mut out);
        (r, out)
    };
    let (r, out) = decode("simple");
    assert!(r.is_ok_and(|p| p.done), "simple: {r:?}");
    assert_eq!(out, b"hello");
    let (r, out) = decode("chunked_trailers");
    assert!(r.is_ok_and(|p| p.done), "chunked_trailers: {r:?}");
    assert_eq!(out, include_bytes!("../proto/http1/fixtures/chunked_body.decoded"));
    let (r, _) = decode("next_request_after_body");
    assert_eq!(r.map(|p| (p.consumed, p.done)), Ok((13, true)), "decoder must stop at the body's end");
    let rejected = [
        ("empty_chunk_size", ParseError::InvalidChunkSize),
        ("huge_chunk", ParseError::BodyTooLarge),
        ("size_17_digits", ParseError::InvalidChunkSize),
        ("size_0x", ParseError::InvalidChunkSize),
        ("ext_bare_lf", ParseError::InvalidChunkExtension),
        ("ext_too_long", ParseError::InvalidChunkExtension),
        ("lf_only_lines", ParseError::InvalidChunkSize),
        ("data_no_crlf", ParseError::InvalidChunkData),
        ("trailer_obs_fold", ParseError::InvalidTrailer),
    ];
    // A bare CR inside an extension ends the size line early, so the LF check reports it.
    let (r, _) = decode("ext_bare_cr");
    assert!(matches!(r, Err(ParseError::InvalidChunkSize | ParseError::InvalidChunkExtension)), "ext_bare_cr: {r:?}");
    for (name, want) in rejected {
        let (r, _) = decode(name);
        assert_eq!(r, Err(want), "{name}");
    }
}

#[test]
fn named_sse_seeds_mean_what_they_say() {
    // Seeds are [flags][id u64 LE][name len][name][data]; see `checks::split_sse_input`.
    let parse = |name: &str| {
        let data = seed("sse_encode", name);
        let (id, event, payload) = checks::split_sse_input(&data);
        let mut out = Vec::new();
        encode_event(&mut out, id, event.as_deref(), payload);
        let events = parse_stream(&out);
        assert_eq!(events.len(), 1, "{name}: {events:?}");
        events.into_iter().next().map(|e| (e.id, e.event, e.data)).unwrap_or_default()
    };
    assert_eq!(
        parse("json_event"),
        ("42".into(), "message:received".into(), br#"{"sessionKey":"web-1","text":"hi"}"#.to_vec())
    );
    assert_eq!(parse("empty_data"), ("1".into(), "ping".into(), Vec::new()));
    assert_eq!(parse("id_max").0, u64::MAX.to_string());
    assert_eq!(parse("crlf_lines").2, b"a\nb\nc");
    assert_eq!(parse("cr_lines").2, b"a\nb\nc");
    assert_eq!(parse("trailing_cr").2, b"data\n");
    let (id, event, data) = parse("blank_line_injection");
    assert_eq!((id.as_str(), event.as_str()), ("5", "message:sent"), "data injected a field");
    assert_eq!(data, b"x\n\nid: 999\nevent: admin\ndata: evil\n\n");
    assert_eq!(parse("name_with_crlf").1, "adata: injected");
    assert_eq!(parse("name_only_breaks").1, "message");
    assert_eq!(parse("name_leading_space").1, " spaced");
}

/// cargo-fuzz needs nightly features and is not always installed, so `cargo test` also pushes
/// a fixed set of pseudo-random inputs through the `sse_encode` check. The alphabet is biased
/// toward the bytes that matter to SSE framing (CR, LF, NUL, ':', ' ', BOM bytes).
#[test]
fn sse_encode_check_holds_on_pseudo_random_inputs() {
    const ALPHABET: &[u8] = b"\r\n\r\n\0: :abcdiventd\xef\xbb\xbf\xff";
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let len = (next() % 64) as usize;
        let mut input: Vec<u8> = (0..10).map(|_| next() as u8).collect();
        // A short name most of the time, so the data part is usually non-empty.
        if let Some(n) = input.get_mut(9) {
            *n %= 8;
        }
        input.extend((0..len).map(|_| {
            let r = next();
            if r.is_multiple_of(4) { r as u8 } else { ALPHABET[(r >> 8) as usize % ALPHABET.len()] }
        }));
        checks::check_sse_encode(&input);
    }
}

#[test]
fn named_jsonrpc_seeds_mean_what_they_say() {
    let decode_seed = |name: &str| {
        let data = seed("jsonrpc_decode", name);
        match decode(&data, checks::JSONRPC_MAX_BATCH) {
            Inbound::Single(Ok(call)) => format!("call {:?} {}", call.dialect, call.method),
            Inbound::Single(Err(r)) => format!("rejected {:?} {:?}", r.dialect, r.error),
            Inbound::Batch(items) => format!("batch of {}", items.len()),
            Inbound::BatchRejected(r) => format!("batch rejected {:?}", r.error),
        }
    };
    let expected = [
        ("frames_req", format!("call {:?} chat.send", Dialect::Frames)),
        ("frames_chat_send", format!("call {:?} chat.send", Dialect::Frames)),
        ("frames_connect", format!("call {:?} connect", Dialect::Frames)),
        ("jsonrpc_ping", format!("call {:?} system.ping", Dialect::JsonRpc)),
        ("jsonrpc_notification", format!("call {:?} log", Dialect::JsonRpc)),
        ("bad_json", format!("rejected None {:?}", DecodeError::Parse)),
        ("not_utf8", format!("rejected None {:?}", DecodeError::NotUtf8)),
        ("batch_mixed_valid_invalid", "batch of 9".to_owned()),
        ("batch_50_at_default_limit", "batch of 50".to_owned()),
        ("batch_empty", format!("batch rejected {:?}", DecodeError::EmptyBatch)),
        ("batch_too_large", format!("batch rejected {:?}", DecodeError::BatchTooLarge { len: 51, max: 50 })),
        ("deep_nesting_arrays", format!("rejected None {:?}", DecodeError::Parse)),
    ];
    for (name, want) in expected {
        assert_eq!(decode_seed(name), want, "{name}");
    }
    let frames_type_res = decode_seed("frames_type_res");
    assert!(frames_type_res.starts_with("rejected Some(Frames) InvalidRequest"), "frames_type_res: {frames_type_res}");
}

#[test]
fn named_webhook_seeds_mean_what_they_say() {
    let accepted = |name: &str| checks::check_webhook(&seed("webhook_verify", name));
    let expected: [(&str, &[&str]); 15] = [
        ("discord_rfc8032_key", &["discord"]),
        ("lark_signature_reference", &["lark"]),
        ("github_official", &["hub_sha256"]),
        ("hub_uppercase_hex_accepted", &["hub_sha256"]),
        ("human_bare_github_hex", &["human_hex"]),
        ("slack_official", &["slack"]),
        ("standard_official", &["standard"]),
        ("standard_rotation_second_matches", &["standard"]),
        ("standard_unknown_scheme_ignored", &["standard"]),
        ("line_testing_md", &["line"]),
        ("telegram_reference", &["telegram"]),
        ("comis_sha256", &["comis_sha256"]),
        ("comis_sha384", &["comis_sha384"]),
        ("comis_sha512_prefixed", &["comis_sha512_prefixed"]),
        ("comis_timestamp_fresh", &["comis_sha256", "comis_sha256_ts_required"]),
    ];
    for (name, want) in expected {
        assert_eq!(accepted(name), want, "{name}");
    }
    // Every other seed is a rejection case for the scheme its name starts with, which must not
    // accept it (another scheme may: `hub_no_prefix` is a genuine Human signature, same secret).
    // Seeds named after no scheme are edge cases nothing may accept.
    let vectors: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../proto/webhooks/vectors.json")).expect("vectors.json parses");
    let mut genuine: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    genuine.extend(vectors.iter().filter(|v| v["expect"] == "ok").filter_map(|v| v["name"].as_str()));
    for file in inputs(&fuzz_dir().join("corpus").join("webhook_verify")) {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if genuine.contains(&name.as_str()) {
            continue;
        }
        let got = accepted(&name);
        let scheme = match name.split('_').next() {
            Some("hub") => "hub_sha256",
            Some("human") => "human_hex",
            Some(s @ ("slack" | "standard" | "line" | "telegram" | "comis" | "discord" | "lark")) => s,
            _ => {
                assert!(got.is_empty(), "{name}: accepted by {got:?}");
                continue;
            }
        };
        assert!(!got.iter().any(|v| v.starts_with(scheme)), "{name}: accepted by {got:?}");
    }
}

/// cargo-fuzz is not always installed, so `cargo test` also flips bytes of the genuine webhook
/// seeds (header and body alike): the oracle in `check_webhook` must confirm every acceptance,
/// and a flip inside a signature or its body must never still be accepted by that verifier.
#[test]
fn webhook_check_holds_on_mutated_genuine_seeds() {
    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    let names = [
        "github_official",
        "slack_official",
        "standard_official",
        "line_testing_md",
        "comis_sha256",
        "discord_rfc8032_key",
    ];
    for name in names {
        let original = seed("webhook_verify", name);
        for _ in 0..2_000 {
            let mut input = original.clone();
            // Any byte but the flags: a flipped length byte shifts the fields, which is fine too.
            let at = 1 + (next() as usize) % (input.len() - 1);
            let flip = (next() % 255 + 1) as u8;
            if let Some(b) = input.get_mut(at) {
                *b ^= flip;
            }
            checks::check_webhook(&input);
        }
    }
}

/// `classify` of a `webhook_body` seed for `channel`, in `proto/webhooks/payloads.json` terms.
fn body_outcome(channel: Channel, name: &str) -> String {
    let data = seed("webhook_body", name);
    let (content_type, body) = checks::split_webhook_body_input(&data);
    match classify(channel, content_type, body) {
        Ok(Classified::Deliver { delivery_id }) => format!("deliver {delivery_id}"),
        Ok(Classified::SlackChallenge { .. }) => "slack_challenge".into(),
        Ok(Classified::DiscordPing) => "discord_ping".into(),
        Ok(Classified::LineVerify) => "line_verify".into(),
        Ok(Classified::LarkChallenge { .. }) => "lark_challenge".into(),
        Err(e) => format!("error {}", e.code()),
    }
}

/// Every payload-named seed still classifies as its case in payloads.json says, and the edge
/// seeds as their names say.
#[test]
fn named_webhook_body_seeds_mean_what_they_say() {
    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        channel: String,
        expect_class: String,
        expect_delivery_id: Option<String>,
        expect_error: Option<String>,
    }
    let cases: Vec<Case> =
        serde_json::from_str(include_str!("../proto/webhooks/payloads.json")).expect("payloads.json parses");
    let seeds: Vec<String> = inputs(&fuzz_dir().join("corpus").join("webhook_body"))
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for c in &cases {
        assert!(seeds.contains(&c.name), "payload case {} has no seed (run fuzz/seeds.py)", c.name);
        let channel = Channel::from_name(&c.channel).expect("known channel");
        let want = match (c.expect_class.as_str(), &c.expect_delivery_id, &c.expect_error) {
            ("deliver", Some(id), _) => format!("deliver {id}"),
            ("error", _, Some(code)) => format!("error {code}"),
            (class, _, _) => class.to_owned(),
        };
        assert_eq!(body_outcome(channel, &c.name), want, "{}", c.name);
    }
    let t = Channel::Telegram;
    assert_eq!(body_outcome(t, "edge_deep_skipped"), "deliver 7");
    assert_eq!(body_outcome(t, "edge_too_deep_skipped"), "error too_deep");
    assert_eq!(body_outcome(t, "edge_invalid_utf8_skipped"), "error not_json");
    assert_eq!(body_outcome(t, "edge_bom"), "error not_json");
    assert_eq!(body_outcome(t, "edge_nul_bytes"), "error not_json");
    assert_eq!(body_outcome(t, "edge_update_id_beyond_u64"), "deliver 18446744073709551616");
    assert_eq!(body_outcome(t, "edge_update_id_1e400"), "error bad_field");
    assert_eq!(body_outcome(t, "edge_duplicate_nested"), "deliver 1");
    assert_eq!(body_outcome(Channel::Slack, "edge_form_percent_garbage"), "error bad_field");
    for ch in Channel::ALL {
        assert_eq!(body_outcome(ch, "edge_empty_input"), "error empty", "{ch:?}");
    }
    let every = |ch| body_outcome(ch, "edge_every_channel_field");
    assert_eq!(every(Channel::Telegram), "deliver 1");
    assert_eq!(every(Channel::Discord), "deliver 9");
    assert_eq!(every(Channel::Line), "line_verify");
    assert_eq!(every(Channel::Lark), "error encrypted");
    assert!(every(Channel::Hooks).starts_with("deliver "), "event, source and a null data fit the schema");
    let normalized = |ch, name| {
        let data = seed("webhook_body", name);
        let (content_type, body) = checks::split_webhook_body_input(&data);
        normalize(ch, content_type, body)
    };
    let text = |r: Result<Vec<talon::webhook::normalize::Message>, BodyError>| {
        r.ok().and_then(|m| m.into_iter().next()).and_then(|m| m.text)
    };
    // A truncated emoji from a JavaScript sender costs one character, not the message.
    assert_eq!(text(normalized(t, "edge_lone_surrogate_text")).as_deref(), Some("ok \u{fffd}"));
    assert_eq!(normalized(t, "edge_lone_surrogate_key").err(), Some(BodyError::NotJson));
    assert_eq!(normalized(t, "edge_duplicate_nested").err(), Some(BodyError::DuplicateField));
    let deep = text(normalized(Channel::Discord, "edge_deep_options_read")).unwrap_or_default();
    assert_eq!(deep, format!("/n{} o:1", " s".repeat(29)));
}

/// cargo-fuzz is not always installed, so `cargo test` also flips bytes of realistic bodies: the
/// `webhook_body` properties must hold for every mutant, on every channel.
#[test]
fn webhook_body_check_holds_on_mutated_payloads() {
    let mut next = xorshift(0x9E6C_63D0_676A_9A99);
    // Bytes that matter to JSON and form structure, so mutants stay near-valid.
    const ALPHABET: &[u8] = b"{}[]\",:\\u0019dD8e-+.%&= \n\xff";
    let names = [
        "telegram_group_photo_caption",
        "slack_block_actions",
        "discord_subcommand",
        "whatsapp_batch_ids_joined_sorted",
        "line_sticker_and_location",
        "lark_v2_post",
        "hooks_data_text",
        "generic_text_sender_object_channel",
    ];
    for name in names {
        let original = seed("webhook_body", name);
        for _ in 0..500 {
            let mut input = original.clone();
            for _ in 0..1 + next() % 3 {
                let at = 1 + (next() as usize) % (input.len() - 1);
                let r = next();
                if let Some(b) = input.get_mut(at) {
                    *b = if r.is_multiple_of(2) {
                        ALPHABET[(r >> 8) as usize % ALPHABET.len()]
                    } else {
                        (r >> 16) as u8
                    };
                }
            }
            checks::check_webhook_body(&input);
        }
    }
}

/// The named `provider_stream` seeds still end the way their vectors say, and the check holds
/// on 1-3 byte mutations (biased to JSON and SSE punctuation) of realistic streams, since
/// cargo-fuzz is not always installed.
#[test]
fn provider_stream_check_holds_on_mutated_streams() {
    use talon::agent::providers::openai_stream::OpenAiStream;
    use talon::agent::providers::stream::UpstreamStream;
    let finished = |name: &str| {
        let data = seed("provider_stream", name);
        let mut stream = UpstreamStream::new(OpenAiStream::new());
        let body = data.get(2..).unwrap_or_default();
        stream.feed(body, &mut |_| {}).and_then(|()| stream.finish(&mut |_| {})).map_err(|e| e.code())
    };
    assert_eq!(finished("openai_text_with_usage"), Ok(()));
    assert_eq!(finished("openai_malformed_chunk"), Err("malformed_chunk"));
    assert_eq!(finished("openai_truncated"), Err("truncated"));
    assert_eq!(finished("openai_65_tool_calls"), Err("too_many_tool_calls"));
    assert_eq!(finished("small_long_line_after_done"), Ok(()));

    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    const PUNCTUATION: &[u8] = b"{}[]\":,\\\r\n :0aZ";
    let names = ["openai_text_with_usage", "openai_tool_call_fragments", "anthropic_tool_use", "anthropic_text"];
    for name in names {
        let original = seed("provider_stream", name);
        for _ in 0..500 {
            let mut input = original.clone();
            for _ in 0..(1 + next() % 3) {
                let at = 2 + (next() as usize) % (input.len() - 2);
                let byte = PUNCTUATION[(next() as usize) % PUNCTUATION.len()];
                if let Some(b) = input.get_mut(at) {
                    *b = byte;
                }
            }
            checks::check_provider_stream(&input);
        }
    }
}

/// The `outbound_response` check holds on 1-3 byte mutations (biased to JSON punctuation,
/// digits and wide characters' bytes) of the platform answers in the seed corpus, since
/// cargo-fuzz is not always installed.
#[test]
fn outbound_response_check_holds_on_mutated_answers() {
    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    const BYTES: &[u8] = b"{}[]\":,\\\n 019-.eE\xf0\x9f\x98\x80\xe2";
    let names = ["telegram_429_retry_after", "slack_200_ratelimited", "line_push_409", "lark_token_zero_expire"];
    let corpus = inputs(&fuzz_dir().join("corpus").join("outbound_response"));
    assert!(corpus.len() >= 40, "outbound_response seeds: {}", corpus.len());
    for name in names {
        let original = seed("outbound_response", name);
        for _ in 0..400 {
            let mut input = original.clone();
            for _ in 0..(1 + next() % 3) {
                let at = (next() as usize) % input.len().max(1);
                let byte = BYTES[(next() as usize) % BYTES.len()];
                if let Some(b) = input.get_mut(at) {
                    *b = byte;
                }
            }
            checks::check_outbound_response(&input);
        }
    }
}

/// The `embeddings` check holds on 1-3 byte mutations (JSON punctuation, digits, exponents,
/// base64 characters) of realistic requests and upstream answers, since cargo-fuzz is not
/// always installed. A few seeds also keep their expected outcome.
#[test]
fn embeddings_check_holds_on_mutated_requests_and_answers() {
    use talon::embed::upstream::decode_answer;
    use talon::embed::wire::parse_request;
    let body = |name: &str| seed("embeddings", name).get(1..).unwrap_or_default().to_vec();
    assert!(parse_request(&body("request_sdk_default")).is_ok());
    assert!(parse_request(&body("request_token_ids")).is_err());
    assert_eq!(decode_answer(&body("answer_openai"), 2).map(|e| e.vectors.len()), Ok(2));
    let per_token = decode_answer(&body("answer_per_token_llama_cpp"), 1).map_err(|e| e.0);
    assert!(per_token.as_ref().is_err_and(|m| m.contains("per-token")), "{per_token:?}");
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    const BYTES: &[u8] = b"{}[]\":,\\ 019-.eE+/=A\xf0\x9f";
    let names = ["request_sdk_default", "request_dimensions", "answer_openai", "answer_base64", "answer_reordered"];
    for name in names {
        let original = seed("embeddings", name);
        for _ in 0..400 {
            let mut input = original.clone();
            for _ in 0..(1 + next() % 3) {
                let at = 1 + (next() as usize) % input.len().saturating_sub(1).max(1);
                let byte = BYTES[(next() as usize) % BYTES.len()];
                if let Some(b) = input.get_mut(at) {
                    *b = byte;
                }
            }
            checks::check_embeddings(&input);
        }
    }
}

/// The `chat_request` check holds on 1-3 byte mutations (JSON punctuation, digits, escapes,
/// multibyte starts) of every seed, on all five parsers; a few seeds keep their expected
/// outcome so the check is known to see accepted and refused requests.
#[test]
fn chat_request_check_holds_on_mutated_requests() {
    use talon::http::{openai, turn_format};
    let body = |name: &str| seed("chat_request", name).get(1..).unwrap_or_default().to_vec();
    assert!(openai::parse_completion(&body("completion_plain")).is_ok());
    assert!(openai::parse_completion(&body("completion_image_part")).is_err());
    let query = String::from_utf8(body("stream_query")).expect("utf-8 seed");
    assert_eq!(turn_format::parse_stream_query(&query).map(|r| r.message), Ok("hello there".to_owned()));
    let mut next = xorshift(0xD1B5_4A32_D192_ED03);
    const BYTES: &[u8] = b"{}[]\":,\\ 019-.eE%+&=\x00\xf0\x9f\xff";
    for file in inputs(&fuzz_dir().join("corpus").join("chat_request")) {
        let original = fs::read(&file).expect("readable seed");
        for _ in 0..150 {
            let mut input = original.clone();
            for _ in 0..(1 + next() % 3) {
                let at = 1 + (next() as usize) % input.len().saturating_sub(1).max(1);
                let byte = BYTES[(next() as usize) % BYTES.len()];
                if let Some(b) = input.get_mut(at) {
                    *b = byte;
                }
            }
            checks::check_chat_request(&input);
        }
    }
}

/// A xorshift64 generator from `seed`: fast, repeatable mutations for the stable-toolchain
/// replays of the fuzz properties.
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
