//! One text frame in, one reply out: decode (either dialect), authorize, run, encode.
//!
//! Guarantees: every request gets exactly one reply in its own dialect (a notification
//! none); a batch gets one array in request order, or nothing when it held only
//! notifications; a frame whose dialect cannot be told is answered in the connection's
//! preferred dialect with id `null`. Errors are mapped by `crate::error` alone.

use serde_json::value::RawValue;

use super::{Ctx, Exec};
use crate::error::GatewayError;
use crate::protocol::jsonrpc::{
    Call, Dialect, ErrorBody, Inbound, Rejected, decode_str, encode_batch, encode_error, encode_result,
};

/// The dialect to answer in when a frame does not say.
#[must_use]
pub const fn preferred(prefers_jsonrpc: bool) -> Dialect {
    if prefers_jsonrpc { Dialect::JsonRpc } else { Dialect::Frames }
}

/// Whether running a decoded frame needs the worker pool (some call is to a worker method).
#[must_use]
pub fn needs_worker(inbound: &Inbound<'_>) -> bool {
    let is_worker = |c: &Result<Call<'_>, Rejected<'_>>| {
        c.as_ref().ok().and_then(|c| super::find(&c.method)).is_some_and(|m| m.exec == Exec::Worker)
    };
    match inbound {
        Inbound::Single(c) => is_worker(c),
        Inbound::Batch(calls) => calls.iter().any(is_worker),
        Inbound::BatchRejected(_) => false,
    }
}

/// The single call of a frame that the connection runs itself with a deferred reply: one
/// `agent.execute` request with an id (its answer comes from the turn's sink, so no thread
/// waits for the turn). Batches and notifications take the worker path.
#[must_use]
pub fn deferred_call<'f, 'a>(inbound: &'f Inbound<'a>) -> Option<&'f Call<'a>> {
    match inbound {
        Inbound::Single(Ok(call)) if call.method == "agent.execute" && !call.is_notification() => Some(call),
        _ => None,
    }
}

/// Decode one text frame (tungstenite has already checked it is UTF-8).
#[must_use]
pub fn decode_frame<'a>(ctx: &Ctx<'_>, text: &'a str) -> Inbound<'a> {
    decode_str(text, ctx.app.settings.config.gateway.max_batch_size)
}

/// Append the error reply for `error` to `out`.
pub fn write_error(dialect: Dialect, id: Option<&RawValue>, error: &GatewayError, out: &mut Vec<u8>) {
    let message = error.message();
    let body = ErrorBody {
        code: error.jsonrpc_code(),
        frame_code: error.frame_code(),
        message: &message,
        retryable: error.retry_after_ms().is_some(),
        retry_after_ms: error.retry_after_ms(),
        data: None,
    };
    encode_error(dialect, id, &body, out);
}

fn run_call(ctx: &mut Ctx<'_>, call: &Call<'_>, out: &mut Vec<u8>) {
    let result = super::call(ctx, &call.method, call.params);
    if call.is_notification() {
        return;
    }
    match result {
        Ok(payload) => encode_result(call.dialect, call.id, &payload, out),
        Err(e) => write_error(call.dialect, call.id, &e, out),
    }
}

fn reject(r: &Rejected<'_>, fallback: Dialect, out: &mut Vec<u8>) {
    write_error(r.dialect.unwrap_or(fallback), r.id, &GatewayError::RpcDecode(r.error), out);
}

/// Run one decoded frame; returns the reply to send (empty when none is due).
#[must_use]
pub fn run_frame(ctx: &mut Ctx<'_>, inbound: Inbound<'_>, prefers_jsonrpc: bool) -> Vec<u8> {
    let fallback = preferred(prefers_jsonrpc);
    let mut out = Vec::new();
    match inbound {
        Inbound::Single(Ok(call)) => run_call(ctx, &call, &mut out),
        Inbound::Single(Err(r)) | Inbound::BatchRejected(r) => reject(&r, fallback, &mut out),
        Inbound::Batch(items) => {
            let mut replies = Vec::with_capacity(items.len());
            for item in &items {
                let mut one = Vec::new();
                match item {
                    Ok(call) => run_call(ctx, call, &mut one),
                    Err(r) => reject(r, Dialect::JsonRpc, &mut one),
                }
                if !one.is_empty() {
                    replies.push(one);
                }
            }
            if !replies.is_empty() {
                encode_batch(&replies, &mut out);
            }
        }
    }
    out
}
