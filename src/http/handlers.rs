//! The handlers of the foundation routes: health, readiness, version, metrics, redirect,
//! and the worker-pool debug routes.
//!
//! Guarantees: inline handlers do constant work (no I/O, no locks held beyond a gauge read);
//! debug handlers run on the worker pool only and are off unless `gateway.debug_routes`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::router::RouteId;
use crate::app::App;
use crate::error::GatewayError;
use crate::protocol::http1::date::rfc3339_millis;
use crate::protocol::http1::{RequestHead, Response, Version};
use crate::workers::{Output, Work};

/// Longest sleep `/debug/sleep` accepts.
const MAX_DEBUG_SLEEP_MS: u64 = 10_000;

fn now_rfc3339() -> String {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    rfc3339_millis(ms)
}

fn json(status: u16, v: &serde_json::Value) -> Response {
    Response::json(status, v.to_string().into_bytes())
}

/// Handlers that run on the event loop.
#[must_use]
pub fn inline(app: &Arc<App>, id: RouteId, head: &RequestHead) -> Response {
    match id {
        RouteId::Health | RouteId::ApiHealth | RouteId::Healthz => {
            let mut body = Vec::with_capacity(64);
            body.extend_from_slice(b"{\"status\":\"ok\",\"timestamp\":\"");
            body.extend_from_slice(now_rfc3339().as_bytes());
            body.extend_from_slice(b"\"}");
            Response::json(200, body)
        }
        RouteId::Ready => ready(app),
        RouteId::Root => {
            Response::new(302, "application/json", br#"{"location":"/app/"}"#.to_vec()).with_header("Location", "/app/")
        }
        RouteId::Version => json(
            200,
            &serde_json::json!({
                "ok": true,
                "name": "talon",
                "version": env!("CARGO_PKG_VERSION"),
                "gateway_version": env!("CARGO_PKG_VERSION"),
                "protocol": 1,
                "compiled_channels": crate::webhook::Channel::NATIVE.map(crate::webhook::Channel::name),
            }),
        ),
        RouteId::Metrics => {
            let mut text = app.metrics.render(app.gauges());
            let buffered_ms = match app.settings.ingest.ack {
                crate::config::ingest::AckPolicy::Durable => None,
                crate::config::ingest::AckPolicy::Buffered { interval } => {
                    Some(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX))
                }
            };
            crate::webhook::stats::render_metrics(
                &app.ingest_stats,
                &app.store.stats(),
                app.store.healthy(),
                buffered_ms,
                &mut text,
            );
            app.outbound.stats().render_metrics(&mut text);
            app.channel_turns.stats().render_metrics(&mut text, app.channel_turns.in_flight());
            Response::new(200, "text/plain; version=0.0.4; charset=utf-8", text.into_bytes())
        }
        RouteId::Activity => activity(app, head),
        RouteId::DebugPublish => debug_publish(app, head),
        RouteId::LogsRecent => logs_recent(app, head),
        RouteId::Agents => super::chat::agents(app),
        RouteId::V1Models => super::openai::models(app),
        RouteId::V1Model => super::openai::model(app, head.path()),
        RouteId::DebugEcho
        | RouteId::DebugSleep
        | RouteId::Ws
        | RouteId::WsEcho
        | RouteId::EventsLive
        | RouteId::LogsLive
        | RouteId::Events
        | RouteId::Webhook
        | RouteId::Hooks
        | RouteId::Inbox
        | RouteId::InboxEntry
        | RouteId::InboxReplay
        | RouteId::Chat
        | RouteId::ChatHistory
        | RouteId::Sessions
        | RouteId::V1ChatCompletions
        | RouteId::ChatStream
        | RouteId::ChatLive
        | RouteId::V1Responses
        | RouteId::V1Embeddings
        | RouteId::Unmatched
        | RouteId::Invalid => {
            GatewayError::Internal(format!("route {} has no inline handler", id.label())).to_response()
        }
    }
}

fn query_u64(head: &RequestHead, name: &str) -> Result<Option<u64>, GatewayError> {
    let Some(raw) = head.query().and_then(|q| crate::auth::query_param(q, name)) else { return Ok(None) };
    let text = String::from_utf8(raw).unwrap_or_default();
    text.parse::<u64>()
        .map(Some)
        .map_err(|_| GatewayError::InvalidParams(format!("{name} must be a non-negative integer")))
}

/// `GET /api/activity?limit=`: the newest events of the ring (1–100, default 50).
fn activity(app: &App, head: &RequestHead) -> Response {
    let limit = query_u64(head, "limit")
        .and_then(|l| crate::rpc::activity_limit(l.map(|n| usize::try_from(n).unwrap_or(usize::MAX))));
    match limit {
        Ok(n) => Response::json(200, crate::rpc::activity_json(app, n)),
        Err(e) => e.to_response(),
    }
}

/// `GET /api/logs/recent?limit=` (clawgo): the newest log lines (default 10, at most 200).
fn logs_recent(app: &App, head: &RequestHead) -> Response {
    use crate::logtail::{DEFAULT_RECENT, TAIL_LINES};
    let limit = match query_u64(head, "limit") {
        Ok(None) => DEFAULT_RECENT,
        Ok(Some(n)) if (1..=TAIL_LINES as u64).contains(&n) => usize::try_from(n).unwrap_or(TAIL_LINES),
        Ok(Some(n)) => {
            return GatewayError::InvalidParams(format!("limit {n} is outside 1..={TAIL_LINES}")).to_response();
        }
        Err(e) => return e.to_response(),
    };
    let lines = app.logger.tail.recent(limit);
    let mut body = Vec::with_capacity(32 + lines.iter().map(|l| l.len() + 1).sum::<usize>());
    body.extend_from_slice(b"{\"ok\":true,\"logs\":");
    crate::protocol::jsonrpc::encode_batch(&lines, &mut body);
    body.push(b'}');
    Response::json(200, body)
}

/// Most events `/debug/publish` publishes per request.
const MAX_DEBUG_PUBLISH: u64 = 10_000;
/// Largest padding `/debug/publish` adds to an event.
const MAX_DEBUG_PUBLISH_BYTES: u64 = 64 * 1024;

/// `POST /debug/publish?count=N&bytes=B` (debug routes only): publish N
/// `observability:metrics` events of about B bytes each, stamped with the publish time, so
/// the fan-out benchmark can measure delivery latency.
fn debug_publish(app: &App, head: &RequestHead) -> Response {
    let parsed = query_u64(head, "count").and_then(|c| Ok((c, query_u64(head, "bytes")?)));
    let (count, bytes) = match parsed {
        Ok((c, b)) => (c.unwrap_or(1).min(MAX_DEBUG_PUBLISH), b.unwrap_or(64).min(MAX_DEBUG_PUBLISH_BYTES)),
        Err(e) => return e.to_response(),
    };
    let pad = "x".repeat(usize::try_from(bytes).unwrap_or(0));
    let mut last = 0;
    for i in 0..count {
        let sent_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let payload = serde_json::json!({ "debug": true, "i": i, "sentNs": sent_ns.to_string(), "pad": pad });
        match app.bus.publish("observability:metrics", &payload) {
            Ok(id) => last = id,
            Err(e) => return GatewayError::Internal(e.to_string()).to_response(),
        }
    }
    json(200, &serde_json::json!({ "published": count, "lastId": last }))
}

fn ready(app: &App) -> Response {
    let draining = app.shutting_down();
    let queue_full = app.pool.depth() >= app.pool.capacity();
    let store_ok = app.store.healthy();
    let ok = !draining && !queue_full && store_ok;
    let response = json(
        if ok { 200 } else { 503 },
        &serde_json::json!({
            "status": if ok { "ready" } else { "not_ready" },
            "timestamp": now_rfc3339(),
            "checks": [
                { "name": "accepting", "ok": !draining },
                { "name": "worker_queue", "ok": !queue_full, "depth": app.pool.depth(), "capacity": app.pool.capacity() },
                { "name": "store", "ok": store_ok, "error": app.store.failure() },
            ],
        }),
    );
    if ok { response } else { response.with_header("Retry-After", "1") }
}

/// Package a worker route as a job.
#[must_use]
pub fn worker_job(app: &Arc<App>, id: RouteId, head: &RequestHead, body: Vec<u8>) -> Work {
    match id {
        RouteId::Inbox => {
            let params = crate::webhook::inbox::ListParams::from_query(head.query().unwrap_or_default());
            let app = Arc::clone(app);
            Box::new(move || Output::Http(answer(params.and_then(|p| crate::webhook::inbox::list(&app, &p)))))
        }
        RouteId::InboxEntry | RouteId::InboxReplay => {
            let id_result = crate::webhook::inbox::id_from_path(head.path());
            let app = Arc::clone(app);
            let replay = id == RouteId::InboxReplay;
            Box::new(move || {
                Output::Http(answer(id_result.and_then(|inbox_id| {
                    if replay {
                        crate::webhook::inbox::replay(&app, inbox_id)
                    } else {
                        crate::webhook::inbox::get(&app, inbox_id)
                    }
                })))
            })
        }
        RouteId::ChatHistory => {
            let query = head.query().unwrap_or_default().to_owned();
            let app = Arc::clone(app);
            Box::new(move || Output::Http(answer(super::chat::history(&app, &query))))
        }
        RouteId::Sessions => {
            let query = head.query().unwrap_or_default().to_owned();
            let app = Arc::clone(app);
            Box::new(move || Output::Http(answer(super::chat::sessions(&app, &query))))
        }
        RouteId::DebugEcho => {
            let headers: Vec<(String, String)> =
                head.headers().map(|(n, v)| (n.to_owned(), String::from_utf8_lossy(v).into_owned())).collect();
            let echo = serde_json::json!({
                "method": head.method_str(),
                "target": head.target(),
                "path": head.path(),
                "query": head.query(),
                "version": if head.version == Version::Http10 { "HTTP/1.0" } else { "HTTP/1.1" },
                "headers": headers,
            });
            Box::new(move || {
                let mut echo = echo;
                echo["body_len"] = body.len().into();
                echo["body_sha256"] = hex(&Sha256::digest(&body)).into();
                Output::Http(json(200, &echo))
            })
        }
        RouteId::DebugSleep => {
            let ms = head
                .query()
                .and_then(|q| crate::auth::query_param(q, "ms"))
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(100)
                .min(MAX_DEBUG_SLEEP_MS);
            Box::new(move || {
                std::thread::sleep(Duration::from_millis(ms));
                Output::Http(json(200, &serde_json::json!({ "slept_ms": ms })))
            })
        }
        other => {
            let label = other.label();
            Box::new(move || {
                Output::Http(GatewayError::Internal(format!("route {label} has no worker handler")).to_response())
            })
        }
    }
}

fn answer(result: Result<serde_json::Value, GatewayError>) -> Response {
    match result {
        Ok(v) => json(200, &v),
        Err(e) => e.to_response(),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
