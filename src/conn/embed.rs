//! `POST /v1/embeddings` on its connection: parse the body, choose the model, and hand the
//! work to the pool that must run it; the answer comes back as a completion for this
//! connection's token.
//!
//! Guarantees: the loop only parses the JSON body (bounded by `gateway.limits.max_body_bytes`)
//! and checks it; vectors are never computed here. The built-in model runs on the worker pool,
//! a forwarded call on the embeddings pool (`crate::embed`). Every request ends in exactly one
//! response, always in OpenAI's error shape when it is an error: 400 / 404 at once, 503 with
//! `Retry-After` when the chosen pool's queue is full, 502 / 504 from the upstream.

use super::{Connection, Cx, InFlight, Phase};
use crate::embed::Target;
use crate::embed::wire::parse_request;
use crate::error::GatewayError;
use crate::http::openai::gateway_error;
use crate::metrics::Reject;
use crate::protocol::http1::Response;
use crate::workers::{Job, Output};

impl Connection {
    pub(super) fn embeddings(&mut self, cx: &mut Cx<'_>, mut inflight: Box<InFlight>) {
        let body = std::mem::take(&mut inflight.body);
        let call = match parse_request(&body).and_then(|r| cx.app.embeddings.prepare(r)) {
            Ok(call) => call,
            Err(e) => return self.finish(cx, &inflight, &gateway_error(&e)),
        };
        let target = call.target();
        let work = Box::new(move || {
            Output::Http(match call.run() {
                Ok(body) => Response::json(200, body),
                Err(e) => gateway_error(&e),
            })
        });
        let job = Job { token: self.token, work, reply: cx.reply.clone() };
        let (submitted, what) = match target {
            Target::Builtin => (cx.app.pool.submit(job), "worker queue"),
            Target::Upstream => (cx.app.embeddings.submit_upstream(job), "embeddings upstream queue"),
        };
        if submitted.is_err() {
            cx.app.metrics.reject(Reject::Overloaded);
            self.finish(cx, &inflight, &gateway_error(&GatewayError::Overloaded { what }));
        } else {
            self.phase = Phase::Waiting(inflight);
        }
    }
}
