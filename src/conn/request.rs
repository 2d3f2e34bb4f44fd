//! The request cycle of a connection: head → admission → body → handler → response.
//!
//! Guarantees: exactly one response per request, in request order; a request whose body
//! was not read (refused at admission, or a framing error) closes the connection after its
//! response, because the bytes that follow can no longer be framed.

use std::time::Instant;

use super::{Connection, Cx, InFlight, Phase, Status, TimerKind};
use crate::error::GatewayError;
use crate::http::{self, Admission, Outcome, router::Execution, router::RouteId};
use crate::log::RequestRecord;
use crate::metrics::Reject;
use crate::protocol::http1::{
    BodyDecoder, BodyFraming, EncodeOptions, HeadLimits, Method, ParseError, RequestHead, Response, parse_head,
    response::{CONTINUE, encode},
};
use crate::workers::{Job, Output};

/// Empty lines skipped before a request line without starting its header deadline.
const MAX_SKIPPED_BLANK_LINES: u8 = 4;

/// What a finished response is about, for logs and metrics.
struct Meta<'a> {
    route: RouteId,
    method: &'a str,
    path: &'a str,
    head_only: bool,
    keep_alive: bool,
    started: Instant,
    request_id: u64,
    client: std::net::IpAddr,
    cors_origin: Option<&'a str>,
}

impl Connection {
    /// Consume as much of `buf` as the current state allows; returns the bytes used.
    pub(super) fn advance(&mut self, cx: &mut Cx<'_>, buf: &[u8]) -> usize {
        let mut pos = 0usize;
        loop {
            if self.pending_output() >= super::WRITE_HIGH_WATER {
                self.parse_pending = true;
                return pos;
            }
            let rest = buf.get(pos..).unwrap_or_default();
            if matches!(self.phase, Phase::WebSocket(_)) {
                return pos + self.ws_input(cx, rest);
            }
            match &mut self.phase {
                Phase::Idle => {
                    // A few empty lines before a request line are ignored (RFC 9112 §2.2) and
                    // do not start the header deadline: some clients send CRLF after a body.
                    // More than that is parsed as part of the head and counts toward its limit.
                    let skipping = self.head_started.is_none() && self.blank_lines < MAX_SKIPPED_BLANK_LINES;
                    if skipping && rest.starts_with(b"\r\n") {
                        self.blank_lines += 1;
                        pos += 2;
                        continue;
                    }
                    if rest.is_empty() || (skipping && rest == b"\r") {
                        self.parse_pending = false;
                        return pos;
                    }
                    self.head_started.get_or_insert(cx.now);
                    let limits = head_limits(cx);
                    match parse_head(rest, &limits) {
                        Ok(None) => {
                            self.parse_pending = false;
                            return pos;
                        }
                        Ok(Some((head, used))) => {
                            pos += used;
                            self.head_started = None;
                            self.blank_lines = 0;
                            self.start_request(cx, head);
                        }
                        Err(e) => {
                            self.fail(cx, e.into());
                            return buf.len();
                        }
                    }
                }
                Phase::Body(inflight) => {
                    if rest.is_empty() {
                        return pos;
                    }
                    match inflight.decoder.decode(rest, &mut inflight.body) {
                        Ok(progress) => {
                            pos += progress.consumed;
                            if !progress.done {
                                return pos;
                            }
                            if let Phase::Body(inflight) = std::mem::replace(&mut self.phase, Phase::Idle) {
                                self.dispatch(cx, inflight);
                            }
                        }
                        Err(e) => {
                            let path = inflight.head.path().to_owned();
                            self.fail_as(cx, e.into(), &path);
                            return buf.len();
                        }
                    }
                }
                Phase::EventStream(_) => return buf.len(),
                Phase::Waiting(_) | Phase::TurnStream(_) | Phase::Closing | Phase::Lingering | Phase::WebSocket(_) => {
                    self.parse_pending = true;
                    return pos;
                }
            }
        }
    }

    fn start_request(&mut self, cx: &mut Cx<'_>, head: RequestHead) {
        *cx.request_seq += 1;
        let request_id = *cx.request_seq;
        let started = cx.now;
        let admitted = match http::admit(cx.app, &head, self.peer.ip(), cx.now) {
            Admission::Proceed(a) => a,
            Admission::Respond { route, response, error, client_ip } => {
                let body_follows = head.framing != BodyFraming::None;
                let closes = body_follows || error.as_ref().is_some_and(GatewayError::closes_connection);
                let meta = Meta {
                    route,
                    method: head.method_str(),
                    path: head.path(),
                    head_only: head.method == Method::Head,
                    keep_alive: head.keep_alive && !closes,
                    started,
                    request_id,
                    client: client_ip,
                    cors_origin: None,
                };
                self.respond(cx, &meta, &response);
                return;
            }
        };
        let max_body = admitted.body_cap.unwrap_or(cx.app.settings.limits.max_body_bytes);
        let decoder = match head.framing {
            BodyFraming::None => BodyDecoder::Length { remaining: 0 },
            BodyFraming::Length(n) => match BodyDecoder::length(n, max_body) {
                Ok(d) => d,
                Err(e) => {
                    // 413 before a single body byte is read, and no 100 Continue was sent.
                    if let Execution::Ingest(channel) = admitted.spec.execution {
                        cx.app.ingest_stats.rejected(channel, "body_too_large");
                    }
                    self.fail_request(cx, &head, admitted.client_ip, started, request_id, e);
                    return;
                }
            },
            BodyFraming::Chunked => BodyDecoder::chunked(max_body, cx.app.settings.limits.max_header_bytes),
        };
        let inflight = Box::new(InFlight { body: Vec::new(), head, admitted, decoder, started, request_id });
        if inflight.head.framing == BodyFraming::None {
            self.dispatch(cx, inflight);
            return;
        }
        if inflight.head.expect_continue {
            self.wbuf.extend_from_slice(CONTINUE);
        }
        self.phase = Phase::Body(inflight);
    }

    fn dispatch(&mut self, cx: &mut Cx<'_>, mut inflight: Box<InFlight>) {
        match inflight.admitted.spec.execution {
            Execution::WebSocket(kind) => return self.upgrade(cx, inflight, kind),
            Execution::EventStream => return self.start_event_stream(cx, &inflight),
            Execution::Ingest(channel) => return self.ingest(cx, inflight, channel),
            Execution::Agent => return self.agent_chat(cx, inflight),
            Execution::Embeddings => return self.embeddings(cx, inflight),
            Execution::Inline | Execution::Worker => {}
        }
        let body = std::mem::take(&mut inflight.body);
        match http::handle(cx.app, &inflight.admitted, &inflight.head, body) {
            Outcome::Respond(response) => self.finish(cx, &inflight, &response),
            Outcome::Defer(work) => {
                let job = Job { token: self.token, work, reply: cx.reply.clone() };
                if cx.app.pool.submit(job).is_err() {
                    cx.app.metrics.reject(Reject::Overloaded);
                    let response = GatewayError::Overloaded { what: "worker queue" }.to_response();
                    self.finish(cx, &inflight, &response);
                } else {
                    self.phase = Phase::Waiting(inflight);
                }
            }
        }
    }

    /// A worker finished the request this connection is waiting on.
    pub fn on_completion(&mut self, cx: &mut Cx<'_>, output: Output) -> Status {
        if let Output::Stream { bytes, end } = &output {
            return match self.phase {
                Phase::TurnStream(_) => self.turn_stream_piece(cx, bytes, *end),
                Phase::WebSocket(_) => {
                    self.ws_turn_piece(cx, bytes, *end);
                    self.pump(cx)
                }
                // The stream's connection moved on (closing after an error): nothing to add.
                _ => Status::Open,
            };
        }
        if matches!(self.phase, Phase::WebSocket(_)) {
            self.ws_completion(cx, output);
            return self.pump(cx);
        }
        let response = match output {
            Output::Http(r) => r,
            Output::Rpc { .. } | Output::Stream { .. } | Output::Panicked => {
                GatewayError::Internal("handler panicked".into()).to_response()
            }
        };
        let response = &response;
        if !matches!(self.phase, Phase::Waiting(_)) {
            // Nothing is waiting for it (cannot happen while tokens carry generations, since a
            // connection that stops waiting is closed); leave the connection as it is.
            return Status::Open;
        }
        let Phase::Waiting(inflight) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return Status::Open;
        };
        self.finish(cx, &inflight, response);
        self.parse_pending = true;
        self.pump(cx)
    }

    pub(super) fn finish(&mut self, cx: &mut Cx<'_>, inflight: &InFlight, response: &Response) {
        let head = &inflight.head;
        let meta = Meta {
            route: inflight.admitted.spec.id,
            method: head.method_str(),
            path: head.path(),
            head_only: head.method == Method::Head,
            keep_alive: head.keep_alive,
            started: inflight.started,
            request_id: inflight.request_id,
            client: inflight.admitted.client_ip,
            cors_origin: inflight.admitted.cors_origin.as_deref(),
        };
        self.respond(cx, &meta, response);
    }

    /// Encode, count and log one response; choose keep-alive or close.
    fn respond(&mut self, cx: &mut Cx<'_>, meta: &Meta<'_>, response: &Response) {
        self.served += 1;
        let limits = &cx.app.settings.limits;
        let keep_alive = meta.keep_alive
            && !self.drain
            && !self.read_closed
            && !cx.app.shutting_down()
            && self.served < limits.max_requests_per_connection;
        let before = self.wbuf.len();
        if self.pending_output() == 0 {
            // The write deadline measures stalls of this output, not time since the last one.
            self.last_write = cx.now;
        }
        let opts = EncodeOptions { head_only: meta.head_only, keep_alive, date: cx.date };
        match meta.cors_origin {
            Some(origin) => {
                let mut r = response.clone();
                crate::http::cors::decorate(&mut r, origin);
                encode(&r, opts, &mut self.wbuf);
            }
            None => encode(response, opts, &mut self.wbuf),
        }
        let latency = Instant::now().saturating_duration_since(meta.started);
        cx.app.metrics.request(meta.route, response.status, latency);
        cx.log.request(
            &cx.app.logger,
            &RequestRecord {
                request_id: meta.request_id,
                method: meta.method,
                path: meta.path,
                status: response.status,
                bytes: self.wbuf.len() - before,
                duration_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                client: meta.client,
            },
        );
        self.idle_since = cx.now;
        self.phase = if keep_alive { Phase::Idle } else { Phase::Closing };
    }

    /// A framing error or timeout: answer once and close.
    pub(super) fn fail(&mut self, cx: &mut Cx<'_>, error: GatewayError) {
        self.fail_as(cx, error, "");
    }

    /// [`Self::fail`] for a request to `path`, whose errors may have their own shape
    /// ([`crate::http::openai::error_response_for`]).
    fn fail_as(&mut self, cx: &mut Cx<'_>, error: GatewayError, path: &str) {
        cx.app.metrics.reject(reject_reason(&error));
        *cx.request_seq += 1;
        let meta = Meta {
            route: RouteId::Invalid,
            method: "-",
            path: "-",
            head_only: false,
            keep_alive: false,
            started: cx.now,
            request_id: *cx.request_seq,
            client: self.peer.ip(),
            cors_origin: None,
        };
        self.rbuf = Vec::new();
        self.respond(cx, &meta, &crate::http::openai::error_response_for(path, &error));
    }

    fn fail_request(
        &mut self,
        cx: &mut Cx<'_>,
        head: &RequestHead,
        client: std::net::IpAddr,
        started: Instant,
        request_id: u64,
        e: ParseError,
    ) {
        let error = GatewayError::Parse(e);
        cx.app.metrics.reject(reject_reason(&error));
        let meta = Meta {
            route: RouteId::Invalid,
            method: head.method_str(),
            path: head.path(),
            head_only: head.method == Method::Head,
            keep_alive: false,
            started,
            request_id,
            client,
            cors_origin: None,
        };
        self.respond(cx, &meta, &crate::http::openai::error_response_for(head.path(), &error));
    }

    /// A deadline passed. Returns whether the connection survives.
    pub fn on_timeout(&mut self, cx: &mut Cx<'_>, kind: TimerKind) -> Status {
        match kind {
            TimerKind::Header | TimerKind::BodyIdle => {
                let got_bytes = !self.rbuf.is_empty() || matches!(self.phase, Phase::Body(_));
                if self.pending_output() > 0 || !got_bytes {
                    if kind == TimerKind::Header && self.served == 0 {
                        cx.app.metrics.reject(Reject::HeaderTimeout);
                    }
                    return Status::Close;
                }
                let error =
                    if kind == TimerKind::Header { GatewayError::HeaderTimeout } else { GatewayError::BodyTimeout };
                self.phase = Phase::Idle;
                self.fail(cx, error);
                self.pump(cx)
            }
            TimerKind::Write => {
                cx.app.metrics.reject(Reject::WriteTimeout);
                Status::Close
            }
            TimerKind::KeepAlive | TimerKind::Linger => Status::Close,
            TimerKind::WebSocket => self.ws_on_timer(cx),
            TimerKind::EventStream => self.sse_on_timer(cx),
            TimerKind::TurnStream => self.turn_stream_on_timer(cx),
        }
    }
}

fn head_limits(cx: &Cx<'_>) -> HeadLimits {
    let l = &cx.app.settings.limits;
    HeadLimits {
        max_request_line_bytes: l.max_request_line_bytes,
        max_header_bytes: l.max_header_bytes,
        max_headers: l.max_headers,
    }
}

fn reject_reason(e: &GatewayError) -> Reject {
    match e {
        GatewayError::Parse(ParseError::BodyTooLarge) => Reject::BodyTooLarge,
        GatewayError::HeaderTimeout => Reject::HeaderTimeout,
        GatewayError::BodyTimeout => Reject::BodyTimeout,
        _ => Reject::ParseError,
    }
}
