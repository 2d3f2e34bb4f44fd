//! clawgo's `/api/chat/live` on its WebSocket: each text message starts an agent turn whose
//! `chat_chunk` / `chat_done` / `chat_error` frames the turn's sink formats on the agent
//! thread and sends back as [`Output::Stream`](crate::workers::Output::Stream) pieces.
//!
//! Guarantees: one turn at a time per socket: a message that arrives while one is being
//! answered gets a `chat_error` (`busy`) at once and starts nothing, so a client never sees
//! two replies interleaved. A message that is not JSON gets `chat_error` `invalid json` and
//! the socket stays open. The socket owns a [`TurnGuard`](super::turn_stream::TurnGuard) for
//! its running turn: however it closes, the turn is aborted (it ends `aborted` in the store).

use super::turn_stream::{TurnGuard, frame_sink};
use super::{Connection, Cx, Phase};
use crate::error::GatewayError;
use crate::http::chat_live::{self, LiveFrames};
use crate::protocol::websocket::{OP_TEXT, write_frame};

impl Connection {
    /// A client message on a live chat socket (a binary one arrives as `""`: not JSON).
    pub(super) fn live_chat_text(&mut self, cx: &mut Cx<'_>, text: &str) {
        let Phase::WebSocket(ws) = &mut self.phase else { return };
        let request = match chat_live::parse(text) {
            Ok(r) => r,
            Err(frame) => return write_frame(&mut self.wbuf, OP_TEXT, &frame),
        };
        if ws.turn.is_some() {
            let busy = "busy: the previous message is still being answered on this connection";
            let frame = chat_live::error_frame(busy, Some(&request.session_key));
            return write_frame(&mut self.wbuf, OP_TEXT, &frame);
        }
        let session = if request.session_key.is_empty() {
            crate::agent::turn_types::DEFAULT_SESSION_KEY.to_owned()
        } else {
            request.session_key.clone()
        };
        let sink = frame_sink(Box::new(LiveFrames::new(&session)), cx.reply.clone(), self.token);
        match cx.app.agent.submit(request, sink) {
            Ok(submitted) => ws.turn = Some(TurnGuard::new(submitted.abort)),
            Err(e) => {
                if matches!(e, GatewayError::Overloaded { .. } | GatewayError::SessionBusy { .. }) {
                    cx.app.metrics.reject(crate::metrics::Reject::Overloaded);
                }
                write_frame(&mut self.wbuf, OP_TEXT, &chat_live::error_frame(&e.message(), Some(&session)));
            }
        }
    }

    /// The next piece of this socket's turn (a whole frame, or nothing at the end).
    pub(super) fn ws_turn_piece(&mut self, cx: &mut Cx<'_>, bytes: &[u8], end: bool) {
        let Phase::WebSocket(ws) = &mut self.phase else { return };
        if end && let Some(mut guard) = ws.turn.take() {
            guard.ended();
        }
        // After our close frame nothing more may be sent.
        if ws.ctx.can_write() {
            self.wbuf.extend_from_slice(bytes);
        }
        self.ws_check_backlog(cx);
    }
}
