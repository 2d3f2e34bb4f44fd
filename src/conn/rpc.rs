//! RPC over a WebSocket connection: hello on open, frames to the registry (inline or on the
//! worker pool), replies and keep-alive ticks back as text frames.
//!
//! Guarantees: frames of one socket are answered in order: while a frame runs on the worker
//! pool, or a single `agent.execute` waits for its turn's sink (which hands the reply back as
//! a completion, so no thread waits for the turn), no further input of that socket is read (TCP pushes back on the client), and a full
//! worker queue is answered with an overload error (-32004 / `UNAVAILABLE`), never queued
//! without bound.

use std::sync::Arc;

use super::{Connection, Cx, Phase};
use crate::error::GatewayError;
use crate::http::router::WsKind;
use crate::protocol::jsonrpc::{encode_event, encode_notification, encode_result};
use crate::protocol::websocket::{OP_TEXT, begin_frame, finish_frame, write_frame};
use crate::rpc::{self, Ctx, dispatch};
use crate::workers::{Completion, Job, Output};

impl super::ws::WsSession {
    /// Append one server push as a text frame: an `event` frame with this socket's next `seq`,
    /// or, on a JSON-RPC socket, a notification named `jsonrpc_name`.
    pub(super) fn push_event(&mut self, name: &str, jsonrpc_name: &str, payload: &[u8], out: &mut Vec<u8>) {
        let mark = begin_frame(out);
        if self.prefers_jsonrpc {
            encode_notification(jsonrpc_name, payload, out);
        } else {
            self.event_seq += 1;
            encode_event(name, self.event_seq, payload, out);
        }
        finish_frame(out, mark, OP_TEXT);
    }
}

impl Connection {
    /// The socket is open: greet it according to its kind.
    pub(super) fn ws_opened(&mut self, cx: &mut Cx<'_>) {
        if self.is_subscriber() {
            self.subscribe(cx);
        }
        let Phase::WebSocket(ws) = &mut self.phase else { return };
        match ws.kind {
            WsKind::Rpc => {
                let ctx = Ctx { app: cx.app, conn_id: ws.id, scopes: ws.scopes, client: ws.client };
                let hello = serde_json::to_vec(&rpc::hello_payload(&ctx)).unwrap_or_default();
                ws.push_event("hello-ok", "hello-ok", &hello, &mut self.wbuf);
            }
            WsKind::LiveEvents => write_frame(&mut self.wbuf, OP_TEXT, br#"{"type":"ready"}"#),
            WsKind::LiveLogs | WsKind::LiveChat | WsKind::Echo => {}
        }
    }

    /// A text message on an RPC socket.
    pub(super) fn rpc_text(&mut self, cx: &mut Cx<'_>, text: &str) {
        let Phase::WebSocket(ws) = &mut self.phase else { return };
        let mut ctx = Ctx { app: cx.app, conn_id: ws.id, scopes: ws.scopes, client: ws.client };
        let inbound = dispatch::decode_frame(&ctx, text);
        if let Some(call) = dispatch::deferred_call(&inbound) {
            let (dialect, id) = (call.dialect, call.id.map(ToOwned::to_owned));
            let scopes = ws.scopes;
            let started = rpc::find(&call.method)
                .ok_or_else(|| GatewayError::UnknownMethod(call.method.to_string()))
                .and_then(|m| rpc::authorize(m, scopes))
                .and_then(|()| rpc::chat::execute_request(call.params));
            let (reply_to, token) = (cx.reply.clone(), self.token);
            let done: rpc::chat::ExecuteDone = Box::new(move |answer| {
                let mut reply = Vec::new();
                match answer {
                    Ok(payload) => encode_result(dialect, id.as_deref(), &payload, &mut reply),
                    Err(e) => dispatch::write_error(dialect, id.as_deref(), &e, &mut reply),
                }
                reply_to.send(Completion { token, output: Output::Rpc { reply, scopes } });
            });
            // A refused submit drops the sink unrun (and `done` with it); the refusal is
            // answered here at once instead.
            let submitted =
                started.and_then(|request| cx.app.agent.submit(request, rpc::chat::execute_sink(done)).map(|_| ()));
            match submitted {
                Ok(()) => ws.waiting = true,
                Err(e) => {
                    let mut reply = Vec::new();
                    dispatch::write_error(call.dialect, call.id, &e, &mut reply);
                    write_frame(&mut self.wbuf, OP_TEXT, &reply);
                }
            }
            return;
        }
        if !dispatch::needs_worker(&inbound) {
            let reply = dispatch::run_frame(&mut ctx, inbound, ws.prefers_jsonrpc);
            ws.scopes = ctx.scopes;
            if !reply.is_empty() {
                write_frame(&mut self.wbuf, OP_TEXT, &reply);
            }
            return;
        }
        // The worker decodes its own copy: the decoded frame borrows from this one.
        let app = Arc::clone(cx.app);
        let (conn_id, scopes, prefers, client) = (ws.id, ws.scopes, ws.prefers_jsonrpc, ws.client);
        let text = text.to_owned();
        let work = Box::new(move || {
            let mut ctx = Ctx { app: &app, conn_id, scopes, client };
            let inbound = dispatch::decode_frame(&ctx, &text);
            let reply = dispatch::run_frame(&mut ctx, inbound, prefers);
            Output::Rpc { reply, scopes: ctx.scopes }
        });
        if cx.app.pool.submit(Job { token: self.token, work, reply: cx.reply.clone() }).is_err() {
            cx.app.metrics.reject(crate::metrics::Reject::Overloaded);
            self.rpc_error_reply(cx, &GatewayError::Overloaded { what: "worker queue" });
        } else {
            ws.waiting = true;
        }
    }

    /// An error that belongs to no request (rate limit, binary frame): id `null`, the
    /// socket's preferred dialect.
    pub(super) fn rpc_error_reply(&mut self, _cx: &mut Cx<'_>, error: &GatewayError) {
        let Phase::WebSocket(ws) = &self.phase else { return };
        let dialect = dispatch::preferred(ws.prefers_jsonrpc);
        let mark = begin_frame(&mut self.wbuf);
        dispatch::write_error(dialect, None, error, &mut self.wbuf);
        finish_frame(&mut self.wbuf, mark, OP_TEXT);
    }

    /// The keep-alive `tick` event (`heartbeat` notification for JSON-RPC sockets).
    pub(super) fn ws_tick(&mut self) {
        let Phase::WebSocket(ws) = &mut self.phase else { return };
        if ws.kind != WsKind::Rpc {
            return;
        }
        let mut payload = Vec::with_capacity(24);
        payload.extend_from_slice(b"{\"ts\":");
        crate::protocol::http1::response::push_u64(&mut payload, crate::app::unix_ms());
        payload.push(b'}');
        // Comis's JSON-RPC clients know the keep-alive as `heartbeat`, OpenClaw's as `tick`.
        ws.push_event("tick", "heartbeat", &payload, &mut self.wbuf);
    }

    /// A worker finished the frame this socket was waiting on.
    pub(super) fn ws_completion(&mut self, cx: &mut Cx<'_>, output: Output) {
        let Phase::WebSocket(ws) = &mut self.phase else { return };
        ws.waiting = false;
        match output {
            Output::Rpc { reply, scopes } => {
                ws.scopes = scopes;
                if !reply.is_empty() {
                    write_frame(&mut self.wbuf, OP_TEXT, &reply);
                }
            }
            Output::Http(_) | Output::Stream { .. } | Output::Panicked => {
                let dialect = dispatch::preferred(ws.prefers_jsonrpc);
                let mut reply = Vec::new();
                let e = GatewayError::Internal("RPC handler panicked".into());
                dispatch::write_error(dialect, None, &e, &mut reply);
                write_frame(&mut self.wbuf, OP_TEXT, &reply);
            }
        }
        self.parse_pending = true;
        self.ws_check_backlog(cx);
    }
}
