//! Classifies a verified webhook body: a delivery to store (with its dedup id), or one of the
//! platforms' handshakes to answer without storing (Slack and Lark URL verification, Discord
//! PING, LINE's console "Verify").
//!
//! Sans-IO: a pure function of the channel, the `Content-Type` value and the body bytes; no
//! clock, no allocation beyond the fields read. Guarantees:
//! - never panics on any input; every refusal is one [`BodyError`] with a stable
//!   [`BodyError::code`] and a specific message; Comis schema failures are the distinct
//!   [`BodyError::Schema`] (422), everything else is a malformed body (400);
//! - a delivery id is never empty, at most [`MAX_ID_BYTES`] bytes and free of control
//!   characters: a longer (or control-bearing) id is replaced by its SHA-256 hex, so the inbox
//!   key stays bounded whatever the peer sends, and a retry still maps to the same key;
//! - the id is the platform's own (`update_id`, `event_id`, interaction `id`, `wamid`s,
//!   `webhookEventId`s, Lark `event_id` / `uuid`, Slack `trigger_id`) where the platform has one,
//!   else the SHA-256 hex of the raw body, which a byte-identical retry reproduces;
//! - for a delivery that can batch items (WhatsApp, LINE), the id covers *every* item (sorted,
//!   joined with `,`): a retry batched differently then stores again (a duplicate, tolerated by
//!   at-least-once) instead of being dropped as a duplicate of a batch it only overlaps.

use serde::Deserialize;

use super::Channel;
use super::lenient::{List, Obj, Raw, Val, first_non_blank, form_value, is_form, parse_object, sha256_hex};

/// Longest delivery id kept verbatim; longer ids are stored as their SHA-256 hex.
pub const MAX_ID_BYTES: usize = 256;

/// Deepest nesting of objects and arrays a JSON body may have ([`BodyError::TooDeep`] beyond).
/// Real payloads stay under 20; the limit keeps every read path well inside serde_json's own
/// 128, so a body classify accepts never fails normalize on depth.
pub const MAX_DEPTH: usize = 64;

/// What a verified body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A delivery to store; `delivery_id` is its dedup key within the channel.
    Deliver {
        /// The dedup key (see the module guarantees).
        delivery_id: String,
    },
    /// Slack `{"type":"url_verification","challenge":…}`: answer with the challenge, store nothing.
    SlackChallenge {
        /// The value to echo.
        challenge: String,
    },
    /// Discord `{"type":1}`: answer `{"type":1}`, store nothing.
    DiscordPing,
    /// LINE `{"destination":…,"events":[]}` (the console's "Verify"): answer 200, store nothing.
    LineVerify,
    /// Lark `{"type":"url_verification","challenge":…,"token":…}`: the caller checks `token`
    /// against the Verification Token, then answers `{"challenge":…}`; store nothing.
    LarkChallenge {
        /// The value to echo.
        challenge: String,
        /// The Verification Token the body carried, if any.
        token: Option<String>,
    },
}

impl Classified {
    /// The dedup key, for a delivery.
    #[must_use]
    pub fn delivery_id(&self) -> Option<&str> {
        match self {
            Self::Deliver { delivery_id } => Some(delivery_id),
            _ => None,
        }
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// No bytes (or only whitespace).
    Empty,
    /// Not JSON (not UTF-8, not well-formed, or trailing bytes after the value).
    NotJson,
    /// JSON, but not an object.
    NotObject,
    /// Objects and arrays nested more than [`MAX_DEPTH`] levels deep.
    TooDeep,
    /// A field the gateway reads appears twice in one object: which value counts is ambiguous.
    DuplicateField,
    /// A field the channel requires is absent (its JSON path).
    MissingField(&'static str),
    /// A field is present with an unusable value.
    BadField {
        /// Its JSON path.
        field: &'static str,
        /// What it must be, as a phrase ("a non-negative integer").
        expected: &'static str,
    },
    /// A Lark `{"encrypt":…}` body that was not decrypted before classification.
    Encrypted,
    /// A Comis `/hooks/webhook` body that does not match `{event, source, data, timestamp?}`.
    Schema {
        /// The offending field (`body` for the whole body).
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
}

impl BodyError {
    /// A stable snake_case name for metrics labels, logs and the test vectors.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NotJson => "not_json",
            Self::NotObject => "not_object",
            Self::TooDeep => "too_deep",
            Self::DuplicateField => "duplicate_field",
            Self::MissingField(_) => "missing_field",
            Self::BadField { .. } => "bad_field",
            Self::Encrypted => "encrypted",
            Self::Schema { .. } => "schema",
        }
    }

    /// Whether this is a Comis schema failure (422) rather than a malformed body (400).
    #[must_use]
    pub fn is_schema(self) -> bool {
        matches!(self, Self::Schema { .. })
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str("the body is empty"),
            Self::NotJson => f.write_str("the body is not valid JSON"),
            Self::NotObject => f.write_str("the body is JSON but not an object"),
            Self::TooDeep => write!(f, "the body nests objects and arrays more than {MAX_DEPTH} levels deep"),
            Self::DuplicateField => f.write_str("a field appears twice in one object, so its value is ambiguous"),
            Self::MissingField(field) => write!(f, "required field `{field}` is missing"),
            Self::BadField { field, expected } => write!(f, "field `{field}` must be {expected}"),
            Self::Encrypted => f.write_str("the body is still encrypted (`encrypt`); decrypt it with the Encrypt Key"),
            Self::Schema { field, expected } => {
                write!(f, "the body does not match {{event, source, data, timestamp?}}: `{field}` must be {expected}")
            }
        }
    }
}

impl std::error::Error for BodyError {}

/// Classifies a verified body from `channel`. `content_type` is the request's `Content-Type`
/// value (only Slack looks at it: form-encoded slash commands and interactivity). For Lark, pass
/// the decrypted plaintext of an `{"encrypt":…}` body ([`super::lark::decrypt`]).
///
/// Generic (Human's `/webhook`) takes any non-empty body, JSON or not, as Human does.
pub fn classify(channel: Channel, content_type: Option<&str>, body: &[u8]) -> Result<Classified, BodyError> {
    match channel {
        Channel::Generic => {
            if first_non_blank(body).is_none() {
                return Err(BodyError::Empty);
            }
            Ok(deliver_hash(body))
        }
        Channel::Hooks => hooks_body(body).map(|_| deliver_hash(body)),
        Channel::Telegram => telegram(body),
        Channel::Slack if is_form(content_type, body) => slack_form(body),
        Channel::Slack => slack_json(body),
        Channel::Discord => discord(body),
        Channel::WhatsApp => whatsapp(body),
        Channel::Line => line(body),
        Channel::Lark => lark(body),
    }
}

/// The fields of a Comis `/hooks/webhook` body.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct HooksBody<'a> {
    /// Event name (required, non-empty string).
    pub(crate) event: Val,
    /// Source name (required, non-empty string).
    pub(crate) source: Val,
    /// Payload: any JSON value, `null` included, but present.
    #[serde(borrow)]
    pub(crate) data: Raw<'a>,
    /// Optional, string or number.
    pub(crate) timestamp: Val,
}

/// Parses and validates a Comis body against `{event, source, data, timestamp?}`.
pub(crate) fn hooks_body(body: &[u8]) -> Result<HooksBody<'_>, BodyError> {
    let schema = |field, expected| BodyError::Schema { field, expected };
    let parsed: HooksBody<'_> = parse_object(body).map_err(|e| match e {
        BodyError::NotObject => schema("body", "a JSON object"),
        other => other,
    })?;
    if parsed.event.text().is_none() {
        return Err(schema("event", "a non-empty string"));
    }
    if parsed.source.text().is_none() {
        return Err(schema("source", "a non-empty string"));
    }
    if parsed.data.0.is_none() {
        return Err(schema("data", "present (any JSON value)"));
    }
    match parsed.timestamp {
        Val::Absent | Val::Str(_) | Val::Int(_) | Val::Float(_) => Ok(parsed),
        _ => Err(schema("timestamp", "a string or a number when present")),
    }
}

/// A delivery keyed by the SHA-256 hex of the whole raw body.
fn deliver_hash(body: &[u8]) -> Classified {
    Classified::Deliver { delivery_id: sha256_hex(body) }
}

/// A delivery keyed by a platform id, hashed if it is too long or carries control characters.
fn deliver(id: String) -> Classified {
    Classified::Deliver { delivery_id: bounded_id(&id) }
}

/// A platform id as the inbox keeps it: verbatim, or its SHA-256 hex when it is longer than
/// [`MAX_ID_BYTES`] or carries control characters.
#[must_use]
pub fn bounded_id(id: &str) -> String {
    if id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) { sha256_hex(id.as_bytes()) } else { id.to_owned() }
}

/// A required non-empty string field.
fn required_str(v: &Val, field: &'static str) -> Result<String, BodyError> {
    match v {
        Val::Absent => Err(BodyError::MissingField(field)),
        Val::Str(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(BodyError::BadField { field, expected: "a non-empty string" }),
    }
}

fn telegram(body: &[u8]) -> Result<Classified, BodyError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Update {
        update_id: Val,
    }
    let u: Update = parse_object(body)?;
    match u.update_id {
        Val::Int(n) if n >= 0 => Ok(deliver(n.to_string())),
        Val::Absent => Err(BodyError::MissingField("update_id")),
        _ => Err(BodyError::BadField { field: "update_id", expected: "a non-negative integer" }),
    }
}

fn slack_json(body: &[u8]) -> Result<Classified, BodyError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Envelope {
        #[serde(rename = "type")]
        kind: Val,
        challenge: Val,
        event_id: Val,
    }
    let e: Envelope = parse_object(body)?;
    match required_str(&e.kind, "type")?.as_str() {
        "url_verification" => Ok(Classified::SlackChallenge { challenge: required_str(&e.challenge, "challenge")? }),
        "event_callback" => Ok(deliver(required_str(&e.event_id, "event_id")?)),
        // app_rate_limited and future envelope types carry no id; a retry repeats the bytes.
        _ => Ok(deliver_hash(body)),
    }
}

/// Slash commands (`command=…&trigger_id=…`) and interactivity (`payload=<json>`).
fn slack_form(body: &[u8]) -> Result<Classified, BodyError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Payload {
        trigger_id: Val,
    }
    if first_non_blank(body).is_none() {
        return Err(BodyError::Empty);
    }
    let trigger = match form_value(body, "payload") {
        Some(json) => {
            let p: Payload = parse_object(json.as_bytes()).map_err(payload_error)?;
            p.trigger_id.text()
        }
        None => form_value(body, "trigger_id").filter(|t| !t.is_empty()),
    };
    // view_closed, block_suggestion and outgoing webhooks have no trigger_id.
    Ok(trigger.map_or_else(|| deliver_hash(body), deliver))
}

/// A Slack `payload` that does not parse: a duplicated field stays that (ambiguous, whatever the
/// struct reading it), anything else means the field is not the JSON object it must be.
pub(crate) fn payload_error(e: BodyError) -> BodyError {
    match e {
        BodyError::DuplicateField => e,
        _ => BodyError::BadField { field: "payload", expected: "a JSON object" },
    }
}

fn discord(body: &[u8]) -> Result<Classified, BodyError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Interaction {
        #[serde(rename = "type")]
        kind: Val,
        id: Val,
    }
    let i: Interaction = parse_object(body)?;
    match i.kind {
        Val::Int(1) => Ok(Classified::DiscordPing),
        Val::Int(_) => Ok(deliver(required_str(&i.id, "id")?)),
        Val::Absent => Err(BodyError::MissingField("type")),
        _ => Err(BodyError::BadField { field: "type", expected: "an integer" }),
    }
}

fn whatsapp(body: &[u8]) -> Result<Classified, BodyError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Notification {
        entry: List<Obj<Entry>>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Entry {
        changes: List<Obj<Change>>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Change {
        value: Obj<Value>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Value {
        messages: List<Obj<Item>>,
        statuses: List<Obj<Item>>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Item {
        id: Val,
        status: Val,
    }
    let n: Notification = parse_object(body)?;
    match n.entry {
        List::Absent => return Err(BodyError::MissingField("entry")),
        List::Other => return Err(BodyError::BadField { field: "entry", expected: "an array" }),
        List::Items(_) => {}
    }
    let values = n
        .entry
        .items()
        .iter()
        .filter_map(Obj::get)
        .flat_map(|e| e.changes.items().iter().filter_map(Obj::get))
        .filter_map(|c| c.value.get());
    let mut ids = Vec::new();
    for v in values {
        ids.extend(v.messages.items().iter().filter_map(Obj::get).filter_map(|m| m.id.text()));
        // One wamid gets a status per step (sent, delivered, read): the id alone would drop
        // every step after the first as a duplicate.
        ids.extend(v.statuses.items().iter().filter_map(Obj::get).filter_map(|s| {
            let id = s.id.text()?;
            Some(match s.status.text() {
                Some(status) => format!("{id}:{status}"),
                None => id,
            })
        }));
    }
    Ok(joined(ids).map_or_else(|| deliver_hash(body), deliver))
}

fn line(body: &[u8]) -> Result<Classified, BodyError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Callback {
        events: List<Obj<Event>>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Event {
        webhook_event_id: Val,
    }
    let c: Callback = parse_object(body)?;
    let events = match &c.events {
        List::Absent => return Err(BodyError::MissingField("events")),
        List::Other => return Err(BodyError::BadField { field: "events", expected: "an array" }),
        List::Items(events) => events,
    };
    if events.is_empty() {
        return Ok(Classified::LineVerify);
    }
    let ids: Option<Vec<String>> = events.iter().map(|e| e.get().and_then(|e| e.webhook_event_id.text())).collect();
    // An event without its id (older API versions) makes the set unreliable: key on the bytes.
    Ok(ids.and_then(joined).map_or_else(|| deliver_hash(body), deliver))
}

/// Sorted, de-duplicated, `,`-joined ids; `None` when there are none.
fn joined(mut ids: Vec<String>) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    ids.sort_unstable();
    ids.dedup();
    Some(ids.join(","))
}

fn lark(body: &[u8]) -> Result<Classified, BodyError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Callback {
        encrypt: Val,
        #[serde(rename = "type")]
        kind: Val,
        challenge: Val,
        token: Val,
        schema: Val,
        header: Obj<Header>,
        uuid: Val,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Header {
        event_id: Val,
    }
    let c: Callback = parse_object(body)?;
    if c.encrypt.is_present() {
        return Err(BodyError::Encrypted);
    }
    if c.kind.as_str() == Some("url_verification") {
        let challenge = required_str(&c.challenge, "challenge")?;
        return Ok(Classified::LarkChallenge { challenge, token: c.token.text() });
    }
    if c.schema.is_present() || !matches!(c.header, Obj::Absent) {
        let id = match &c.header {
            Obj::Value(h) => required_str(&h.event_id, "header.event_id")?,
            _ => return Err(BodyError::BadField { field: "header", expected: "an object with `event_id`" }),
        };
        return Ok(deliver(id));
    }
    Ok(deliver(required_str(&c.uuid, "uuid")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bounded_and_printable() {
        let long = "9".repeat(MAX_ID_BYTES + 1);
        assert_eq!(deliver(long.clone()), Classified::Deliver { delivery_id: sha256_hex(long.as_bytes()) });
        let exact = "9".repeat(MAX_ID_BYTES);
        assert_eq!(deliver(exact.clone()).delivery_id(), Some(exact.as_str()));
        assert_eq!(deliver("a\nb".into()).delivery_id(), Some(sha256_hex(b"a\nb").as_str()));
    }

    #[test]
    fn every_error_has_a_distinct_code_and_message() {
        let all = [
            BodyError::Empty,
            BodyError::NotJson,
            BodyError::NotObject,
            BodyError::TooDeep,
            BodyError::DuplicateField,
            BodyError::MissingField("x"),
            BodyError::BadField { field: "x", expected: "y" },
            BodyError::Encrypted,
            BodyError::Schema { field: "x", expected: "y" },
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(|e| e.code()).collect();
        let texts: std::collections::BTreeSet<_> = all.iter().map(ToString::to_string).collect();
        assert_eq!((codes.len(), texts.len()), (all.len(), all.len()));
        assert_eq!(all.iter().filter(|e| e.is_schema()).count(), 1);
    }

    #[test]
    fn whatsapp_status_steps_are_distinct_deliveries() {
        let status = |s: &str| {
            format!(r#"{{"entry":[{{"changes":[{{"value":{{"statuses":[{{"id":"wamid.A","status":"{s}"}}]}}}}]}}]}}"#)
        };
        let sent = classify(Channel::WhatsApp, None, status("sent").as_bytes());
        let read = classify(Channel::WhatsApp, None, status("read").as_bytes());
        assert_eq!(sent.as_ref().ok().and_then(Classified::delivery_id), Some("wamid.A:sent"));
        assert_eq!(read.as_ref().ok().and_then(Classified::delivery_id), Some("wamid.A:read"));
    }
}
