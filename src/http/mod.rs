//! HTTP request handling above the parser: admission (route, method, CORS, rate limit,
//! auth) at head time, then the handler once the body is in.
//!
//! Guarantees: admission runs before a single body byte is read, so an unauthenticated,
//! rate-limited, misrouted or cross-origin-forbidden request never costs us its body;
//! every refusal is a [`GatewayError`] rendered by `crate::error`.

pub mod chat;
pub mod chat_live;
pub mod cors;
pub mod handlers;
pub mod openai;
pub mod openai_stream;
pub mod responses;
pub mod router;
pub mod turn_format;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::app::App;
use crate::auth::limiter::Verdict;
use crate::auth::{AuthOutcome, ScopeSet};
use crate::error::GatewayError;
use crate::metrics::Reject;
use crate::protocol::http1::{Method, RequestHead, Response};
use crate::workers::Work;
use router::{Execution, RouteId, RouteSpec};

/// A request that passed admission.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The route.
    pub spec: RouteSpec,
    /// The resolved client address.
    pub client_ip: IpAddr,
    /// The request's Origin, when it is allowed (responses get CORS headers).
    pub cors_origin: Option<String>,
    /// The request carried an `Origin` header that is not allowed.
    pub foreign_origin: bool,
    /// What the credential allows; `None` on public routes and for in-band auth.
    pub scopes: Option<ScopeSet>,
    /// The client is on this machine (no proxy headers, loopback peer).
    pub local: bool,
    /// The route's own body cap (webhooks), replacing `gateway.limits.max_body_bytes`.
    pub body_cap: Option<u64>,
}

/// The result of admission.
#[derive(Debug)]
pub enum Admission {
    /// Read the body, then call [`handle`].
    Proceed(Admitted),
    /// Answer now without reading the body.
    Respond {
        /// Route label for metrics.
        route: RouteId,
        /// The answer.
        response: Response,
        /// The error, when the answer is one.
        error: Option<GatewayError>,
        /// The client address for logs.
        client_ip: IpAddr,
    },
}

/// Decide whether a request may proceed, from its head alone.
pub fn admit(app: &App, head: &RequestHead, peer: IpAddr, now: Instant) -> Admission {
    let s = &app.settings;
    let client_ip = s.auth.client_ip(peer, head);
    let local = s.auth.is_local(client_ip, head);
    let origin = head.header_str("origin");
    let cors_origin = origin.filter(|o| cors::origin_allowed(o, &s.cors_origins)).map(str::to_owned);
    let refuse = |route: RouteId, e: GatewayError, reject: Option<Reject>| {
        if let Some(r) = reject {
            app.metrics.reject(r);
        }
        let mut response = openai::error_response_for(head.path(), &e);
        if let Some(o) = &cors_origin {
            cors::decorate(&mut response, o);
        }
        Admission::Respond { route, response, error: Some(e), client_ip }
    };
    if head.method == Method::Options && head.target() == "*" {
        // RFC 9110 §9.3.7: a question about the server as a whole.
        let response = Response::empty(204).with_header("Allow", router::SERVER_METHODS);
        return Admission::Respond { route: RouteId::Unmatched, response, error: None, client_ip };
    }
    let Some(spec) = router::lookup(head.path(), s.debug_routes, s.config.gateway.ws.test_echo) else {
        return refuse(RouteId::Unmatched, GatewayError::NotFound, None);
    };
    if head.method == Method::Options {
        let response = match (&cors_origin, origin, head.header("access-control-request-method")) {
            (Some(o), _, Some(_)) => cors::preflight(o, spec.allow),
            (None, Some(_), Some(_)) => {
                return refuse(spec.id, GatewayError::OriginNotAllowed, Some(Reject::OriginNotAllowed));
            }
            _ => Response::empty(204).with_header("Allow", spec.allow),
        };
        return Admission::Respond { route: spec.id, response, error: None, client_ip };
    }
    if !router::method_allowed(spec.allow, head.method_str()) {
        return refuse(spec.id, GatewayError::MethodNotAllowed { allow: spec.allow }, None);
    }
    // A webhook's body cap depends on whether it carries its signature header: 413 from the
    // Content-Length before a byte of an oversized or unsigned-and-large body is read.
    let mut body_cap = None;
    if let Execution::Ingest(channel) = spec.execution {
        // On an endpoint without a secret only a real webhook-scope token earns the large cap.
        let token_ok = || s.auth.authenticate(head, local).token_grants(crate::auth::Scope::Webhook);
        match crate::webhook::ingest::body_cap(&s.ingest, channel, head, &token_ok) {
            Ok(cap) => body_cap = Some(cap),
            Err(e) => return refuse(spec.id, e, None),
        }
    }
    // A browser on a foreign origin may not change state, even with a cookie.
    // An Origin that is not UTF-8 counts as foreign.
    if head.header("origin").is_some() && cors_origin.is_none() && !matches!(head.method, Method::Get | Method::Head) {
        return refuse(spec.id, GatewayError::OriginNotAllowed, Some(Reject::OriginNotAllowed));
    }
    if spec.rate_limited
        && let Verdict::Deny { retry_after, table_full } = app.rate_limiter.lock().check(client_ip, now)
    {
        let reject = if table_full { Reject::RateLimiterFull } else { Reject::RateLimited };
        return refuse(spec.id, GatewayError::RateLimited { retry_after }, Some(reject));
    }
    let foreign_origin = head.header("origin").is_some() && cors_origin.is_none();
    let mut scopes = None;
    if let Some(required) = spec.scope {
        let exempt = s.auth_rate_limit.exempt_loopback && local;
        if !exempt && let Verdict::Deny { retry_after, .. } = app.auth_limiter.lock().check(client_ip, now) {
            return refuse(spec.id, GatewayError::AuthLockedOut { retry_after }, Some(Reject::AuthLockedOut));
        }
        match s.auth.authenticate(head, local) {
            AuthOutcome::Granted { scopes: granted, .. } if granted.satisfies(required) => scopes = Some(granted),
            AuthOutcome::Granted { .. } => {
                return refuse(spec.id, GatewayError::InsufficientScope { required }, Some(Reject::InsufficientScope));
            }
            // No credential from a local client (no proxy headers) on a loopback bind: the
            // WebSocket may authenticate in-band.
            AuthOutcome::Missing if spec.in_band_auth && local && s.bind.ip().is_loopback() => {}
            AuthOutcome::Missing => {
                return refuse(
                    spec.id,
                    GatewayError::Unauthorized { reason: "missing credentials: send Authorization: Bearer <token>" },
                    Some(Reject::AuthFailed),
                );
            }
            AuthOutcome::Invalid => {
                if !exempt
                    && let Verdict::Deny { retry_after, table_full: true } =
                        app.auth_limiter.lock().record_failure(client_ip, now)
                {
                    // The failure could not be recorded: refuse rather than let it go uncounted.
                    return refuse(spec.id, GatewayError::AuthLockedOut { retry_after }, Some(Reject::RateLimiterFull));
                }
                return refuse(
                    spec.id,
                    GatewayError::Unauthorized { reason: "invalid token" },
                    Some(Reject::AuthFailed),
                );
            }
        }
    }
    Admission::Proceed(Admitted { spec, client_ip, cors_origin, foreign_origin, scopes, local, body_cap })
}

/// What a handler produced.
pub enum Outcome {
    /// The response, made inline.
    Respond(Response),
    /// Work for the pool; its response comes back as a completion.
    Defer(Work),
}

/// Run the route's handler (inline) or package it for the worker pool.
#[must_use]
pub fn handle(app: &Arc<App>, admitted: &Admitted, head: &RequestHead, body: Vec<u8>) -> Outcome {
    let id = admitted.spec.id;
    match admitted.spec.execution {
        Execution::Worker => {
            let job = handlers::worker_job(app, id, head, body);
            Outcome::Defer(job)
        }
        // Upgrades and streams are taken over by the connection before this point; an
        // inline answer is the safe fallback.
        Execution::Inline
        | Execution::WebSocket(_)
        | Execution::EventStream
        | Execution::Ingest(_)
        | Execution::Agent
        | Execution::Embeddings => Outcome::Respond(handlers::inline(app, id, head)),
    }
}
