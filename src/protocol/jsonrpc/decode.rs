//! Decoding one WebSocket text frame into [`Inbound`]: dialect detection, batch limits and the
//! per-dialect request rules, in a single serde_json pass over the frame.
//!
//! Guarantees: never panics on any input; allocates nothing for a single call whose method has
//! no JSON escape (a batch allocates its one `Vec`); `id` and `params` are returned as borrowed
//! raw slices, never converted (so `1e400` or a 40-digit id is echoed exactly); unknown members
//! are skipped without building values. Nested values are skipped by serde_json's iterative
//! `ignore_value`, so no depth recurses on the stack.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Call, DecodeError, Dialect, Inbound, Rejected};

/// Decode one text frame given as bytes (UTF-8 is checked first; see [`decode_str`]).
///
/// `max_batch` bounds a JSON-RPC batch; pass [`super::DEFAULT_MAX_BATCH`] unless configured.
pub fn decode(text: &[u8], max_batch: usize) -> Inbound<'_> {
    match std::str::from_utf8(text) {
        Ok(s) => decode_str(s, max_batch),
        Err(_) => Inbound::Single(Err(Rejected { dialect: None, id: None, error: DecodeError::NotUtf8 })),
    }
}

/// Decode one text frame already known to be UTF-8 (a WebSocket text frame is validated by the
/// WebSocket layer, so this skips the second check).
///
/// Detection: a top-level array is a JSON-RPC batch; an object with a `jsonrpc` member is
/// JSON-RPC; otherwise an object with a `type` member is Frames; any other object is an invalid
/// request of unknown dialect. Anything else (including valid JSON scalars) is a parse error.
pub fn decode_str(text: &str, max_batch: usize) -> Inbound<'_> {
    // The first significant byte picks the shape, so a scalar is refused before serde_json
    // parses it (and a huge number cannot make it allocate).
    let first = text.bytes().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = match first {
        Some(b'{') => (&mut de).deserialize_map(ObjectVisitor).map(|env| Inbound::Single(judge(env, false))),
        Some(b'[') => (&mut de).deserialize_seq(BatchVisitor { max_batch }),
        _ => return parse_error(),
    };
    // `end` refuses trailing bytes after the value ("{}{}" or "{} x").
    match parsed.and_then(|inbound| de.end().map(|()| inbound)) {
        Ok(inbound) => inbound,
        Err(_) => parse_error(),
    }
}

fn parse_error<'a>() -> Inbound<'a> {
    Inbound::Single(Err(Rejected { dialect: None, id: None, error: DecodeError::Parse }))
}

/// The members that matter, as raw slices; everything else is skipped.
#[derive(Default)]
struct Envelope<'a> {
    jsonrpc: Option<&'a RawValue>,
    ty: Option<&'a RawValue>,
    id: Option<&'a RawValue>,
    method: Option<&'a RawValue>,
    params: Option<&'a RawValue>,
    /// A member we read appeared twice. Refused: two readers of the same frame could otherwise
    /// disagree on which value counts (serde_json keeps the last, others the first).
    duplicate: bool,
}

/// A member name we care about; anything else is `Other` and its value is skipped.
enum Key {
    JsonRpc,
    Type,
    Id,
    Method,
    Params,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    // Borrowed and escaped names both arrive here, so `"\u0069d"` is `id` as JSON says.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match v {
            "jsonrpc" => Key::JsonRpc,
            "type" => Key::Type,
            "id" => Key::Id,
            "method" => Key::Method,
            "params" => Key::Params,
            _ => Key::Other,
        })
    }
}

/// Read an object's members into an [`Envelope`]; the caller has seen the `{`.
fn read_envelope<'de, A: MapAccess<'de>>(mut map: A) -> Result<Envelope<'de>, A::Error> {
    let mut env = Envelope::default();
    while let Some(key) = map.next_key::<Key>()? {
        let slot = match key {
            Key::JsonRpc => &mut env.jsonrpc,
            Key::Type => &mut env.ty,
            Key::Id => &mut env.id,
            Key::Method => &mut env.method,
            Key::Params => &mut env.params,
            Key::Other => {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
        };
        // A raw slice rather than `Option<&RawValue>`: serde would read `null` as "absent",
        // and `"id": null` is a request while a missing id is a notification.
        let value: &'de RawValue = map.next_value()?;
        if slot.replace(value).is_some() {
            env.duplicate = true;
        }
    }
    Ok(env)
}

/// The top-level object of a single frame.
struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        read_envelope(map)
    }
}

/// A top-level array: counts every element, keeps at most `max_batch`.
struct BatchVisitor {
    max_batch: usize,
}

/// Elements decoded before the `Vec` first grows; typical batches are small.
const BATCH_INITIAL_CAPACITY: usize = 8;

impl<'de> Visitor<'de> for BatchVisitor {
    type Value = Inbound<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC batch")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(self.max_batch.min(BATCH_INITIAL_CAPACITY));
        let mut len = 0usize;
        loop {
            // Past the limit the rest is only skipped: its length goes into the message, and
            // a syntax error anywhere still makes the whole frame a parse error.
            if len < self.max_batch {
                match seq.next_element_seed(ElementSeed)? {
                    Some(item) => items.push(item),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            len += 1;
        }
        let refuse = |error| Inbound::BatchRejected(Rejected { dialect: Some(Dialect::JsonRpc), id: None, error });
        Ok(if len == 0 {
            refuse(DecodeError::EmptyBatch)
        } else if len > self.max_batch {
            refuse(DecodeError::BatchTooLarge { len, max: self.max_batch })
        } else {
            Inbound::Batch(items)
        })
    }
}

/// One batch element: an object is judged as JSON-RPC; anything else is an invalid request.
///
/// Caveat of the single pass: an element that is a bare number beyond `f64` (`[1e400]`) is
/// refused by serde_json itself, which makes the whole frame a parse error.
struct ElementSeed;

impl<'de> DeserializeSeed<'de> for ElementSeed {
    type Value = Result<Call<'de>, Rejected<'de>>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

fn not_object<'a>() -> Result<Call<'a>, Rejected<'a>> {
    Err(Rejected {
        dialect: Some(Dialect::JsonRpc),
        id: None,
        error: DecodeError::InvalidRequest("batch element is not an object"),
    })
}

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Result<Call<'de>, Rejected<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC request")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        read_envelope(map).map(|env| judge(env, true))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // A nested array is consumed (iteratively, by IgnoredAny) so the batch can go on.
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(not_object())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(not_object())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(not_object())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(not_object())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(not_object())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(not_object())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(not_object())
    }
}

/// The JSON type of a raw value, from its first byte (serde_json strips leading whitespace).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Number,
    Null,
    Object,
    Array,
    Bool,
}

fn kind(raw: &RawValue) -> Kind {
    match raw.get().as_bytes().first() {
        Some(b'"') => Kind::String,
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'n') => Kind::Null,
        Some(b't' | b'f') => Kind::Bool,
        // `-` or a digit: serde_json has already checked it is a number.
        _ => Kind::Number,
    }
}

/// The text of a raw JSON string: borrowed when it holds no escape, unescaped otherwise.
fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let s = raw.get();
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.as_bytes().contains(&b'\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(s).ok().map(Cow::Owned)
}

/// Apply the dialect's rules to an object. `in_batch` forces JSON-RPC: batches exist only there.
fn judge(env: Envelope<'_>, in_batch: bool) -> Result<Call<'_>, Rejected<'_>> {
    let dialect = if in_batch || env.jsonrpc.is_some() {
        Some(Dialect::JsonRpc)
    } else if env.ty.is_some() {
        Some(Dialect::Frames)
    } else {
        None
    };
    // Echo the id in the error whenever it is one a reply can carry, even if the rest is bad.
    let id = env.id.filter(|id| matches!(kind(id), Kind::String | Kind::Number | Kind::Null));
    let reject = |why| Rejected { dialect, id, error: DecodeError::InvalidRequest(why) };
    if env.duplicate {
        return Err(reject("duplicate member"));
    }
    match dialect {
        None => Err(reject("object has neither a \"jsonrpc\" nor a \"type\" member")),
        Some(Dialect::Frames) => {
            if env.ty.and_then(raw_str).as_deref() != Some("req") {
                return Err(reject("type must be \"req\""));
            }
            let id = match env.id.map(|id| (id, kind(id))) {
                None => return Err(reject("missing id")),
                Some((id, Kind::String | Kind::Number)) => id,
                Some(_) => return Err(reject("id must be a string or number")),
            };
            let method = method(env.method).map_err(reject)?;
            let params = match env.params.map(|p| (p, kind(p))) {
                None | Some((_, Kind::Null)) => None,
                Some((p, Kind::Object)) => Some(p),
                Some(_) => return Err(reject("params must be an object")),
            };
            Ok(Call { dialect: Dialect::Frames, id: Some(id), method, params })
        }
        Some(Dialect::JsonRpc) => {
            // Exactly "2.0" (an escaped spelling of it is still "2.0").
            if env.jsonrpc.and_then(raw_str).as_deref() != Some("2.0") {
                return Err(reject("jsonrpc must be \"2.0\""));
            }
            if env.id.is_some() && id.is_none() {
                return Err(reject("id must be a string, number or null"));
            }
            let method = method(env.method).map_err(reject)?;
            let params = match env.params.map(|p| (p, kind(p))) {
                None => None,
                Some((p, Kind::Object | Kind::Array)) => Some(p),
                Some(_) => return Err(reject("params must be an object or array")),
            };
            Ok(Call { dialect: Dialect::JsonRpc, id, method, params })
        }
    }
}

/// Both dialects: `method` is present, a string of valid Unicode, and not empty.
fn method(raw: Option<&RawValue>) -> Result<Cow<'_, str>, &'static str> {
    let raw = raw.ok_or("missing method")?;
    if kind(raw) != Kind::String {
        return Err("method must be a string");
    }
    // serde_json skips `\ud800` inside a raw value but refuses to unescape it.
    let name = raw_str(raw).ok_or("method must be valid Unicode")?;
    if name.is_empty() {
        return Err("method must not be empty");
    }
    Ok(name)
}
