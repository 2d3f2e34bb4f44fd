//! A webhook request on its connection: run the ingestion decision inline, hand a delivery to
//! the store, and wait (without reading further requests) for the store writer's answer.
//!
//! Guarantees: the 2xx of a stored delivery is produced only by the store's acknowledgement,
//! which comes after the commit (and, with `ingest.ack: durable`, after the sync); a full
//! store queue (by count, or by `ingest.max_queued_bytes` of bodies) or a fail-stopped store
//! is answered 503 with `Retry-After`, never 2xx; refused
//! senders that proved nothing are charged to the per-IP limiter, verified ones never are.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::{Connection, Cx, InFlight, Phase};
use crate::app::{App, unix_ms};
use crate::auth::limiter::Verdict;
use crate::auth::{AuthOutcome, Scope};
use crate::config::ingest::AckPolicy;
use crate::error::GatewayError;
use crate::metrics::Reject;
use crate::store::{Appended, StoreError};
use crate::webhook::Channel;
use crate::webhook::ingest::{Decision, Reply, Unsigned, decide, stored_reply};
use crate::workers::{Completion, Output};

impl Connection {
    pub(super) fn ingest(&mut self, cx: &mut Cx<'_>, mut inflight: Box<InFlight>, channel: Channel) {
        let app = cx.app;
        let body = std::mem::take(&mut inflight.body);
        let unsigned = || unsigned_sender(app, &inflight, cx.now);
        let decision = decide(&app.settings.ingest, channel, &inflight.head, body, unix_ms(), &unsigned);
        match decision {
            Decision::Respond(response) => {
                app.ingest_stats.challenge(channel);
                self.finish(cx, &inflight, &response);
            }
            Decision::Refuse { error, reason, unverified } => {
                app.ingest_stats.rejected(channel, reason);
                app.metrics.reject(Reject::WebhookRefused);
                let error = if unverified { self.charge_limiter(cx, &inflight).unwrap_or(error) } else { error };
                self.finish(cx, &inflight, &error.to_response());
            }
            Decision::Store { delivery, reply, verified } => {
                if !verified && let Some(limited) = self.charge_limiter(cx, &inflight) {
                    app.ingest_stats.rejected(channel, "rate_limited");
                    self.finish(cx, &inflight, &limited.to_response());
                    return;
                }
                let bytes = delivery.body.len() as u64;
                let queued = app.ingest_queued_bytes.fetch_add(bytes, Relaxed) + bytes;
                if queued > app.settings.ingest.max_queued_bytes {
                    app.ingest_queued_bytes.fetch_sub(bytes, Relaxed);
                    app.ingest_stats.rejected(channel, "inbox_full");
                    app.metrics.reject(Reject::InboxUnavailable);
                    let error = GatewayError::Overloaded { what: "webhook inbox queue" };
                    self.finish(cx, &inflight, &error.to_response());
                    return;
                }
                let ack = acknowledgement(Arc::clone(app), cx.reply.clone(), self.token, channel, reply, bytes);
                match app.store.submit(delivery, ack) {
                    Ok(()) => self.phase = Phase::Waiting(inflight),
                    Err((_, _, e)) => {
                        app.ingest_queued_bytes.fetch_sub(bytes, Relaxed);
                        let error = store_refusal(&e);
                        app.ingest_stats
                            .rejected(channel, if e == StoreError::Full { "inbox_full" } else { "store_failed" });
                        app.metrics.reject(Reject::InboxUnavailable);
                        self.finish(cx, &inflight, &error.to_response());
                    }
                }
            }
        }
    }

    /// Count an unverified request against the per-IP limit; `Some` when it is over.
    fn charge_limiter(&self, cx: &Cx<'_>, inflight: &InFlight) -> Option<GatewayError> {
        match cx.app.rate_limiter.lock().check(inflight.admitted.client_ip, cx.now) {
            Verdict::Deny { retry_after, table_full } => {
                cx.app.metrics.reject(if table_full { Reject::RateLimiterFull } else { Reject::RateLimited });
                Some(GatewayError::RateLimited { retry_after })
            }
            Verdict::Allow => None,
        }
    }
}

/// Who is sending to an endpoint with no secret configured. A wrong token counts toward the
/// failed-authentication lockout like on every other guarded route, and a locked-out client
/// is refused even with a good one.
fn unsigned_sender(app: &App, inflight: &InFlight, now: std::time::Instant) -> Unsigned {
    let client = inflight.admitted.client_ip;
    let exempt = app.settings.auth_rate_limit.exempt_loopback && inflight.admitted.local;
    if !exempt && matches!(app.auth_limiter.lock().check(client, now), Verdict::Deny { .. }) {
        return Unsigned::Refused;
    }
    match app.settings.auth.authenticate(&inflight.head, inflight.admitted.local) {
        outcome if outcome.token_grants(Scope::Webhook) => Unsigned::Token,
        AuthOutcome::Granted { scopes, .. } if scopes.satisfies(Scope::Webhook) => Unsigned::Open,
        AuthOutcome::Invalid => {
            if !exempt {
                let _ = app.auth_limiter.lock().record_failure(client, now);
            }
            Unsigned::Refused
        }
        AuthOutcome::Granted { .. } | AuthOutcome::Missing => Unsigned::Refused,
    }
}

fn store_refusal(e: &StoreError) -> GatewayError {
    match e {
        StoreError::Full => GatewayError::Overloaded { what: "webhook inbox queue" },
        _ => GatewayError::StoreFailed,
    }
}

/// The callback the store writer runs once the delivery's batch is committed (and synced).
fn acknowledgement(
    app: Arc<App>,
    reply_to: crate::workers::ReplyTo,
    token: usize,
    channel: Channel,
    reply: Reply,
    bytes: u64,
) -> crate::store::AckFn {
    Box::new(move |result: Result<Appended, StoreError>| {
        app.ingest_queued_bytes.fetch_sub(bytes, Relaxed);
        let durability = match app.settings.ingest.ack {
            AckPolicy::Durable => "durable",
            AckPolicy::Buffered { .. } => "buffered",
        };
        let response = match result {
            Ok(Appended::Stored { id }) => {
                app.ingest_stats.delivered(channel, false, unix_ms());
                app.dispatcher.ring();
                stored_reply(reply, id, false, durability)
            }
            Ok(Appended::Duplicate { id }) => {
                app.ingest_stats.delivered(channel, true, unix_ms());
                stored_reply(reply, id, true, durability)
            }
            Err(e) => {
                app.ingest_stats.rejected(channel, "store_failed");
                app.metrics.reject(Reject::InboxUnavailable);
                store_refusal(&e).to_response()
            }
        };
        reply_to.send(Completion { token, output: Output::Http(response) });
    })
}
