//! Authentication, scopes, failed-auth lockout, forwarded client addresses and CORS.

mod support;

use serde_json::{Value, json};
use support::{ADMIN_TOKEN, Response, TestServer, get_with};

const HOOK_TOKEN: &str = "tln-hook-2b4d6f8a0c1e3a5b7c9d1e3f5a7b9c1d";
const MCP_TOKEN: &str = "tln-mcpc-7e9a1c3e5a7c9e1b3d5f7a9c1e3b5d7f";
const READ_TOKEN: &str = "tln-read-4c6e8a0b2d4f6a8c0e2b4d6f8a0c2e4b";
const RPC_TOKEN: &str = "tln-rpcs-1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1a";

fn token_config() -> Value {
    json!({
        "auth_token": ADMIN_TOKEN,
        "tokens": [
            { "id": "hook", "secret": HOOK_TOKEN, "scopes": ["webhook"] },
            { "id": "mcp", "secret": MCP_TOKEN, "scopes": ["mcp-client"] },
            { "id": "reader", "secret": READ_TOKEN, "scopes": ["read"] },
            { "id": "rpc", "secret": RPC_TOKEN, "scopes": ["rpc"] }
        ],
        "query_token_routes": ["/metrics"],
        "debug_routes": true,
        "auth_rate_limit": { "max_attempts": 1000, "window_ms": 60000, "lockout_ms": 60000 }
    })
}

fn bearer(path: &str, token: &str) -> Vec<u8> {
    get_with(path, &[&format!("Authorization: Bearer {token}")])
}

fn assert_401(r: &Response, ctx: &str) {
    assert_eq!(r.status, 401, "{ctx}: {}", r.text());
    assert!(
        r.header("www-authenticate").is_some_and(|v| v.to_ascii_lowercase().starts_with("bearer")),
        "{ctx}: 401 needs WWW-Authenticate: Bearer\n{}",
        r.head
    );
    r.assert_error_body();
}

fn assert_429(r: &Response, ctx: &str) {
    assert_eq!(r.status, 429, "{ctx}: {}", r.text());
    let retry = r.header("retry-after").unwrap_or_else(|| panic!("{ctx}: 429 without Retry-After\n{}", r.head));
    assert!(retry.parse::<u64>().is_ok_and(|s| s >= 1), "{ctx}: Retry-After {retry:?}");
    r.assert_error_body();
}

#[test]
fn missing_or_wrong_token_gets_401_with_www_authenticate() {
    let srv = TestServer::gateway(token_config());
    assert_401(&srv.get("/api/version"), "no credentials");
    assert_401(&srv.request(&bearer("/api/version", "tln-wrong-0000000000000000000000000000000")), "wrong token");
    assert_401(&srv.request(&bearer("/metrics", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1])), "token prefix");
    assert_401(&srv.request(&get_with("/api/version", &[&format!("Authorization: Basic {ADMIN_TOKEN}")])), "Basic");
    assert_401(&srv.request(&get_with("/api/version", &["Authorization: Bearer "])), "empty bearer");
    // Public routes need nothing.
    assert_eq!(srv.get("/health").status, 200);
    assert_eq!(srv.get("/readyz").status, 200);
}

#[test]
fn bearer_cookie_and_query_token_are_accepted() {
    let srv = TestServer::gateway(token_config());
    let r = srv.request(&bearer("/api/version", ADMIN_TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], json!("talon"));
    let r = srv.request(&get_with("/api/version", &[&format!("authorization: bearer   {ADMIN_TOKEN}")]));
    assert_eq!(r.status, 200, "scheme is case-insensitive, whitespace trimmed: {}", r.text());
    let r = srv.request(&get_with("/api/version", &[&format!("Cookie: theme=dark; talon_token={ADMIN_TOKEN}; x=y")]));
    assert_eq!(r.status, 200, "cookie talon_token: {}", r.text());
    let r = srv.get(&format!("/metrics?token={ADMIN_TOKEN}"));
    assert_eq!(r.status, 200, "?token= on a query_token_routes path: {}", r.text());
    assert!(r.text().contains("talon_"), "metrics body");
}

#[test]
fn query_token_is_refused_off_the_listed_routes() {
    let srv = TestServer::gateway(token_config());
    assert_401(&srv.get(&format!("/api/version?token={ADMIN_TOKEN}")), "?token= on /api/version");
    assert_401(&srv.get(&format!("/debug/echo?token={ADMIN_TOKEN}")), "?token= on /debug/echo");
}

#[test]
fn scopes_are_enforced() {
    let srv = TestServer::gateway(token_config());
    for (name, token, status) in [
        ("webhook", HOOK_TOKEN, 403),
        ("mcp-client", MCP_TOKEN, 403),
        ("read", READ_TOKEN, 200),
        ("rpc", RPC_TOKEN, 200),
        ("admin", ADMIN_TOKEN, 200),
    ] {
        for path in ["/metrics", "/api/version"] {
            let r = srv.request(&bearer(path, token));
            assert_eq!(r.status, status, "{name} token on {path}: {}", r.text());
            if status == 403 {
                r.assert_error_body();
                let msg = r.json()["message"].as_str().unwrap_or_default().to_owned();
                assert!(msg.contains("read"), "403 names the missing scope: {msg}");
            }
        }
    }
}

#[test]
fn repeated_failures_lock_the_client_out() {
    let mut cfg = token_config();
    cfg["auth_rate_limit"] =
        json!({ "max_attempts": 3, "window_ms": 60000, "lockout_ms": 60000, "exempt_loopback": false });
    let srv = TestServer::gateway(cfg);
    let mut c = srv.connect();
    for i in 0..3 {
        c.send(&bearer("/api/version", &format!("tln-guess-{i:032}")));
        assert_401(&c.read_response(), &format!("failure {}", i + 1));
    }
    c.send(&bearer("/api/version", ADMIN_TOKEN));
    assert_429(&c.read_response(), "right token during the lockout");
    assert_429(&srv.request(&bearer("/metrics", ADMIN_TOKEN)), "new connection during the lockout");
    assert_eq!(srv.get("/health").status, 200, "public routes stay open");
}

#[test]
fn missing_credentials_do_not_count_as_failures() {
    let mut cfg = token_config();
    cfg["auth_rate_limit"] = json!({ "max_attempts": 2, "window_ms": 60000, "lockout_ms": 60000 });
    let srv = TestServer::gateway(cfg);
    for _ in 0..5 {
        assert_401(&srv.get("/api/version"), "no credentials");
    }
    assert_eq!(srv.request(&bearer("/api/version", ADMIN_TOKEN)).status, 200);
}

#[test]
fn loopback_is_let_in_when_no_token_is_configured() {
    let srv = TestServer::from_json(r#"{"gateway":{"debug_routes":true},"logging":{"file":null,"level":"error"}}"#);
    let r = srv.get("/api/version");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(srv.get("/metrics").status, 200);
    assert_eq!(srv.get("/debug/echo").status, 200);
}

#[test]
fn forwarded_for_from_a_trusted_proxy_keys_the_lockout() {
    let srv = TestServer::gateway(json!({
        "auth_token": ADMIN_TOKEN,
        "trusted_proxies": ["127.0.0.1/32"],
        "auth_rate_limit": { "max_attempts": 3, "window_ms": 60000, "lockout_ms": 60000, "exempt_loopback": false }
    }));
    let wrong = "Authorization: Bearer tln-wrong-00000000000000000000000000000000";
    let good = format!("Authorization: Bearer {ADMIN_TOKEN}");
    for i in 0..3 {
        let r = srv.request(&get_with("/api/version", &["X-Forwarded-For: 203.0.113.9", wrong]));
        assert_401(&r, &format!("203.0.113.9 failure {}", i + 1));
    }
    let r = srv.request(&get_with("/api/version", &["X-Forwarded-For: 203.0.113.9", &good]));
    assert_429(&r, "203.0.113.9 is locked out");
    let r = srv.request(&get_with("/api/version", &["X-Forwarded-For: 203.0.113.10", wrong]));
    assert_401(&r, "203.0.113.10 is a different client and not locked out");
    let r = srv.request(&get_with("/api/version", &["X-Forwarded-For: 203.0.113.10", &good]));
    assert_eq!(r.status, 200, "203.0.113.10 with the right token: {}", r.text());
    let r = srv.request(&get_with("/api/version", &["X-Forwarded-For: 198.51.100.7, 203.0.113.9", &good]));
    assert_429(&r, "the right-most untrusted hop is the client");
    let r = srv.request(&get_with("/api/version", &[&good]));
    assert_eq!(r.status, 200, "the proxy itself (no XFF) is not locked out: {}", r.text());
}

#[test]
fn only_the_configured_forwarding_header_is_read() {
    // Regression: with both headers present, `Forwarded` used to win, so a client behind a
    // proxy that only appends X-Forwarded-For could pick its own address.
    let lockout = json!({ "max_attempts": 1, "window_ms": 60000, "lockout_ms": 60000, "exempt_loopback": false });
    let srv = TestServer::gateway(json!({
        "auth_token": ADMIN_TOKEN, "trusted_proxies": ["127.0.0.1/32"], "auth_rate_limit": lockout
    }));
    let wrong = "Authorization: Bearer tln-wrong-00000000000000000000000000000000";
    let good = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let r = srv.request(&get_with("/api/version", &["X-Forwarded-For: 203.0.113.9", wrong]));
    assert_401(&r, "first failure locks 203.0.113.9");
    let spoof = ["X-Forwarded-For: 203.0.113.9", "Forwarded: for=198.51.100.1", &good];
    assert_429(&srv.request(&get_with("/api/version", &spoof)), "an injected Forwarded header is ignored");

    let srv = TestServer::gateway(json!({
        "auth_token": ADMIN_TOKEN, "trusted_proxies": ["127.0.0.1/32"], "forwarded_header": "forwarded",
        "auth_rate_limit": lockout
    }));
    let r = srv.request(&get_with("/api/version", &["Forwarded: for=\"[2001:db8::1]:4711\"", wrong]));
    assert_401(&r, "first failure locks 2001:db8::1");
    let spoof = ["Forwarded: for=\"[2001:db8::1]:4711\"", "X-Forwarded-For: 198.51.100.1", &good];
    assert_429(&srv.request(&get_with("/api/version", &spoof)), "an injected X-Forwarded-For is ignored");
}

#[test]
fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let srv = TestServer::gateway(json!({
        "auth_token": ADMIN_TOKEN,
        "auth_rate_limit": { "max_attempts": 3, "window_ms": 60000, "lockout_ms": 60000, "exempt_loopback": false }
    }));
    let wrong = "Authorization: Bearer tln-wrong-00000000000000000000000000000000";
    for i in 0..3 {
        let xff = format!("X-Forwarded-For: 203.0.113.{}", 20 + i);
        assert_401(&srv.request(&get_with("/api/version", &[&xff, wrong])), "failure");
    }
    // All three failures counted against the real peer (127.0.0.1), whatever XFF said.
    let good = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let r = srv.request(&get_with("/api/version", &["X-Forwarded-For: 203.0.113.99", &good]));
    assert_429(&r, "XFF from an untrusted peer must not change the client address");
    let r = srv.request(&get_with("/api/version", &["Forwarded: for=203.0.113.98", &good]));
    assert_429(&r, "Forwarded from an untrusted peer must not change the client address");
}

#[test]
fn forwarded_headers_never_grant_loopback_privilege() {
    // No token: only loopback clients are let in. A proxy on loopback forwarding a remote
    // client must not make that client "local".
    let srv = TestServer::gateway(json!({ "trusted_proxies": ["127.0.0.1/32"] }));
    let r = srv.request(&get_with("/api/version", &["X-Forwarded-For: 203.0.113.9"]));
    assert_eq!(r.status, 401, "a forwarded remote client is not loopback: {}", r.text());
    assert_eq!(srv.get("/api/version").status, 200, "the proxy's own requests are loopback");
    let srv = TestServer::gateway(json!({ "trusted_proxies": ["127.0.0.1/32"], "forwarded_header": "forwarded" }));
    let r = srv.request(&get_with("/api/version", &["Forwarded: for=\"[2001:db8::1]:443\""]));
    assert_eq!(r.status, 401, "Forwarded with an IPv6 node: {}", r.text());
}

fn cors_server() -> TestServer {
    TestServer::gateway(json!({
        "auth_token": ADMIN_TOKEN,
        "debug_routes": true,
        "cors_origins": ["https://app.talon.test"]
    }))
}

fn assert_cors_allowed(r: &Response, origin: &str, ctx: &str) {
    assert_eq!(r.header("access-control-allow-origin"), Some(origin), "{ctx}:\n{}", r.head);
    assert!(
        r.header_all("vary").iter().any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("origin"))),
        "{ctx}: Vary: Origin\n{}",
        r.head
    );
}

fn assert_no_cors(r: &Response, ctx: &str) {
    assert!(r.header("access-control-allow-origin").is_none(), "{ctx}: must not reflect the origin:\n{}", r.head);
}

#[test]
fn cors_allows_localhost_and_listed_origins() {
    let srv = cors_server();
    for origin in ["http://localhost:5173", "http://127.0.0.1:8080", "http://[::1]:3000", "https://app.talon.test"] {
        let r = srv.request(&get_with("/health", &[&format!("Origin: {origin}")]));
        assert_eq!(r.status, 200);
        assert_cors_allowed(&r, origin, origin);
    }
    let r = srv.request(&get_with(
        "/api/version",
        &["Origin: https://app.talon.test", &format!("Authorization: Bearer {ADMIN_TOKEN}")],
    ));
    assert_eq!(r.status, 200);
    assert_cors_allowed(&r, "https://app.talon.test", "authenticated GET");
}

#[test]
fn cors_never_reflects_foreign_or_null_origins() {
    let srv = cors_server();
    for origin in ["https://evil.test", "null", "http://localhost.evil.test", "https://app.talon.test.evil.test"] {
        let r = srv.request(&get_with("/health", &[&format!("Origin: {origin}")]));
        assert_eq!(r.status, 200, "a simple GET still works for {origin}");
        assert_no_cors(&r, origin);
    }
}

#[test]
fn cors_preflight() {
    let srv = cors_server();
    let ok = srv.request(
        b"OPTIONS /api/version HTTP/1.1\r\nHost: t\r\nOrigin: http://localhost:5173\r\n\
          Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\n\r\n",
    );
    assert_eq!(ok.status, 204, "{}", ok.head);
    assert_cors_allowed(&ok, "http://localhost:5173", "allowed preflight");
    let methods = ok.header("access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("GET"), "Allow-Methods {methods:?}");
    assert!(
        ok.header("access-control-allow-headers").is_some_and(|h| h.to_ascii_lowercase().contains("authorization")),
        "{}",
        ok.head
    );

    for origin in ["https://evil.test", "null"] {
        let bad = srv.request(
            format!(
                "OPTIONS /api/version HTTP/1.1\r\nHost: t\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: GET\r\n\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(bad.status, 403, "preflight from {origin}: {}", bad.text());
        bad.assert_error_body();
        assert_no_cors(&bad, origin);
    }
}

#[test]
fn cors_state_changing_request_from_foreign_origin_is_403() {
    let srv = cors_server();
    let auth = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let cookie = format!("Cookie: talon_token={ADMIN_TOKEN}");
    for (origin, cred) in
        [("https://evil.test", auth.as_str()), ("null", auth.as_str()), ("https://evil.test", cookie.as_str())]
    {
        let req = format!(
            "POST /debug/echo HTTP/1.1\r\nHost: t\r\nOrigin: {origin}\r\n{cred}\r\nContent-Length: 2\r\n\r\nhi"
        );
        let r = srv.request(req.as_bytes());
        assert_eq!(r.status, 403, "POST from {origin}: {}", r.text());
        r.assert_error_body();
        assert_no_cors(&r, origin);
    }
    let req = format!(
        "POST /debug/echo HTTP/1.1\r\nHost: t\r\nOrigin: https://app.talon.test\r\n{auth}\r\nContent-Length: 2\r\n\r\nhi"
    );
    let r = srv.request(req.as_bytes());
    assert_eq!(r.status, 200, "POST from an allowed origin: {}", r.text());
    assert_cors_allowed(&r, "https://app.talon.test", "allowed POST");
}
