//! An agent turn streamed on its HTTP connection (`GET /api/chat/stream`, `POST
//! /v1/chat/completions` and `POST /v1/responses` with `"stream": true`): a chunked
//! `text/event-stream` response whose pieces the turn's sink formats on the agent thread.
//!
//! Guarantees:
//! - The head goes out only once the runtime accepted the turn; a refused submit is an
//!   ordinary JSON error response.
//! - Each piece of the turn is one chunk, appended in the order the agent thread sent it
//!   (one thread runs a turn, one channel carries its pieces); the last piece ends with the
//!   zero-length chunk, the request is then counted and logged, and the connection serves its
//!   next request (pipelined input waits meanwhile, in order) or closes when it must.
//! - A client that goes away (EOF, reset, write error) or stops reading until its unsent
//!   output passes `gateway.sse.max_backlog_bytes` aborts the turn: the phase owns a
//!   [`TurnGuard`], and dropping the phase in any way without the turn's end aborts it (the
//!   turn then ends `aborted` in the store, its partial text kept).
//! - During long silences (a model thinking) a `: ping` comment goes out every
//!   `gateway.sse.keepalive_ms`; clients and the SDKs ignore comments.
//! - Graceful shutdown aborts the turn, so the stream ends (with the surface's error event)
//!   well within the grace period.

use std::time::{Duration, Instant};

use super::{Connection, Cx, InFlight, Phase, Status};
use crate::agent::providers::AbortHandle;
use crate::agent::{ChatRequest, TurnEvent, TurnSink};
use crate::error::GatewayError;
use crate::http::turn_format::TurnFormat;
use crate::protocol::http1::response::{LAST_CHUNK, encode_chunk, encode_chunked_head};
use crate::protocol::http1::{EncodeOptions, Response};
use crate::workers::{Completion, Output, ReplyTo};

/// The keep-alive comment, as one chunk.
const PING_CHUNK: &[u8] = b"8\r\n: ping\n\n\r\n";

/// Aborts a turn when dropped, unless the turn ended first ([`TurnGuard::ended`]).
#[derive(Debug)]
pub struct TurnGuard(Option<AbortHandle>);

impl TurnGuard {
    /// Guard the turn `abort` stops.
    #[must_use]
    pub fn new(abort: AbortHandle) -> Self {
        Self(Some(abort))
    }

    /// The turn ended: nothing to abort any more.
    pub fn ended(&mut self) {
        self.0 = None;
    }

    /// Abort now (the turn still reports its end, which ends the stream).
    pub fn abort(&self) {
        if let Some(a) = &self.0 {
            a.abort();
        }
    }
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        self.abort();
    }
}

/// The state of one streamed turn.
#[derive(Debug)]
pub struct TurnStream {
    inflight: Box<InFlight>,
    guard: TurnGuard,
    keep_alive: bool,
    next_ping: Instant,
    bytes: usize,
}

/// A sink that formats each event with `format` and sends it to the connection `token` as
/// one HTTP chunk (the last one followed by the zero-length chunk).
pub fn chunked_sink(mut format: Box<dyn TurnFormat>, reply: ReplyTo, token: usize) -> TurnSink {
    let mut piece = Vec::new();
    Box::new(move |event: TurnEvent<'_>| {
        let end = event.is_end();
        piece.clear();
        format.write(event, &mut piece);
        let mut bytes = Vec::with_capacity(piece.len() + 16);
        encode_chunk(&mut bytes, &piece);
        if end {
            bytes.extend_from_slice(LAST_CHUNK);
        }
        if !bytes.is_empty() {
            reply.send(Completion { token, output: Output::Stream { bytes, end } });
        }
    })
}

/// A sink that sends each formatted event to the connection `token` as one WebSocket text
/// frame.
pub fn frame_sink(mut format: Box<dyn TurnFormat>, reply: ReplyTo, token: usize) -> TurnSink {
    let mut piece = Vec::new();
    Box::new(move |event: TurnEvent<'_>| {
        let end = event.is_end();
        piece.clear();
        format.write(event, &mut piece);
        let mut bytes = Vec::new();
        if !piece.is_empty() {
            crate::protocol::websocket::write_frame(&mut bytes, crate::protocol::websocket::OP_TEXT, &piece);
        }
        if end || !bytes.is_empty() {
            reply.send(Completion { token, output: Output::Stream { bytes, end } });
        }
    })
}

impl Connection {
    /// Submit `request` with its events formatted by `format`; on acceptance write the
    /// stream's head and wait for its pieces, else answer `error` of the refusal.
    pub(super) fn start_turn_stream(
        &mut self,
        cx: &mut Cx<'_>,
        inflight: Box<InFlight>,
        request: ChatRequest,
        format: Box<dyn TurnFormat>,
        error: &dyn Fn(&GatewayError) -> Response,
    ) {
        let sink = chunked_sink(format, cx.reply.clone(), self.token);
        let submitted = match cx.app.agent.submit(request, sink) {
            Ok(s) if !s.duplicate => s,
            // No surface that streams sends an idempotency key, so this cannot happen; if it
            // did, the sink would never run and the stream never end.
            Ok(_) => {
                let e = GatewayError::InvalidParams("a repeated idempotency key cannot be streamed".into());
                return self.finish(cx, &inflight, &error(&e));
            }
            Err(e) => {
                if matches!(e, GatewayError::Overloaded { .. } | GatewayError::SessionBusy { .. }) {
                    cx.app.metrics.reject(crate::metrics::Reject::Overloaded);
                }
                return self.finish(cx, &inflight, &error(&e));
            }
        };
        let limits = &cx.app.settings.limits;
        let keep_alive = inflight.head.keep_alive
            && !self.drain
            && !self.read_closed
            && !cx.app.shutting_down()
            && self.served + 1 < limits.max_requests_per_connection;
        let mut head = Response::new(200, "text/event-stream; charset=utf-8", Vec::new());
        head.push_header("Cache-Control", "no-cache");
        head.push_header("X-Accel-Buffering", "no");
        if let Some(origin) = &inflight.admitted.cors_origin {
            crate::http::cors::decorate(&mut head, origin);
        }
        if self.pending_output() == 0 {
            self.last_write = cx.now;
        }
        let before = self.wbuf.len();
        encode_chunked_head(&head, EncodeOptions { head_only: false, keep_alive, date: cx.date }, &mut self.wbuf);
        let bytes = self.wbuf.len() - before;
        let next_ping = cx.now + keepalive(cx);
        let guard = TurnGuard::new(submitted.abort);
        self.phase = Phase::TurnStream(Box::new(TurnStream { inflight, guard, keep_alive, next_ping, bytes }));
    }

    /// The next piece of the streamed turn.
    pub(super) fn turn_stream_piece(&mut self, cx: &mut Cx<'_>, bytes: &[u8], end: bool) -> Status {
        let Phase::TurnStream(stream) = &mut self.phase else { return Status::Open };
        self.wbuf.extend_from_slice(bytes);
        stream.bytes += bytes.len();
        stream.next_ping = cx.now + keepalive(cx);
        if end {
            stream.guard.ended();
            let Phase::TurnStream(stream) = std::mem::replace(&mut self.phase, Phase::Idle) else {
                return Status::Open;
            };
            let TurnStream { inflight, keep_alive, bytes, .. } = *stream;
            self.log_takeover(cx, &inflight, 200, bytes);
            self.idle_since = cx.now;
            self.phase = if keep_alive && !self.drain { Phase::Idle } else { Phase::Closing };
            self.parse_pending = true;
            return self.pump(cx);
        }
        if self.flush(cx.now).is_err() {
            return Status::Close;
        }
        let bound = usize::try_from(cx.app.settings.config.gateway.sse.max_backlog_bytes).unwrap_or(usize::MAX);
        if self.pending_output() > bound {
            // The client does not read: stop the turn rather than hold its whole reply.
            cx.app.metrics.reject(crate::metrics::Reject::SlowConsumer);
            return Status::Close;
        }
        Status::Open
    }

    /// Abort the turn (graceful shutdown); its end still comes and ends the stream.
    pub(super) fn turn_stream_abort(&self) {
        if let Phase::TurnStream(stream) = &self.phase {
            stream.guard.abort();
        }
    }

    /// When the next keep-alive comment is due.
    pub(super) fn turn_stream_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::TurnStream(s) => Some(s.next_ping),
            _ => None,
        }
    }

    /// Send `: ping` when due.
    pub(super) fn turn_stream_on_timer(&mut self, cx: &mut Cx<'_>) -> Status {
        let every = keepalive(cx);
        if let Phase::TurnStream(s) = &mut self.phase
            && cx.now >= s.next_ping
        {
            s.next_ping = cx.now + every;
            s.bytes += PING_CHUNK.len();
            self.wbuf.extend_from_slice(PING_CHUNK);
        }
        self.pump(cx)
    }
}

fn keepalive(cx: &Cx<'_>) -> Duration {
    Duration::from_millis(cx.app.settings.config.gateway.sse.keepalive_ms.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ping_chunk_is_one_well_framed_comment() {
        let mut framed = Vec::new();
        encode_chunk(&mut framed, b": ping\n\n");
        assert_eq!(framed, PING_CHUNK);
    }
}
