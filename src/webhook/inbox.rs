//! The inbox as the admin API and RPC show it: listing with filters, one entry with its body,
//! and replay. Shared by `GET /api/inbox[...]`, `POST /api/inbox/<id>/replay` and the RPC
//! methods `inbox.list` / `inbox.replay`; all run on the worker pool (they read SQLite or
//! wait for a durable write).
//!
//! Guarantees: filters are validated with a specific message (unknown channel or state, a
//! limit out of 1..=1000); a replay answers only after the state change is durable, and then
//! wakes the dispatcher so the delivery is published again.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Channel;
use crate::app::App;
use crate::error::GatewayError;
use crate::store::{InboxEntry, InboxQuery, InboxState, StoreError};

/// Default page size of a listing.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size of a listing.
pub const MAX_LIMIT: usize = 1000;
/// How long a replay waits for the writer before answering 503 (it still happens).
const REPLAY_WAIT: Duration = Duration::from_secs(10);

/// Listing filters, as query parameters or RPC params.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// Only ids above this one (paging).
    pub after: Option<i64>,
    /// Page size, 1..=1000.
    pub limit: Option<usize>,
}

impl ListParams {
    /// From a query string such as `channel=slack&limit=10`.
    ///
    /// # Errors
    /// A number that is not one.
    pub fn from_query(query: &str) -> Result<Self, GatewayError> {
        let get = |name| crate::auth::query_param(query, name).map(|v| String::from_utf8_lossy(&v).into_owned());
        let number = |name: &'static str| -> Result<Option<i64>, GatewayError> {
            get(name)
                .map(|v| {
                    v.parse::<i64>().map_err(|_| GatewayError::InvalidParams(format!("{name} must be an integer")))
                })
                .transpose()
        };
        let limit = number("limit")?.map(|n| usize::try_from(n).unwrap_or(0));
        Ok(Self { channel: get("channel"), state: get("state"), after: number("after")?, limit })
    }

    fn query(&self) -> Result<InboxQuery, GatewayError> {
        let channel = match &self.channel {
            Some(c) if Channel::from_name(c).is_none() => {
                return Err(GatewayError::InvalidParams(format!("unknown channel {c:?}")));
            }
            other => other.clone(),
        };
        let state = match &self.state {
            Some(s) => Some(InboxState::parse(s).ok_or_else(|| {
                GatewayError::InvalidParams(format!("unknown state {s:?} (received, dispatched, done, failed)"))
            })?),
            None => None,
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(GatewayError::InvalidParams(format!("limit must be between 1 and {MAX_LIMIT}")));
        }
        Ok(InboxQuery { channel, state, after: self.after, limit, bodies: false })
    }
}

/// A page of entries (without bodies) and the cursor of the next page.
///
/// # Errors
/// Bad filters, or the store could not be read.
pub fn list(app: &App, params: &ListParams) -> Result<Value, GatewayError> {
    let q = params.query()?;
    let entries = app.store.list(&q).map_err(store_error)?;
    let next = (entries.len() == q.limit).then(|| entries.last().map(|e| e.id)).flatten();
    let items: Vec<Value> = entries.iter().map(|e| entry_json(e, false)).collect();
    Ok(json!({ "entries": items, "next_after": next }))
}

/// One entry with its body.
///
/// # Errors
/// No such entry, or the store could not be read.
pub fn get(app: &App, id: i64) -> Result<Value, GatewayError> {
    app.store.get(id).map(|e| entry_json(&e, true)).map_err(|e| match e {
        StoreError::NotFound => GatewayError::InboxEntryNotFound(id),
        other => store_error(other),
    })
}

/// Move an entry back to `received` (durably) and have it dispatched again.
///
/// # Errors
/// No such entry, the store failed, or the writer did not answer in time.
pub fn replay(app: &App, id: i64) -> Result<Value, GatewayError> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let replays = app.dispatcher.replays();
    app.store.replay(
        id,
        Box::new(move |r| {
            // Announced here, not by the waiting caller: a replay that outlasts the wait
            // below still commits, and must still be dispatched.
            if let Ok(entry) = &r {
                replays.announce(entry.id);
            }
            let _ = tx.send(r);
        }),
    );
    match rx.recv_timeout(REPLAY_WAIT) {
        Ok(Ok(entry)) => Ok(json!({ "ok": true, "entry": entry_json(&entry, false) })),
        Ok(Err(StoreError::NotFound)) => Err(GatewayError::InboxEntryNotFound(id)),
        Ok(Err(e)) => Err(store_error(e)),
        Err(_) => Err(GatewayError::Overloaded { what: "store writer" }),
    }
}

/// Most ids one `inbox.ack` may name.
pub const MAX_ACK_IDS: usize = 1000;

/// A consumer's verdict on deliveries it was given: `done` or `failed` (with a reason).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckParams {
    /// Inbox ids.
    pub ids: Vec<i64>,
    /// `done` or `failed`.
    pub state: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// Record a consumer's verdict. The change goes through the store writer like every write;
/// until it commits, a restart may dispatch the deliveries again (at least once).
///
/// # Errors
/// No ids, too many, or a state other than `done` / `failed`.
pub fn ack(app: &App, p: AckParams) -> Result<Value, GatewayError> {
    let state = match InboxState::parse(&p.state) {
        Some(s @ (InboxState::Done | InboxState::Failed)) => s,
        _ => return Err(GatewayError::InvalidParams("state must be \"done\" or \"failed\"".into())),
    };
    if p.ids.is_empty() || p.ids.len() > MAX_ACK_IDS {
        return Err(GatewayError::InvalidParams(format!("ids must hold 1 to {MAX_ACK_IDS} inbox ids")));
    }
    let count = p.ids.len();
    app.store.set_state(p.ids, state, p.error);
    Ok(json!({ "ok": true, "count": count, "state": state.as_str() }))
}

fn store_error(e: StoreError) -> GatewayError {
    match e {
        StoreError::Full => GatewayError::Overloaded { what: "store writer" },
        StoreError::Failed(_) => GatewayError::StoreFailed,
        other => GatewayError::Internal(format!("store: {other}")),
    }
}

/// The JSON form of an entry; the body as text when it is UTF-8, else as base64.
#[must_use]
pub fn entry_json(e: &InboxEntry, with_body: bool) -> Value {
    let mut v = json!({
        "id": e.id, "channel": e.channel, "delivery_id": e.delivery_id, "received_ms": e.received_ms,
        "updated_ms": e.updated_ms, "state": e.state.as_str(), "attempts": e.attempts,
        "duplicates": e.duplicates, "error": e.error, "headers": e.headers, "body_bytes": e.body_len,
    });
    if with_body {
        match std::str::from_utf8(&e.body) {
            Ok(text) => v["body"] = json!(text),
            Err(_) => v["body_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(&e.body)),
        }
    }
    v
}

/// The id in `/api/inbox/<id>` or `/api/inbox/<id>/replay`.
///
/// # Errors
/// The segment is not a positive integer.
pub fn id_from_path(path: &str) -> Result<i64, GatewayError> {
    let rest = path.strip_prefix("/api/inbox/").unwrap_or_default();
    let segment = rest.trim_end_matches('/').trim_end_matches("/replay");
    segment
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| GatewayError::InvalidParams(format!("{segment:?} is not an inbox id")))
}
