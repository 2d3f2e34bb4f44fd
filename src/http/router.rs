//! The route table: which path is which route, which methods and scope it needs, and
//! whether it runs inline on the event loop or on the worker pool.
//!
//! Guarantees: lookup is an exact match on the path (one trailing slash tolerated, as
//! Human does); a known path with the wrong method is a 405 with `Allow`, an unknown
//! path a 404. Health routes need no auth and are exempt from rate limits.

use crate::auth::Scope;

/// Every route, also used as the metrics label index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    /// `GET /health`
    Health,
    /// `GET /api/health`
    ApiHealth,
    /// `GET /healthz`
    Healthz,
    /// `GET /ready`, `/readyz`
    Ready,
    /// `GET /` (redirect to the Control UI)
    Root,
    /// `GET /api/version`
    Version,
    /// `GET /metrics`
    Metrics,
    /// `/debug/echo` (debug routes only): the parsed request as JSON, on the worker pool.
    DebugEcho,
    /// `/debug/sleep?ms=` (debug routes only): holds a worker, for backpressure tests.
    DebugSleep,
    /// No route matched.
    Unmatched,
    /// The request could not be parsed.
    Invalid,
}

/// Number of [`RouteId`] values.
pub const ROUTE_COUNT: usize = 11;

impl RouteId {
    /// All routes in label order.
    pub const ALL: [Self; ROUTE_COUNT] = [
        Self::Health,
        Self::ApiHealth,
        Self::Healthz,
        Self::Ready,
        Self::Root,
        Self::Version,
        Self::Metrics,
        Self::DebugEcho,
        Self::DebugSleep,
        Self::Unmatched,
        Self::Invalid,
    ];

    /// The metrics label.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Health => "/health",
            Self::ApiHealth => "/api/health",
            Self::Healthz => "/healthz",
            Self::Ready => "/ready",
            Self::Root => "/",
            Self::Version => "/api/version",
            Self::Metrics => "/metrics",
            Self::DebugEcho => "/debug/echo",
            Self::DebugSleep => "/debug/sleep",
            Self::Unmatched => "unmatched",
            Self::Invalid => "invalid",
        }
    }

    /// Index for per-route tables.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Where a route's handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// On the event loop: costs less than a hop to another thread.
    Inline,
    /// On the worker pool; a full queue is answered 503.
    Worker,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// Which route.
    pub id: RouteId,
    /// Methods for the `Allow` header; HEAD is allowed wherever GET is.
    pub allow: &'static str,
    /// Required scope, or `None` for public routes.
    pub scope: Option<Scope>,
    /// Whether the per-IP rate limit applies.
    pub rate_limited: bool,
    /// Where it runs.
    pub execution: Execution,
}

/// Every method some route accepts (the answer to `OPTIONS *`).
pub const SERVER_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
const GET: &str = "GET, HEAD, OPTIONS";
const ANY: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// Find the route for `path`.
#[must_use]
pub fn lookup(path: &str, debug_routes: bool) -> Option<RouteSpec> {
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let public = |id| RouteSpec { id, allow: GET, scope: None, rate_limited: false, execution: Execution::Inline };
    let spec = match path {
        "/health" => public(RouteId::Health),
        "/api/health" => public(RouteId::ApiHealth),
        "/healthz" => public(RouteId::Healthz),
        "/ready" | "/readyz" => public(RouteId::Ready),
        "/" => RouteSpec { rate_limited: true, ..public(RouteId::Root) },
        "/api/version" => RouteSpec { scope: Some(Scope::Read), rate_limited: true, ..public(RouteId::Version) },
        "/metrics" => RouteSpec { scope: Some(Scope::Read), rate_limited: true, ..public(RouteId::Metrics) },
        "/debug/echo" if debug_routes => RouteSpec {
            id: RouteId::DebugEcho,
            allow: ANY,
            scope: Some(Scope::Read),
            rate_limited: true,
            execution: Execution::Worker,
        },
        "/debug/sleep" if debug_routes => RouteSpec {
            id: RouteId::DebugSleep,
            allow: GET,
            scope: Some(Scope::Read),
            rate_limited: true,
            execution: Execution::Worker,
        },
        _ => return None,
    };
    Some(spec)
}

/// Whether `method` is allowed by an `Allow` list.
#[must_use]
pub fn method_allowed(allow: &str, method: &str) -> bool {
    allow.split(", ").any(|m| m == method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(lookup("/health", false).map(|s| s.id), Some(RouteId::Health));
        assert_eq!(lookup("/health/", false).map(|s| s.id), Some(RouteId::Health));
        assert_eq!(lookup("/readyz", false).map(|s| s.id), Some(RouteId::Ready));
        assert!(lookup("/debug/echo", false).is_none());
        assert!(lookup("/debug/echo", true).is_some());
        assert!(lookup("/nope", true).is_none());
        assert!(method_allowed(GET, "HEAD") && !method_allowed(GET, "POST"));
        for (i, r) in RouteId::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
