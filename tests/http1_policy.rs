//! The RFC 9112 policy table (`proto/http1/policy.json`) run against a real server.
//!
//! Each case is sent on its own connection. The first response must carry the expected
//! status; error responses must have a JSON body with a non-empty `message`. A case with
//! `close: true` must answer `Connection: close` and then reach EOF with no further bytes
//! (so a smuggled second request is never answered); a case with `close: false` must keep
//! the connection usable for a follow-up request. All cases run; every failure is listed.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Conn, ReadError, Response, TestServer};

/// The limits the table's notes refer to: small, so over-limit requests stay readable.
fn policy_server() -> TestServer {
    TestServer::gateway(json!({
        "debug_routes": true,
        "limits": {
            "max_request_line_bytes": 64,
            "max_header_bytes": 256,
            "max_headers": 8,
            "max_body_bytes": 64,
            "header_timeout_ms": 2000,
            "body_idle_timeout_ms": 1000
        },
        "rate_limit": { "window_ms": 1000, "max_requests": 100000 }
    }))
}

#[derive(Debug)]
struct Case {
    name: String,
    request: String,
    status: u16,
    close: bool,
    note: String,
    raw: Value,
}

fn load_cases() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/proto/http1/policy.json");
    let text = std::fs::read_to_string(path).expect("read proto/http1/policy.json");
    let doc: Value = serde_json::from_str(&text).expect("policy.json is JSON");
    let rows = doc.as_array().expect("policy.json is an array");
    rows.iter()
        .map(|row| {
            let s = |k: &str| row.get(k).and_then(Value::as_str).map(str::to_owned);
            let name = s("name").expect("case has a name");
            Case {
                request: s("request").unwrap_or_else(|| panic!("{name}: request")),
                status: row
                    .get("status")
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok())
                    .unwrap_or_else(|| panic!("{name}: status")),
                close: row.get("close").and_then(Value::as_bool).unwrap_or_else(|| panic!("{name}: close")),
                note: s("note").unwrap_or_else(|| panic!("{name}: note")),
                raw: row.clone(),
                name,
            }
        })
        .collect()
}

fn echo_headers(v: &Value) -> Vec<(String, String)> {
    v.get("headers")
        .and_then(Value::as_array)
        .map(|hs| {
            hs.iter()
                .filter_map(|h| {
                    let pair = h.as_array()?;
                    Some((pair.first()?.as_str()?.to_owned(), pair.get(1)?.as_str()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn check_echo(case: &Case, resp: &Response) -> Result<(), String> {
    let wants_echo = ["echo", "echo_headers_absent", "echo_header_count"].iter().any(|k| case.raw.get(*k).is_some());
    if !wants_echo {
        return Ok(());
    }
    let v: Value = serde_json::from_slice(&resp.body).map_err(|e| format!("echo body is not JSON: {e}"))?;
    if let Some(expected) = case.raw.get("echo").and_then(Value::as_object) {
        for (k, want) in expected {
            let got = v.get(k).unwrap_or(&Value::Null);
            if got != want {
                return Err(format!("echo field {k:?} is {got}, expected {want}; echo: {v}"));
            }
        }
    }
    let headers = echo_headers(&v);
    let count = |name: &str| headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count();
    if let Some(absent) = case.raw.get("echo_headers_absent").and_then(Value::as_array) {
        for name in absent.iter().filter_map(Value::as_str) {
            if count(name) > 0 {
                return Err(format!("header {name:?} reached the handler (merged from trailers?); echo: {v}"));
            }
        }
    }
    if let Some(counts) = case.raw.get("echo_header_count").and_then(Value::as_object) {
        for (name, want) in counts {
            let want = want.as_u64().unwrap_or(0);
            if count(name) as u64 != want {
                return Err(format!("handler saw {} {name:?} header(s), expected {want}; echo: {v}", count(name)));
            }
        }
    }
    Ok(())
}

fn run_case(server: &TestServer, case: &Case) -> Result<(), String> {
    let mut conn = Conn::open(server.addr);
    // The server may answer and close before all bytes are written; that is fine.
    let _ = conn.try_send(case.request.as_bytes());
    let resp = match conn.try_read_response_within(false, Duration::from_secs(3)) {
        Ok(r) => r,
        Err(ReadError::Closed(got)) => {
            return Err(format!("connection closed without a response; got {:?}", String::from_utf8_lossy(&got)));
        }
        Err(ReadError::Timeout(got)) => {
            return Err(format!("no response within 3 s; got {:?}", String::from_utf8_lossy(&got)));
        }
        Err(ReadError::Malformed(m)) => return Err(format!("malformed response: {m}")),
    };
    if resp.status != case.status {
        return Err(format!("status {} (expected {}); body {}", resp.status, case.status, resp.text()));
    }
    if resp.status >= 400 {
        resp.check_error_body()?;
    }
    if let Some(names) = case.raw.get("headers_present").and_then(Value::as_array) {
        for name in names.iter().filter_map(Value::as_str) {
            if resp.header(name).is_none() {
                return Err(format!("response lacks the {name} header:\n{}", resp.head));
            }
        }
    }
    if case.close {
        if !resp.closes() {
            return Err(format!("response lacks `Connection: close`:\n{}", resp.head));
        }
        match conn.try_read_until_eof(Duration::from_secs(3)) {
            Ok(rest) if rest.is_empty() => {}
            Ok(rest) => {
                return Err(format!(
                    "bytes after the final response (a second request was answered?): {:?}",
                    String::from_utf8_lossy(&rest)
                ));
            }
            Err(rest) => {
                return Err(format!(
                    "connection not closed within 3 s after `Connection: close`; extra bytes {:?}",
                    String::from_utf8_lossy(&rest)
                ));
            }
        }
    } else {
        if resp.closes() {
            return Err(format!("response closes the connection, expected keep-alive:\n{}", resp.head));
        }
        check_echo(case, &resp)?;
        conn.try_send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n").map_err(|e| format!("follow-up write: {e}"))?;
        match conn.try_read_response_within(false, Duration::from_secs(3)) {
            Ok(r) if r.status == 200 => {}
            Ok(r) => return Err(format!("follow-up GET /health got {}: {}", r.status, r.text())),
            Err(e) => return Err(format!("follow-up GET /health on the kept-alive connection failed: {e:?}")),
        }
    }
    Ok(())
}

#[test]
fn policy_table() {
    let cases = load_cases();
    let server = policy_server();
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(why) = run_case(&server, case) {
            let line = format!(
                "FAIL {}: {why}\n    request: {:?}\n    expected: {} close={} ({})",
                case.name, case.request, case.status, case.close, case.note
            );
            eprintln!("{line}");
            failures.push(line);
        }
    }
    assert!(failures.is_empty(), "{} of {} policy cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// The table must keep one case per row of testing.md §2b (and the listed extras).
#[test]
fn policy_table_covers_required_rows() {
    let cases = load_cases();
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name.as_str()), "duplicate case name {}", c.name);
        assert!(!c.note.trim().is_empty(), "{}: empty note", c.name);
        assert!((100..600).contains(&c.status), "{}: status {}", c.name, c.status);
    }
    let required = [
        "cl_and_te",
        "cl_two_different",
        "cl_two_identical",
        "cl_list_identical",
        "cl_plus_sign",
        "bare_lf_everywhere",
        "obs_fold",
        "te_space_before_colon",
        "te_xchunked",
        "te_chunked_gzip",
        "te_gzip_chunked",
        "te_chunked_chunked",
        "chunk_ext_token",
        "chunk_size_bare_lf",
        "chunk_size_empty",
        "chunk_ext_bare_lf",
        "chunk_size_huge",
        "chunk_size_17_digits",
        "no_host_http11",
        "two_hosts",
        "nul_in_value",
        "bare_cr_in_value",
        "http09",
        "http12",
        "te_on_http10",
        "request_line_too_long",
        "headers_too_large",
        "too_many_headers",
        "cl_over_limit",
        "chunked_over_limit_counted",
        "unknown_method_known_path",
        "unknown_path",
        "connect",
        "asterisk_get",
        "asterisk_options",
        "space_in_uri",
        "fragment_in_target",
        "trailers_not_merged",
    ];
    for r in required {
        assert!(names.contains(r), "policy.json lacks the required case {r}");
    }
}
