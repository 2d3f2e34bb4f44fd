//! One published event in its final wire forms, built once and shared by every subscriber.
//!
//! Guarantees: an [`Encoded`] is immutable; its SSE bytes are exactly one complete SSE block
//! (`event: NAME\ndata: PAYLOAD\nid: N\n\n`, with any line break in the payload split into
//! further `data:` lines by [`crate::protocol::sse`]); its activity bytes are one JSON object
//! `{"event":"NAME","ts":MS,"payload":PAYLOAD,"id":N}`. Both are built in two steps so that
//! only appending the id (a few bytes, no allocation) happens under the bus lock: the id is
//! the last field of both forms, as in Hono's `writeSSE`, which Comis uses.

use std::ops::Range;

use crate::auth::scope::Scope;
use crate::events::kind::{Category, EventKind};
use crate::protocol::http1::response::push_u64;
use crate::protocol::sse::{push_data_lines, push_event_line, push_id_line};

/// Bytes reserved for the id suffix of the SSE form: `id: ` + 20 digits + `\n\n`.
const SSE_ID_SUFFIX_MAX: usize = 4 + 20 + 2;
/// Bytes reserved for the id suffix of the activity form: `,"id":` + 20 digits + `}`.
const ACTIVITY_ID_SUFFIX_MAX: usize = 6 + 20 + 1;

/// A published event: id, catalogue entry, time, payload and both wire forms.
#[derive(Debug)]
pub struct Encoded {
    id: u64,
    kind: &'static EventKind,
    ts_ms: u64,
    sse: Vec<u8>,
    activity: Vec<u8>,
    /// Where the payload JSON sits inside `activity` (it is stored once).
    payload: Range<usize>,
}

impl Encoded {
    /// The event id: one process-wide sequence, contiguous, starting at 1.
    #[must_use]
    pub const fn id(&self) -> u64 {
        self.id
    }

    /// The wire name, e.g. `message:sent`.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.kind.name
    }

    /// The catalogue entry.
    #[must_use]
    pub const fn kind(&self) -> &'static EventKind {
        self.kind
    }

    /// The category.
    #[must_use]
    pub const fn category(&self) -> Category {
        self.kind.category
    }

    /// The scope a subscriber must satisfy to receive this event.
    #[must_use]
    pub const fn scope(&self) -> Scope {
        self.kind.scope()
    }

    /// Unix time of publication, in milliseconds.
    #[must_use]
    pub const fn ts_ms(&self) -> u64 {
        self.ts_ms
    }

    /// The payload JSON, as given at publication.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        self.activity.get(self.payload.clone()).unwrap_or_default()
    }

    /// The complete SSE block, ready to write to any subscriber.
    #[must_use]
    pub fn sse(&self) -> &[u8] {
        &self.sse
    }

    /// The JSON object `{"event":..,"ts":..,"payload":..,"id":..}` for `/api/activity` and
    /// `activity.recent`.
    #[must_use]
    pub fn activity(&self) -> &[u8] {
        &self.activity
    }
}

/// An event encoded except for its id: everything costly (payload serialisation, copies,
/// allocation) happens here, outside any lock.
#[derive(Debug)]
pub(crate) struct Draft {
    kind: &'static EventKind,
    ts_ms: u64,
    sse: Vec<u8>,
    activity: Vec<u8>,
    payload: Range<usize>,
}

impl Draft {
    /// Encode an event whose payload JSON `write_payload` appends to the buffer it is given.
    /// The payload must be one JSON value; it is trusted (it comes from `serde_json`).
    pub(crate) fn new(kind: &'static EventKind, ts_ms: u64, write_payload: impl FnOnce(&mut Vec<u8>)) -> Self {
        let mut activity = Vec::with_capacity(256);
        activity.extend_from_slice(b"{\"event\":\"");
        // Catalogue names are `[a-z_:]` (checked by a test), so they need no JSON escaping.
        activity.extend_from_slice(kind.name.as_bytes());
        activity.extend_from_slice(b"\",\"ts\":");
        push_u64(&mut activity, ts_ms);
        activity.extend_from_slice(b",\"payload\":");
        let start = activity.len();
        write_payload(&mut activity);
        let payload = start..activity.len();
        activity.reserve_exact(ACTIVITY_ID_SUFFIX_MAX);

        let data = activity.get(payload.clone()).unwrap_or_default();
        let mut sse = Vec::with_capacity(16 + kind.name.len() + data.len() + SSE_ID_SUFFIX_MAX);
        push_event_line(&mut sse, kind.name);
        // Compact serde_json output has no raw CR or LF, so this is one `data:` line; a raw
        // JSON payload with line breaks still frames correctly (one line each).
        push_data_lines(&mut sse, data);
        sse.reserve_exact(SSE_ID_SUFFIX_MAX);
        Self { kind, ts_ms, sse, activity, payload }
    }

    /// Append the id to both forms. Writes only into capacity reserved by [`Draft::new`], so it
    /// never allocates: this is the part done under the bus lock.
    pub(crate) fn finish(self, id: u64) -> Encoded {
        let Self { kind, ts_ms, mut sse, mut activity, payload } = self;
        push_id_line(&mut sse, id);
        sse.push(b'\n');
        activity.extend_from_slice(b",\"id\":");
        push_u64(&mut activity, id);
        activity.push(b'}');
        Encoded { id, kind, ts_ms, sse, activity, payload }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::kind::lookup;
    use crate::protocol::sse::parse_stream;

    fn kind(name: &str) -> &'static EventKind {
        lookup(name).unwrap_or_else(|| panic!("{name} not in the catalogue"))
    }

    fn encode(name: &str, id: u64, payload: &[u8]) -> Encoded {
        Draft::new(kind(name), 1_700_000_000_123, |out| out.extend_from_slice(payload)).finish(id)
    }

    #[test]
    fn wire_forms() {
        let e = encode("message:sent", 42, br#"{"text":"hi"}"#);
        assert_eq!(e.sse(), b"event: message:sent\ndata: {\"text\":\"hi\"}\nid: 42\n\n");
        assert_eq!(e.activity(), br#"{"event":"message:sent","ts":1700000000123,"payload":{"text":"hi"},"id":42}"#);
        assert_eq!(e.payload(), br#"{"text":"hi"}"#);
        assert_eq!((e.id(), e.name(), e.scope(), e.ts_ms()), (42, "message:sent", Scope::Rpc, 1_700_000_000_123));
        assert_eq!(e.category(), Category::Message);
        let v: serde_json::Value = serde_json::from_slice(e.activity()).unwrap_or_default();
        assert_eq!(v["id"], 42);
        assert_eq!(v["payload"]["text"], "hi");
    }

    #[test]
    fn finishing_does_not_reallocate() {
        for id in [1, 9, 10, u64::MAX] {
            let d = Draft::new(kind("system:error"), u64::MAX, |out| out.extend_from_slice(&[b'1'; 300]));
            let (sse_ptr, act_ptr) = (d.sse.as_ptr(), d.activity.as_ptr());
            let e = d.finish(id);
            assert_eq!((e.sse.as_ptr(), e.activity.as_ptr()), (sse_ptr, act_ptr), "id {id}");
        }
    }

    #[test]
    fn payload_line_breaks_are_framed() {
        let e = encode("graph:started", 3, b"{\r\n\"a\":\n1\r}");
        assert_eq!(e.sse(), b"event: graph:started\ndata: {\ndata: \"a\":\ndata: 1\ndata: }\nid: 3\n\n");
        let parsed = parse_stream(e.sse());
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed.first().map(|p| p.data.as_slice()), Some(&b"{\n\"a\":\n1\n}"[..]));
        assert_eq!(e.payload(), b"{\r\n\"a\":\n1\r}");
    }
}
