//! Process-wide counters and the Prometheus text rendering of them.
//!
//! Guarantees: recording is a few relaxed atomic adds (no locks, no allocation), so it can
//! sit on the event loop's hot path; label sets are fixed tables, so memory does not grow
//! with traffic.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::http::router::{ROUTE_COUNT, RouteId};

/// Statuses with their own counter; anything else is counted as `other`.
const STATUSES: [u16; 29] = [
    101, 200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 409, 413, 414, 415, 417, 422, 426, 429, 431,
    500, 501, 502, 503, 504, 505,
];
const STATUS_SLOTS: usize = STATUSES.len() + 1;

/// Upper bounds of the latency histogram, in microseconds.
const LATENCY_BUCKETS_US: [u64; 14] =
    [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000, 5_000_000];

/// Why a connection or request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Accept paused at `max_connections` (counted once per pause), or a connection closed at
    /// accept because another reactor took the last place first.
    MaxConnections,
    /// Over `max_connections_per_ip`.
    PerIpConnections,
    /// Per-IP request rate limit.
    RateLimited,
    /// Rate limiter table full.
    RateLimiterFull,
    /// Missing or wrong credential.
    AuthFailed,
    /// Failed-auth lockout.
    AuthLockedOut,
    /// Token lacks the scope.
    InsufficientScope,
    /// Disallowed browser origin.
    OriginNotAllowed,
    /// Worker queue full.
    Overloaded,
    /// Malformed request.
    ParseError,
    /// Body over the limit.
    BodyTooLarge,
    /// Head not complete in time.
    HeaderTimeout,
    /// Body stalled.
    BodyTimeout,
    /// Client did not read its response in time.
    WriteTimeout,
    /// A WebSocket upgrade refused before the 101 (bad handshake, origin, connection cap).
    WsRefused,
    /// A WebSocket message over the per-connection message rate.
    WsMessageRate,
    /// A WebSocket or SSE peer whose outbound backlog passed its bound.
    SlowConsumer,
    /// A WebSocket peer that answered no ping in time.
    PongTimeout,
    /// A webhook refused (signature, handshake, body, unsigned); per channel in `channels.status`.
    WebhookRefused,
    /// A webhook answered 503 because the store queue was full or the store fail-stopped.
    InboxUnavailable,
}

const REJECTS: [(Reject, &str); 20] = [
    (Reject::MaxConnections, "max_connections"),
    (Reject::PerIpConnections, "max_connections_per_ip"),
    (Reject::RateLimited, "rate_limited"),
    (Reject::RateLimiterFull, "rate_limiter_full"),
    (Reject::AuthFailed, "auth_failed"),
    (Reject::AuthLockedOut, "auth_locked_out"),
    (Reject::InsufficientScope, "insufficient_scope"),
    (Reject::OriginNotAllowed, "origin_not_allowed"),
    (Reject::Overloaded, "overloaded"),
    (Reject::ParseError, "parse_error"),
    (Reject::BodyTooLarge, "body_too_large"),
    (Reject::HeaderTimeout, "header_timeout"),
    (Reject::BodyTimeout, "body_timeout"),
    (Reject::WriteTimeout, "write_timeout"),
    (Reject::WsRefused, "ws_refused"),
    (Reject::WsMessageRate, "ws_message_rate"),
    (Reject::SlowConsumer, "slow_consumer"),
    (Reject::PongTimeout, "pong_timeout"),
    (Reject::WebhookRefused, "webhook_refused"),
    (Reject::InboxUnavailable, "inbox_unavailable"),
];

/// All counters.
#[derive(Debug)]
pub struct Metrics {
    connections_open: AtomicI64,
    connections_accepted: AtomicU64,
    requests: [[AtomicU64; STATUS_SLOTS]; ROUTE_COUNT],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    rejected: [AtomicU64; REJECTS.len()],
    log_lines_dropped: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            connections_open: AtomicI64::new(0),
            connections_accepted: AtomicU64::new(0),
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            latency_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_count: AtomicU64::new(0),
            latency_sum_us: AtomicU64::new(0),
            rejected: std::array::from_fn(|_| AtomicU64::new(0)),
            log_lines_dropped: AtomicU64::new(0),
        }
    }
}

/// Gauges read at render time from their owners.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Jobs waiting in the worker queue.
    pub worker_queue_depth: usize,
    /// The worker queue bound.
    pub worker_queue_capacity: usize,
    /// Jobs being executed right now.
    pub workers_busy: usize,
    /// Batches of log lines waiting for the writer.
    pub log_queue_chunks: usize,
}

impl Metrics {
    /// A connection was accepted.
    pub fn connection_opened(&self) {
        self.connections_accepted.fetch_add(1, Relaxed);
        self.connections_open.fetch_add(1, Relaxed);
    }

    /// A connection was closed.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    /// Open connections now.
    #[must_use]
    pub fn connections_open(&self) -> i64 {
        self.connections_open.load(Relaxed)
    }

    /// A response was sent for `route` with `status`, `latency` after its head arrived.
    pub fn request(&self, route: RouteId, status: u16, latency: Duration) {
        let slot = STATUSES.iter().position(|s| *s == status).unwrap_or(STATUSES.len());
        if let Some(c) = self.requests.get(route.index()).and_then(|r| r.get(slot)) {
            c.fetch_add(1, Relaxed);
        }
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = LATENCY_BUCKETS_US.iter().position(|b| us <= *b)
            && let Some(c) = self.latency_buckets.get(i)
        {
            c.fetch_add(1, Relaxed);
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(us, Relaxed);
    }

    /// Something was turned away.
    pub fn reject(&self, reason: Reject) {
        if let Some(i) = REJECTS.iter().position(|(r, _)| *r == reason)
            && let Some(c) = self.rejected.get(i)
        {
            c.fetch_add(1, Relaxed);
        }
    }

    /// How many times `reason` happened.
    #[must_use]
    pub fn rejected(&self, reason: Reject) -> u64 {
        REJECTS.iter().position(|(r, _)| *r == reason).and_then(|i| self.rejected.get(i)).map_or(0, |c| c.load(Relaxed))
    }

    /// A log line could not be queued.
    pub fn log_line_dropped(&self) {
        self.log_lines_dropped.fetch_add(1, Relaxed);
    }

    /// Prometheus text exposition format 0.0.4.
    #[must_use]
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP talon_connections_open Open client connections.\n# TYPE talon_connections_open gauge"
        );
        let _ = writeln!(out, "talon_connections_open {}", self.connections_open.load(Relaxed));
        let _ = writeln!(
            out,
            "# HELP talon_connections_accepted_total Connections accepted.\n# TYPE talon_connections_accepted_total counter"
        );
        let _ = writeln!(out, "talon_connections_accepted_total {}", self.connections_accepted.load(Relaxed));
        let _ = writeln!(
            out,
            "# HELP talon_http_requests_total Responses sent, by route and status.\n# TYPE talon_http_requests_total counter"
        );
        for route in RouteId::ALL {
            let Some(row) = self.requests.get(route.index()) else { continue };
            for (slot, c) in row.iter().enumerate() {
                let n = c.load(Relaxed);
                if n == 0 {
                    continue;
                }
                let status = STATUSES.get(slot).map_or_else(|| "other".to_owned(), u16::to_string);
                let _ =
                    writeln!(out, "talon_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}", route.label());
            }
        }
        let _ = writeln!(
            out,
            "# HELP talon_http_request_duration_seconds Time from complete head to response queued.\n# TYPE talon_http_request_duration_seconds histogram"
        );
        let mut cumulative = 0u64;
        for (bound, c) in LATENCY_BUCKETS_US.iter().zip(&self.latency_buckets) {
            cumulative += c.load(Relaxed);
            let _ = writeln!(
                out,
                "talon_http_request_duration_seconds_bucket{{le=\"{}\"}} {cumulative}",
                *bound as f64 / 1e6
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(out, "talon_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ =
            writeln!(out, "talon_http_request_duration_seconds_sum {}", self.latency_sum_us.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "talon_http_request_duration_seconds_count {count}");
        let _ = writeln!(
            out,
            "# HELP talon_rejected_total Connections and requests turned away, by reason.\n# TYPE talon_rejected_total counter"
        );
        for ((_, name), c) in REJECTS.iter().zip(&self.rejected) {
            let _ = writeln!(out, "talon_rejected_total{{reason=\"{name}\"}} {}", c.load(Relaxed));
        }
        for (name, help, v) in [
            ("talon_worker_queue_depth", "Jobs waiting for a worker.", gauges.worker_queue_depth),
            ("talon_worker_queue_capacity", "Bound of the worker queue.", gauges.worker_queue_capacity),
            ("talon_workers_busy", "Jobs being executed.", gauges.workers_busy),
            ("talon_log_queue_chunks", "Batches of log lines waiting for the writer.", gauges.log_queue_chunks),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP talon_log_lines_dropped_total Log lines dropped because the log queue was full.\n# TYPE talon_log_lines_dropped_total counter"
        );
        let _ = writeln!(out, "talon_log_lines_dropped_total {}", self.log_lines_dropped.load(Relaxed));
        out
    }
}
