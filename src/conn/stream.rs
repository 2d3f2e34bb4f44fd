//! Event delivery to subscribed connections: Server-Sent Events streams (`/api/events`) and
//! WebSockets (`event` frames, JSON-RPC notifications, clawgo live frames).
//!
//! Guarantees:
//! - An SSE stream starts with `retry:`; with `Last-Event-ID` it first replays every event
//!   the ring still holds after that id, in order, and says `event: replay-gap` when some of
//!   them were already evicted. Events then follow with no gap and no repeat: each
//!   connection keeps the id of the last event it was given.
//! - SSE bytes are the shared, encode-once bytes of the event; nothing is formatted per
//!   subscriber. A subscriber only gets events its scopes allow.
//! - A subscriber whose unsent output passes its bound (`sse.max_backlog_bytes`,
//!   `ws.max_outbound_bytes`) is closed; the server never buffers without limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Connection, Cx, InFlight, Phase, Status};
use crate::auth::ScopeSet;
use crate::events::Encoded;
use crate::http::router::WsKind;
use crate::protocol::http1::response::push_u64;
use crate::protocol::jsonrpc::{encode_event, encode_notification};
use crate::protocol::sse;
use crate::protocol::websocket::{OP_TEXT, begin_frame, finish_frame};

/// Events taken from the ring per delivery round; more wait for the next round.
pub const DELIVERY_BATCH: usize = 1024;

/// The state of one SSE stream.
#[derive(Debug)]
pub struct SseSession {
    scopes: ScopeSet,
    /// Id of the last event given to this stream.
    cursor: u64,
    next_ping: Instant,
}

impl Connection {
    /// Answer `GET /api/events`: the stream head, `retry:`, the replay, then live events.
    pub(super) fn start_event_stream(&mut self, cx: &mut Cx<'_>, inflight: &InFlight) {
        let sse_cfg = &cx.app.settings.config.gateway.sse;
        let before = self.wbuf.len();
        self.wbuf.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
              X-Accel-Buffering: no\r\nConnection: close\r\n",
        );
        if let Some(origin) = &inflight.admitted.cors_origin {
            self.wbuf.extend_from_slice(b"Access-Control-Allow-Origin: ");
            self.wbuf.extend_from_slice(origin.as_bytes());
            self.wbuf.extend_from_slice(b"\r\nVary: Origin\r\n");
        }
        self.wbuf.extend_from_slice(b"\r\n");
        sse::encode_retry(&mut self.wbuf, sse_cfg.retry_ms);
        let scopes = inflight.admitted.scopes.unwrap_or_default();
        let last_seen = inflight
            .head
            .header_str("last-event-id")
            .map(str::trim)
            .or_else(|| inflight.head.query().and_then(|q| q.split('&').find_map(|p| p.strip_prefix("lastEventId="))))
            .and_then(|v| v.parse::<u64>().ok());
        let cursor = match last_seen {
            Some(after) => self.replay(cx, after, scopes),
            None => cx.app.bus.last_id(),
        };
        let keepalive = Duration::from_millis(sse_cfg.keepalive_ms.max(1));
        self.phase = Phase::EventStream(Box::new(SseSession { scopes, cursor, next_ping: cx.now + keepalive }));
        cx.events.subscribe(self.token);
        self.log_stream_start(cx, inflight, self.wbuf.len() - before);
    }

    /// Write what the ring holds after `after`; returns the id of the last event written.
    fn replay(&mut self, cx: &mut Cx<'_>, after: u64, scopes: ScopeSet) -> u64 {
        let last = cx.app.bus.last_id();
        let mut cursor = after.min(last);
        let mut batch = Vec::new();
        let mut first = true;
        while cursor < last {
            batch.clear();
            let missed = cx.app.bus.since_into(cursor, DELIVERY_BATCH, &mut batch);
            if first && missed {
                let oldest = batch.first().map_or(last.saturating_add(1), |e| e.id());
                let mut data = Vec::new();
                data.extend_from_slice(b"{\"requestedAfter\":");
                push_u64(&mut data, after);
                data.extend_from_slice(b",\"oldestAvailable\":");
                push_u64(&mut data, oldest);
                data.extend_from_slice(b",\"missed\":");
                push_u64(&mut data, oldest.saturating_sub(after).saturating_sub(1));
                data.push(b'}');
                sse::encode_event(&mut self.wbuf, None, Some("replay-gap"), &data);
            }
            first = false;
            let Some(end) = batch.last().map(|e| e.id()) else { break };
            for e in batch.iter().filter(|e| scopes.satisfies(e.scope())) {
                self.wbuf.extend_from_slice(e.sse());
            }
            cursor = end;
        }
        cursor.max(after.min(last))
    }

    fn log_stream_start(&mut self, cx: &mut Cx<'_>, inflight: &InFlight, bytes: usize) {
        let latency = Instant::now().saturating_duration_since(inflight.started);
        cx.app.metrics.request(inflight.admitted.spec.id, 200, latency);
        cx.log.request(
            &cx.app.logger,
            &crate::log::RequestRecord {
                request_id: inflight.request_id,
                method: inflight.head.method_str(),
                path: inflight.head.path(),
                status: 200,
                bytes,
                duration_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                client: inflight.admitted.client_ip,
            },
        );
        self.served += 1;
    }

    /// Whether this connection takes bus events.
    #[must_use]
    pub fn is_subscriber(&self) -> bool {
        match &self.phase {
            Phase::EventStream(_) => true,
            Phase::WebSocket(ws) => matches!(ws.kind, WsKind::Rpc | WsKind::LiveEvents),
            _ => false,
        }
    }

    /// New events from the bus (in id order). Returns whether the connection survives.
    pub fn deliver(&mut self, cx: &mut Cx<'_>, events: &[Arc<Encoded>]) -> Status {
        let limit = match &mut self.phase {
            Phase::EventStream(s) => {
                let after = s.cursor;
                for e in events.iter().filter(|e| e.id() > after) {
                    if s.scopes.satisfies(e.scope()) {
                        self.wbuf.extend_from_slice(e.sse());
                    }
                    s.cursor = e.id();
                }
                cx.app.settings.config.gateway.sse.max_backlog_bytes
            }
            Phase::WebSocket(ws) => {
                // Not authenticated yet (in-band auth pending): nothing is shown.
                let Some(scopes) = ws.scopes else { return Status::Open };
                for e in events.iter().filter(|e| scopes.satisfies(e.scope())) {
                    let mark = begin_frame(&mut self.wbuf);
                    match ws.kind {
                        WsKind::LiveEvents => live_event(e, &mut self.wbuf),
                        _ if ws.prefers_jsonrpc => encode_notification(e.name(), e.payload(), &mut self.wbuf),
                        _ => {
                            ws.event_seq += 1;
                            encode_event(e.name(), ws.event_seq, e.payload(), &mut self.wbuf);
                        }
                    }
                    finish_frame(&mut self.wbuf, mark, OP_TEXT);
                }
                cx.app.settings.config.gateway.ws.max_outbound_bytes
            }
            _ => return Status::Open,
        };
        if self.pending_output() as u64 > limit {
            cx.app.metrics.reject(crate::metrics::Reject::SlowConsumer);
            if matches!(self.phase, Phase::WebSocket(_)) {
                self.ws_check_backlog(cx);
            } else {
                // Nothing can be said to an SSE client behind a full buffer: drop it.
                return Status::Close;
            }
        }
        self.pump(cx)
    }

    /// The SSE keep-alive deadline.
    pub(super) fn sse_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::EventStream(s) => Some(s.next_ping),
            _ => None,
        }
    }

    /// Send `event: ping` when due.
    pub(super) fn sse_on_timer(&mut self, cx: &mut Cx<'_>) -> Status {
        let keepalive = Duration::from_millis(cx.app.settings.config.gateway.sse.keepalive_ms.max(1));
        if let Phase::EventStream(s) = &mut self.phase
            && cx.now >= s.next_ping
        {
            s.next_ping = cx.now + keepalive;
            sse::encode_ping(&mut self.wbuf);
        }
        self.pump(cx)
    }
}

/// clawgo's live frame: `{"type":NAME,"id":N,"ts":MS,"payload":{..}}`.
fn live_event(e: &Encoded, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"type\":");
    let _ = serde_json::to_writer(&mut *out, e.name());
    out.extend_from_slice(b",\"id\":");
    push_u64(out, e.id());
    out.extend_from_slice(b",\"ts\":");
    push_u64(out, e.ts_ms());
    out.extend_from_slice(b",\"payload\":");
    out.extend_from_slice(e.payload());
    out.push(b'}');
}
