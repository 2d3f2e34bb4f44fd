//! CORS: which browser origins may call us, preflight answers, response decoration.
//!
//! Guarantees: an origin is allowed only if it is a localhost origin (`http(s)://localhost`,
//! `127.0.0.1`, `[::1]`, any port) or listed exactly in `cors_origins`. Arbitrary origins
//! and `null` are never reflected. Allowed responses carry `Vary: Origin`.

use crate::protocol::http1::Response;

/// Headers a browser may send cross-origin.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, X-Requested-With, Accept, Cache-Control, Last-Event-ID";
/// How long a browser may cache a preflight answer.
const MAX_AGE_SECS: &str = "600";

/// Whether `origin` may call us.
#[must_use]
pub fn origin_allowed(origin: &str, allow_list: &[String]) -> bool {
    is_localhost_origin(origin) || allow_list.iter().any(|o| o == origin)
}

fn is_localhost_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, port)) if port.is_empty() || is_port(port) => return h == "::1",
            _ => return false,
        }
    } else {
        match rest.split_once(':') {
            Some((h, port)) if is_port(port) => h,
            Some(_) => return false,
            None => rest,
        }
    };
    host == "localhost" || host == "127.0.0.1"
}

fn is_port(s: &str) -> bool {
    s.strip_prefix(':').unwrap_or(s).parse::<u16>().is_ok() && !s.is_empty()
}

/// Add the CORS headers for an allowed origin.
pub fn decorate(response: &mut Response, origin: &str) {
    response.push_header("Access-Control-Allow-Origin", origin.to_owned());
    response.push_header("Access-Control-Allow-Credentials", "true");
    response.push_header("Vary", "Origin");
}

/// The answer to an allowed preflight request.
#[must_use]
pub fn preflight(origin: &str, allow_methods: &'static str) -> Response {
    let mut r = Response::empty(204);
    decorate(&mut r, origin);
    r.push_header("Access-Control-Allow-Methods", allow_methods);
    r.push_header("Access-Control-Allow-Headers", ALLOW_HEADERS);
    r.push_header("Access-Control-Max-Age", MAX_AGE_SECS);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let list = vec!["https://app.example.com".to_string()];
        for ok in [
            "http://localhost",
            "http://localhost:5173",
            "https://127.0.0.1:8443",
            "http://[::1]:3000",
            "https://app.example.com",
        ] {
            assert!(origin_allowed(ok, &list), "{ok}");
        }
        for bad in [
            "null",
            "https://evil.com",
            "http://localhost.evil.com",
            "http://127.0.0.1.evil.com",
            "https://app.example.com.evil.com",
            "http://localhost:abc",
            "file://",
            "",
        ] {
            assert!(!origin_allowed(bad, &list), "{bad}");
        }
    }
}
