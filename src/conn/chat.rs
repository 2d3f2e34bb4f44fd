//! `POST /api/chat` and `POST /v1/chat/completions` on their connection: parse the body, hand
//! the turn to the agent runtime, and wait (reading nothing further from this connection) for
//! the response its sink builds on the agent thread when the turn ends.
//!
//! Guarantees: the loop only parses the JSON body (bounded by `gateway.limits.max_body_bytes`)
//! and queues the turn; the answer arrives as a completion for this connection's token (whose
//! generation keeps it from ever reaching a later connection in the same slot). Every turn
//! ends in exactly one response: 200 with the reply, 502/504 with the error, or the refusal
//! of the submit (400, 404, 503 with `Retry-After`). A client that leaves before the end does
//! not stop the turn; its answer is dropped.

use super::{Connection, Cx, InFlight, Phase};
use crate::agent::TurnEvent;
use crate::error::GatewayError;
use crate::http::chat::{chat_answer, parse_chat};
use crate::http::openai;
use crate::http::router::RouteId;
use crate::workers::{Completion, Output};

impl Connection {
    pub(super) fn agent_chat(&mut self, cx: &mut Cx<'_>, mut inflight: Box<InFlight>) {
        let body = std::mem::take(&mut inflight.body);
        // `POST /api/chat` answers in the seeds' shapes, `POST /v1/chat/completions` in OpenAI's.
        let openai = inflight.admitted.spec.id == RouteId::V1ChatCompletions;
        let error = move |e: &GatewayError| if openai { openai::gateway_error(e) } else { e.to_response() };
        let parsed = if openai {
            openai::parse_completion(&body)
        } else {
            parse_chat(&body, inflight.head.query().unwrap_or_default())
        };
        let request = match parsed {
            Ok(r) => r,
            Err(e) => return self.finish(cx, &inflight, &error(&e)),
        };
        let (reply_to, token) = (cx.reply.clone(), self.token);
        // The run id and the session key as the runtime normalised it, from `Started` (which
        // always comes before `Final`).
        let (mut run_id, mut session) = (String::new(), String::new());
        let sink = Box::new(move |event: TurnEvent<'_>| {
            let response = match event {
                TurnEvent::Started { run_id: id, session_key, .. } => {
                    id.clone_into(&mut run_id);
                    session_key.clone_into(&mut session);
                    return;
                }
                TurnEvent::Delta { .. } | TurnEvent::ToolCall(_) => return,
                TurnEvent::Final(result) if openai => openai::completion_answer(result, &run_id),
                TurnEvent::Final(result) => chat_answer(result, &run_id, &session),
                TurnEvent::Aborted { .. } => {
                    error(&GatewayError::AgentTurn { kind: "aborted".into(), message: "the turn was aborted".into() })
                }
                TurnEvent::Error { kind, message } => {
                    error(&GatewayError::AgentTurn { kind: kind.to_owned(), message: message.to_owned() })
                }
            };
            reply_to.send(Completion { token, output: Output::Http(response) });
        });
        match cx.app.agent.submit(request, sink) {
            Ok(_) => self.phase = Phase::Waiting(inflight),
            Err(e) => {
                if matches!(e, GatewayError::Overloaded { .. } | GatewayError::SessionBusy { .. }) {
                    cx.app.metrics.reject(crate::metrics::Reject::Overloaded);
                }
                self.finish(cx, &inflight, &error(&e));
            }
        }
    }
}
