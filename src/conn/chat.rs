//! The agent routes on their connection: parse the request, then either hand the turn to the
//! runtime and wait (reading nothing further from this connection) for the one response its
//! sink builds on the agent thread when the turn ends (`POST /api/chat`, and `POST
//! /v1/chat/completions` and `POST /v1/responses` without streaming), or stream it
//! (`GET /api/chat/stream`, and those two with `"stream": true`; see [`super::turn_stream`]).
//!
//! Guarantees: the loop only parses the request (a JSON body bounded by
//! `gateway.limits.max_body_bytes`, or the query) and queues the turn; the answer arrives as a
//! completion for this connection's token (whose generation keeps it from ever reaching a
//! later connection in the same slot). Every turn waited for ends in exactly one response: 200
//! with the reply, 502/504 with the error, or the refusal of the submit (400, 404, 503 with
//! `Retry-After`). A client that leaves before the end of a waited-for turn does not stop
//! it (its answer is dropped); one that leaves a streamed turn aborts it.

use super::{Connection, Cx, InFlight, Phase};
use crate::agent::{ChatRequest, TurnEvent, TurnResult};
use crate::error::GatewayError;
use crate::http::chat::{chat_answer, parse_chat};
use crate::http::openai;
use crate::http::openai_stream::ChunkEvents;
use crate::http::responses::{self, ResponseEvents};
use crate::http::router::RouteId;
use crate::http::turn_format::{TokenEvents, TurnFormat, parse_stream_query};
use crate::protocol::http1::Response;
use crate::workers::{Completion, Output};

/// Builds the 200 of a turn that ended normally from its result, run id and session key.
type AnswerFn = Box<dyn FnMut(&TurnResult, &str, &str) -> Response + Send>;

/// What to do with a parsed agent request.
enum Plan {
    /// Wait for the end and answer once, with this builder of the 200.
    Answer(ChatRequest, AnswerFn),
    /// Stream the turn in this format.
    Stream(ChatRequest, Box<dyn TurnFormat>),
}

fn plan(route: RouteId, body: &[u8], query: &str) -> Result<Plan, GatewayError> {
    Ok(match route {
        RouteId::V1ChatCompletions => {
            let parsed = openai::parse_completion(body)?;
            match parsed.stream {
                Some(options) => {
                    let format = ChunkEvents::new(options, parsed.request.model.as_deref());
                    Plan::Stream(parsed.request, Box::new(format))
                }
                None => Plan::Answer(parsed.request, Box::new(|r, run, _| openai::completion_answer(r, run))),
            }
        }
        RouteId::V1Responses => {
            let parsed = responses::parse(body)?;
            if parsed.stream {
                Plan::Stream(parsed.request, Box::new(ResponseEvents::new(parsed.meta)))
            } else {
                let meta = parsed.meta;
                Plan::Answer(parsed.request, Box::new(move |r, run, _| responses::answer(r, run, &meta)))
            }
        }
        RouteId::ChatStream => Plan::Stream(parse_stream_query(query)?, Box::new(TokenEvents::new())),
        _ => Plan::Answer(parse_chat(body, query)?, Box::new(chat_answer)),
    })
}

impl Connection {
    pub(super) fn agent_chat(&mut self, cx: &mut Cx<'_>, mut inflight: Box<InFlight>) {
        let body = std::mem::take(&mut inflight.body);
        let route = inflight.admitted.spec.id;
        // The seeds' routes answer in the seeds' shapes, `/v1/*` in OpenAI's (the one rule).
        let openai = openai::speaks_openai(inflight.head.path());
        let error = move |e: &GatewayError| if openai { openai::gateway_error(e) } else { e.to_response() };
        let planned = plan(route, &body, inflight.head.query().unwrap_or_default());
        let (request, mut answer) = match planned {
            Ok(Plan::Answer(request, answer)) => (request, answer),
            Ok(Plan::Stream(request, format)) => return self.start_turn_stream(cx, inflight, request, format, &error),
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
                TurnEvent::Final(result) => answer(result, &run_id, &session),
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
