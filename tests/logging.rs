//! The access log: one JSON line per request, in the data directory, without query strings.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::TestServer;

#[test]
fn each_request_is_one_json_line_without_its_query() {
    let srv = TestServer::from_doc(json!({
        "logging": { "file": "logs/access.log", "level": "info", "format": "json" }
    }));
    assert_eq!(srv.get("/health?token=s3cr3t-value-never-logged").status, 200);
    assert_eq!(srv.get("/nope").status, 404);
    let path = srv.dir.join("logs/access.log");
    // Lines are handed to the writer thread within log::FLUSH_AFTER (50 ms).
    let deadline = Instant::now() + Duration::from_secs(3);
    let lines: Vec<Value> = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .filter(|v: &Value| v["msg"] == "request")
            .collect();
        if lines.len() >= 2 || Instant::now() > deadline {
            assert!(!text.contains("s3cr3t"), "a query-string token reached the log:\n{text}");
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(lines.len(), 2, "{lines:?}");
    let health = &lines[0];
    assert_eq!((health["method"].as_str(), health["path"].as_str()), (Some("GET"), Some("/health")));
    assert_eq!(health["status"], 200);
    assert!(health["bytes"].as_u64().is_some_and(|b| b > 100));
    assert!(health["duration_us"].is_u64() && health["request_id"].as_str().is_some_and(|id| id.len() == 16));
    assert_eq!(health["client"], "127.0.0.1");
    assert_eq!(lines[1]["status"], 404);
    assert_ne!(lines[0]["request_id"], lines[1]["request_id"]);
}
