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
    Call, Dialect, ErrorBody, Inbound, Rejected, decode, encode_batch, encode_error, encode_result,
};

/// The dialect to answer in when a frame does not say.
#[must_use]
pub const fn preferred(prefers_jsonrpc: bool) -> Dialect {
    if prefers_jsonrpc { Dialect::JsonRpc } else { Dialect::Frames }
}

/// Whether running `text` needs the worker pool (some call is to a worker method).
#[must_use]
pub fn needs_worker(text: &[u8], max_batch: usize) -> bool {
    let is_worker = |c: &Result<Call<'_>, Rejected<'_>>| {
        c.as_ref().ok().and_then(|c| super::find(&c.method)).is_some_and(|m| m.exec == Exec::Worker)
    };
    match decode(text, max_batch) {
        Inbound::Single(c) => is_worker(&c),
        Inbound::Batch(calls) => calls.iter().any(is_worker),
        Inbound::BatchRejected(_) => false,
    }
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

/// Run one text frame; returns the reply to send (empty when none is due).
#[must_use]
pub fn run_frame(ctx: &mut Ctx<'_>, text: &[u8], prefers_jsonrpc: bool) -> Vec<u8> {
    let max_batch = ctx.app.settings.config.gateway.max_batch_size;
    let fallback = preferred(prefers_jsonrpc);
    let mut out = Vec::new();
    match decode(text, max_batch) {
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
