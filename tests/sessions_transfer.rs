//! Sessions in OpenClaw's on-disk format: the hand-written OpenClaw fixture
//! (`proto/openclaw/sessions/`) imported into a real gateway's store and read back over
//! `/api/chat/history`; importing twice adds nothing; a round trip (chat through a running
//! gateway with `builtin/echo`, export, import into an empty store) keeps every message;
//! malformed input is refused naming the file and line with nothing stored; and the
//! `talon sessions export|import` commands refuse while a gateway holds the store, and work
//! once it is stopped.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use support::TestServer;
use talon::openclaw::{ImportReport, TransferError, export, import};
use talon::store::MessageRow;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("proto/openclaw/sessions")
}

fn messages(srv: &TestServer, key: &str) -> Vec<MessageRow> {
    srv.app().store.agent().and_then(|r| r.messages(key, 1000)).expect("store read")
}

/// What must survive a transfer: role, text, tool fields, time and tokens.
fn essence(rows: &[MessageRow]) -> Vec<Value> {
    rows.iter()
        .map(|m| json!([m.role, m.content, m.tool_calls, m.tool_call_id, m.timestamp, m.input_tokens, m.output_tokens]))
        .collect()
}

#[test]
fn the_openclaw_fixture_imports_and_a_second_import_adds_nothing() {
    let srv = TestServer::gateway(json!({}));
    let report = import(&srv.app().store, &fixture()).expect("import");
    assert_eq!(report, ImportReport { imported: 3, skipped: 0, messages: 6, missing_transcripts: 1 });

    let main = messages(&srv, "agent:main:main");
    let call = r#"[{"id":"call_1","name":"current_time","arguments":"{\"tz\":\"UTC\"}"}]"#;
    assert_eq!(
        essence(&main),
        [
            json!(["user", "What time is it in UTC?", null, null, 1_770_364_141_000u64, null, null]),
            json!(["assistant", "Let me check.", call, null, 1_770_364_142_000u64, 30, 9]),
            json!(["tool", "07:49 UTC", null, "call_1", 1_770_364_142_500u64, null, null]),
            json!(["assistant", "It is 07:49 UTC.", null, null, 1_770_364_143_491u64, 12, 8]),
        ]
    );
    let telegram = messages(&srv, "agent:main:telegram:dm:123");
    assert_eq!(
        essence(&telegram),
        [
            json!(["user", "hi from telegram", null, null, 1_770_368_405_250u64, null, null]),
            json!(["assistant", "Hello!", null, null, 1_770_368_406_000u64, 5, 2]),
        ]
    );
    let reads = srv.app().store.agent().expect("reads");
    let s = reads.session("agent:main:main").expect("read").expect("session");
    assert_eq!(
        (s.label.as_deref(), s.model.as_deref(), s.channel.as_deref()),
        (Some("Main chat"), None, Some("webchat"))
    );
    assert_eq!(
        (s.input_tokens, s.output_tokens, s.created_at, s.updated_at),
        (42, 17, 1_770_364_140_000, 1_770_364_205_000)
    );
    let t = reads.session("agent:main:telegram:dm:123").expect("read").expect("session");
    assert_eq!((t.input_tokens, t.output_tokens, t.turns, t.created_at), (5, 2, 1, 1_770_368_400_000));
    assert!(reads.session("agent:main:hook:gone").expect("read").is_some());
    // The gateway serves them like its own sessions.
    let history = srv.get("/api/chat/history?sessionKey=agent:main:telegram:dm:123").json();
    assert_eq!(history["messages"].as_array().map(Vec::len), Some(2), "{history}");

    let again = import(&srv.app().store, &fixture()).expect("second import");
    assert_eq!(again, ImportReport { imported: 0, skipped: 3, messages: 0, missing_transcripts: 1 });
    assert_eq!(messages(&srv, "agent:main:main").len(), 4, "nothing duplicated");
    // Another key with a session id already stored is skipped too, without failing the store
    // on the unique index.
    let dir = support::temp_dir("openclaw-same-id");
    write(&dir, "sessions.json", r#"{"other":{"sessionId":"0c9b6d0e-5b6e-4c1e-9a57-4b5f2f3e8a11","updatedAt":1}}"#);
    let same_id = import(&srv.app().store, &dir).expect("import");
    assert_eq!((same_id.imported, same_id.skipped), (0, 1));
    assert!(srv.app().store.healthy(), "the store must not have failed");
    let _ = std::fs::remove_dir_all(&dir);
}

fn chat(srv: &TestServer, key: &str, text: &str) {
    let body = json!({ "message": text, "sessionKey": key }).to_string();
    let r = srv.request(&support::post_with("/api/chat", &[], body.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn a_round_trip_through_export_and_import_keeps_every_message() {
    let source = TestServer::gateway(json!({}));
    chat(&source, "main", "hello one");
    chat(&source, "main", "and a second message");
    chat(&source, "agent:main:telegram:dm:9", "from another session");
    let dir = support::temp_dir("openclaw-export");
    let out = export(&source.app().store, &dir).expect("export");
    assert_eq!((out.sessions, out.messages), (2, 6));
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("sessions.json")).expect("index")).expect("json");
    let entry = &index["main"];
    let file = dir.join(format!("{}.jsonl", entry["sessionId"].as_str().expect("sessionId")));
    let text = std::fs::read_to_string(&file).expect("transcript");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("line is JSON")).collect();
    assert_eq!((lines[0]["type"].as_str(), lines[0]["version"].as_u64()), (Some("session"), Some(3)));
    assert_eq!(lines[1]["message"]["content"][0], json!({ "type": "text", "text": "hello one" }));
    assert_eq!(lines[2]["parentId"], lines[1]["id"], "each line names the previous one");
    assert!(
        std::fs::read_dir(&dir).expect("dir").all(|e| !e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .contains(".tmp-"))
    );

    let target = TestServer::gateway(json!({}));
    let report = import(&target.app().store, &dir).expect("import");
    assert_eq!((report.imported, report.messages), (2, 6));
    for key in ["main", "agent:main:telegram:dm:9"] {
        assert_eq!(essence(&messages(&target, key)), essence(&messages(&source, key)), "{key}");
        let (a, b) = (
            source.app().store.agent().and_then(|r| r.session(key)).expect("read").expect("session"),
            target.app().store.agent().and_then(|r| r.session(key)).expect("read").expect("session"),
        );
        assert_eq!(
            (a.session_id, a.input_tokens, a.output_tokens, a.turns, a.created_at, a.updated_at),
            (b.session_id, b.input_tokens, b.output_tokens, b.turns, b.created_at, b.updated_at)
        );
    }
    // The imported session goes on like any other.
    chat(&target, "main", "after the move");
    assert_eq!(messages(&target, "main").len(), 6);
    let _ = std::fs::remove_dir_all(&dir);
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write fixture");
}

fn refused(dir: &Path) -> String {
    let srv = TestServer::gateway(json!({}));
    let e = import(&srv.app().store, dir).expect_err("import must fail");
    assert!(matches!(e, TransferError::Bad { .. }), "{e:?}");
    let none = srv.app().store.agent().and_then(|r| r.sessions(10)).expect("read");
    assert!(none.is_empty(), "nothing may be stored after a refusal: {none:?}");
    e.to_string()
}

#[test]
fn malformed_input_is_refused_naming_the_file_and_line() {
    let dir = support::temp_dir("openclaw-bad");
    write(&dir, "sessions.json", r#"{"a":{"sessionId":"good","updatedAt":1},"b":{"sessionId":"bad","updatedAt":2}}"#);
    write(&dir, "good.jsonl", "{\"type\":\"session\",\"version\":3,\"id\":\"good\"}\n");
    write(
        &dir,
        "bad.jsonl",
        "{\"type\":\"session\",\"version\":3,\"id\":\"bad\"}\n\n{\"type\":\"message\",\"message\":{\"role\":\"robot\"}}\n",
    );
    let e = refused(&dir);
    assert!(e.contains("bad.jsonl:3: unknown message role \"robot\""), "{e}");
    write(&dir, "bad.jsonl", "{\"type\":\"message\",\"message\":{\"role\":\"user\",\"content\":\"x\"}\n");
    let e = refused(&dir);
    assert!(e.contains("bad.jsonl:1: not JSON"), "{e}");
    write(&dir, "sessions.json", r#"{"x":{"sessionId":"../../etc/passwd"}}"#);
    let e = refused(&dir);
    assert!(e.contains("sessions.json") && e.contains("cannot name a transcript file"), "{e}");
    write(&dir, "sessions.json", "[1, 2]");
    let e = refused(&dir);
    assert!(e.contains("sessions.json") && e.contains("not a JSON object"), "{e}");
    std::fs::remove_file(dir.join("sessions.json")).expect("remove");
    let e = refused(&dir);
    assert!(e.contains("sessions.json: not found"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn talon(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_talon")).args(args).output().expect("run talon");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_commands_refuse_while_a_gateway_holds_the_store_and_work_once_it_is_stopped() {
    let running = TestServer::gateway(json!({}));
    let out = support::temp_dir("openclaw-cli-out");
    let data = running.dir.to_string_lossy().into_owned();
    let (code, _, err) = talon(&["sessions", "export", "--dir", &out.to_string_lossy(), "--data-dir", &data]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("stop the gateway"), "{err}");
    let fixture = fixture().to_string_lossy().into_owned();
    let (code, _, err) = talon(&["sessions", "import", "--dir", &fixture, "--data-dir", &data]);
    assert_eq!(code, 1, "{err}");
    drop(running);

    let data = support::temp_dir("openclaw-cli-data");
    let data = data.to_string_lossy().into_owned();
    let (code, stdout, err) = talon(&["sessions", "import", "--dir", &fixture, "--data-dir", &data]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("imported 3 session(s) with 6 message(s); skipped 0"), "{stdout}");
    let (code, stdout, err) = talon(&["sessions", "import", "--dir", &fixture, "--data-dir", &data]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("imported 0 session(s) with 0 message(s); skipped 3"), "{stdout}");
    let (code, stdout, err) = talon(&["sessions", "export", "--dir", &out.to_string_lossy(), "--data-dir", &data]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("exported 3 session(s) with 6 message(s)"), "{stdout}");
    let index: Value = serde_json::from_slice(&std::fs::read(out.join("sessions.json")).expect("index")).expect("json");
    assert_eq!(index["agent:main:main"]["sessionId"], "0c9b6d0e-5b6e-4c1e-9a57-4b5f2f3e8a11");
    assert!(out.join("0c9b6d0e-5b6e-4c1e-9a57-4b5f2f3e8a11.jsonl").is_file());
    let (code, _, err) = talon(&["sessions", "import", "--data-dir", &data]);
    assert_eq!(code, 2, "a missing --dir is a usage error: {err}");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_second_gateway_on_the_same_store_does_not_start() {
    let running = TestServer::gateway(json!({}));
    let data = running.dir.to_string_lossy().into_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_talon"))
        .args(["gateway", "--port", "0", "--data-dir", &data])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn talon");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a second gateway started on a store that another one holds");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).expect("stderr");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("in use by another process"), "{err}");
}
