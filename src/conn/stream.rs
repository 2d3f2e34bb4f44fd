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
use crate::protocol::sse;
use crate::protocol::websocket::{OP_TEXT, begin_frame, finish_frame};

/// Events taken from the ring per delivery round; more wait for the next round.
pub const DELIVERY_BATCH: usize = 1024;

/// Events pulled from the ring per lock while an SSE stream catches up.
const PULL_BATCH: usize = 256;

/// The state of one SSE stream.
#[derive(Debug)]
pub struct SseSession {
    scopes: ScopeSet,
    /// Id of the last event given to this stream (or skipped by scope).
    cursor: u64,
    /// The `Last-Event-ID` of a resume whose replay has not started: its first pull tells
    /// the client about a gap instead of closing the stream.
    resume_from: Option<u64>,
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
        self.subscribe(cx);
        let last_seen = inflight
            .head
            .header_str("last-event-id")
            .map(str::trim)
            .or_else(|| inflight.head.query().and_then(|q| q.split('&').find_map(|p| p.strip_prefix("lastEventId="))))
            .and_then(|v| v.parse::<u64>().ok());
        let keepalive = Duration::from_millis(sse_cfg.keepalive_ms.max(1));
        let last = cx.app.bus.last_id();
        let (cursor, resume_from) = match last_seen {
            None => (last, None),
            // An id this process never issued (from before a restart): everything held is new.
            Some(after) if after > last => {
                self.gap_notice(after, last, cx.app.bus.recent(1).first().map_or(last + 1, |e| e.id()), "unknown id");
                (0, Some(0))
            }
            Some(after) => (after, Some(after)),
        };
        let session = SseSession { scopes, cursor, resume_from, next_ping: cx.now + keepalive };
        self.phase = Phase::EventStream(Box::new(session));
        self.log_takeover(cx, inflight, 200, self.wbuf.len() - before);
        // The replay is pulled in slices that respect the backlog bound, topped up as the
        // client reads; a client that never reads never costs more than the bound.
        if self.sse_pull(cx) == Status::Close {
            self.phase = Phase::Closing;
        }
    }

    fn gap_notice(&mut self, after: u64, last: u64, oldest: u64, reason: &str) {
        let data = serde_json::json!({
            "requestedAfter": after,
            "oldestAvailable": oldest,
            "lastId": last,
            "missed": oldest.saturating_sub(after).saturating_sub(1),
            "reason": reason,
        });
        sse::encode_event(&mut self.wbuf, None, Some("replay-gap"), data.to_string().as_bytes());
    }

    /// Give an SSE stream the events after its cursor straight from the ring, while its
    /// unsent output stays under `sse.max_backlog_bytes`. A stream that fell so far behind
    /// that the ring dropped events it had not been given is closed (its client reconnects
    /// with `Last-Event-ID` and is told about the gap).
    fn sse_pull(&mut self, cx: &mut Cx<'_>) -> Status {
        let bound = usize::try_from(cx.app.settings.config.gateway.sse.max_backlog_bytes).unwrap_or(usize::MAX);
        let mut batch = Vec::new();
        loop {
            let Phase::EventStream(s) = &mut self.phase else { return Status::Open };
            let last = cx.app.bus.last_id();
            if self.wbuf.len().saturating_sub(self.wpos) >= bound {
                // Not reading: once the ring cannot hold what it was not given, close it
                // (the byte cap of the ring is caught by the next pull instead).
                let ring = cx.app.settings.config.gateway.sse.ring_events as u64;
                if s.resume_from.is_none() && last.saturating_sub(s.cursor) > ring {
                    cx.app.metrics.reject(crate::metrics::Reject::SlowConsumer);
                    return Status::Close;
                }
                return Status::Open;
            }
            if s.cursor >= last {
                return Status::Open;
            }
            batch.clear();
            let missed = cx.app.bus.since_into(s.cursor, PULL_BATCH, &mut batch);
            if missed {
                match s.resume_from.take() {
                    Some(after) => {
                        let last = cx.app.bus.last_id();
                        let oldest = batch.first().map_or(last + 1, |e| e.id());
                        self.gap_notice(after, last, oldest, "evicted");
                    }
                    None => {
                        cx.app.metrics.reject(crate::metrics::Reject::SlowConsumer);
                        return Status::Close;
                    }
                }
            }
            let Phase::EventStream(s) = &mut self.phase else { return Status::Open };
            s.resume_from = None;
            if batch.is_empty() {
                return Status::Open;
            }
            for e in &batch {
                if self.wbuf.len().saturating_sub(self.wpos) >= bound {
                    return Status::Open;
                }
                if s.scopes.satisfies(e.scope()) {
                    self.wbuf.extend_from_slice(e.sse());
                }
                s.cursor = e.id();
            }
        }
    }

    /// While a stream is behind the bus and the socket takes output: pull and write.
    pub(super) fn sse_drain(&mut self, cx: &mut Cx<'_>) -> Status {
        loop {
            let before = match &self.phase {
                Phase::EventStream(s) if s.cursor < cx.app.bus.last_id() => s.cursor,
                _ => return Status::Open,
            };
            if self.pending_output() > 0 {
                // The socket is full; its next writable event brings us back.
                return Status::Open;
            }
            if self.sse_pull(cx) == Status::Close {
                return Status::Close;
            }
            if self.pending_output() == 0 {
                // Everything pulled was filtered out by scope: go on if the cursor moved.
                match &self.phase {
                    Phase::EventStream(s) if s.cursor > before => continue,
                    _ => return Status::Open,
                }
            }
            if self.flush(cx.now).is_err() {
                return Status::Close;
            }
        }
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
        match &mut self.phase {
            Phase::EventStream(s) => {
                // In step with the bus: take the shared batch. Behind it (catching up, or
                // the bound was reached): pull from the ring at its own pace.
                let in_step = events.first().is_some_and(|f| f.id() <= s.cursor.saturating_add(1));
                if !in_step {
                    return match self.sse_pull(cx) {
                        Status::Open => self.pump(cx),
                        Status::Close => Status::Close,
                    };
                }
                let bound = usize::try_from(cx.app.settings.config.gateway.sse.max_backlog_bytes).unwrap_or(usize::MAX);
                let after = s.cursor;
                for e in events.iter().filter(|e| e.id() > after) {
                    if self.wbuf.len().saturating_sub(self.wpos) >= bound {
                        break;
                    }
                    if s.scopes.satisfies(e.scope()) {
                        self.wbuf.extend_from_slice(e.sse());
                    }
                    s.cursor = e.id();
                }
                self.pump(cx)
            }
            Phase::WebSocket(_) => {
                self.ws_deliver(cx, events);
                self.pump(cx)
            }
            _ => Status::Open,
        }
    }

    /// Events as WebSocket frames, one backlog check per event (after trying to write).
    fn ws_deliver(&mut self, cx: &mut Cx<'_>, events: &[Arc<Encoded>]) {
        for e in events {
            if !self.ws_check_backlog(cx) {
                return;
            }
            let Phase::WebSocket(ws) = &mut self.phase else { return };
            // Not authenticated yet (in-band auth pending): nothing is shown.
            let Some(scopes) = ws.scopes else { return };
            if !scopes.satisfies(e.scope()) {
                continue;
            }
            if ws.kind == WsKind::LiveEvents {
                let mark = begin_frame(&mut self.wbuf);
                live_event(e, &mut self.wbuf);
                finish_frame(&mut self.wbuf, mark, OP_TEXT);
            } else {
                let (frame_name, jsonrpc_name) = crate::events::kind::ws_names(e.name());
                ws.push_event(frame_name, jsonrpc_name, e.payload(), &mut self.wbuf);
            }
        }
        self.ws_check_backlog(cx);
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
