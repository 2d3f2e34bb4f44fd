//! Lenient serde building blocks for reading webhook bodies, shared by [`super::delivery`] and
//! [`super::normalize`], plus the byte helpers both need (SHA-256 hex, form decoding).
//!
//! Payload structs read only the fields they need (serde skips the rest without building
//! anything) and type those fields with the wrappers here instead of `String`, `i64` or a
//! nested struct directly. Guarantees:
//! - a field whose JSON type is not the expected one never fails the parse: [`Val`] records
//!   what it found, [`Obj`] and [`List`] record [`Obj::Other`] / [`List::Other`] and skip it,
//!   so a peer adding, retyping or nulling a field degrades to "absent" instead of an error;
//! - a field that is absent stays distinguishable from one that is present with another type
//!   (`Val::Absent` vs the rest), so required fields get a specific error;
//! - the only data errors left are serde's duplicate-field errors on the fields a struct reads,
//!   which [`parse_object`] reports as [`BodyError::DuplicateField`]: two values for one key are
//!   ambiguous (parsers disagree on which wins), so they are refused rather than guessed;
//! - the body must be UTF-8 as a whole; a [`Val`] string with an unpaired UTF-16 surrogate
//!   escape (`"\ud83d"`) reads with U+FFFD in its place, while the same escape in a key, or in a
//!   string where an [`Obj`] or [`List`] is read, still fails the parse as not JSON (serde_json
//!   insists on pairs there; only hostile senders put them there);
//! - a body nesting deeper than [`MAX_DEPTH`] is refused up front ([`BodyError::TooDeep`]), so
//!   no read path reaches serde_json's 128-level limit; skipped values are walked iteratively.
//!
//! [`Val`], [`IdLike`] and [`Raw`] capture the raw text, so they work with serde_json only.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::Deserializer;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::delivery::{BodyError, MAX_DEPTH};

/// One JSON value as a leaf field: scalars kept, containers only noted (and skipped).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Val {
    /// The key was not in the object.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer (any that fits in `i128`, so every `i64` and `u64`).
    Int(i128),
    /// A number with a fraction or exponent.
    Float(f64),
    /// A string.
    Str(String),
    /// An object (its content skipped).
    Object,
    /// An array (its content skipped).
    Array,
}

impl Val {
    /// The string, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A non-empty string, or an integer in decimal: the two ways platforms spell ids.
    pub(crate) fn id(&self) -> Option<String> {
        match self {
            Self::Str(s) if !s.is_empty() => Some(s.clone()),
            Self::Int(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// A non-empty string, as text.
    pub(crate) fn text(&self) -> Option<String> {
        self.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
    }

    /// Any scalar rendered as text (for command options); containers and null give `None`.
    pub(crate) fn scalar(&self) -> Option<String> {
        match self {
            Self::Str(s) => Some(s.clone()),
            Self::Int(n) => Some(n.to_string()),
            Self::Float(f) => Some(f.to_string()),
            Self::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Whether the key was present at all (even as `null`).
    pub(crate) fn is_present(&self) -> bool {
        !matches!(self, Self::Absent)
    }
}

/// Implements the `Visitor` methods for every scalar JSON shape, returning `$none`: for the
/// wrappers that want one container type (and drain the other themselves).
macro_rules! skip_scalars {
    ($none:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_i128<E: de::Error>(self, _: i128) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_u128<E: de::Error>(self, _: u128) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
}

/// Consumes the rest of a map without keeping anything.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Consumes the rest of a sequence without keeping anything.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

impl<'de> Deserialize<'de> for Val {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Through the raw text rather than `deserialize_any`, which refuses a string holding an
        // unpaired UTF-16 surrogate escape (JavaScript senders truncating an emoji produce them).
        <&'de RawValue>::deserialize(d).map(|raw| Val::from_raw(raw.get()))
    }
}

impl Val {
    /// The value of one JSON value's text (as serde_json checked it while capturing it).
    pub(crate) fn from_raw(raw: &str) -> Self {
        match raw.as_bytes().first() {
            Some(b'"') => Self::Str(lossy_string(raw)),
            Some(b'{') => Self::Object,
            Some(b'[') => Self::Array,
            Some(b't') => Self::Bool(true),
            Some(b'f') => Self::Bool(false),
            Some(b'n') | None => Self::Null,
            // JSON number syntax is a subset of both parsers'; past i128 it is just a number.
            Some(_) => raw.parse().map(Self::Int).or_else(|_| raw.parse().map(Self::Float)).unwrap_or(Self::Null),
        }
    }
}

/// A JSON string literal's content; an unpaired surrogate escape becomes U+FFFD.
fn lossy_string(literal: &str) -> String {
    struct Bytes;
    impl Visitor<'_> for Bytes {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<String, E> {
            Ok(match std::str::from_utf8(b) {
                Ok(s) => s.to_owned(),
                Err(_) => replace_surrogates(b),
            })
        }
    }
    // Most strings have no escape: their content is the literal minus its quotes.
    if let Some(plain) = literal.strip_prefix('"').and_then(|l| l.strip_suffix('"')).filter(|p| !p.contains('\\')) {
        return plain.to_owned();
    }
    // serde_json decodes escapes for byte strings without insisting on paired surrogates; the
    // literal was validated when captured, so the empty fallback is unreachable in practice.
    let mut de = serde_json::Deserializer::from_str(literal);
    de.deserialize_bytes(Bytes).unwrap_or_default()
}

/// Text from serde_json's decoding of a byte string, where each unpaired surrogate escape is a
/// 3-byte WTF-8 sequence (`ED A0..BF 80..BF`): one U+FFFD each (not three, as a plain lossy
/// conversion would give), everything else as `from_utf8_lossy`.
fn replace_surrogates(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match (c, b.get(i + 1), b.get(i + 2)) {
            (0xED, Some(0xA0..=0xBF), Some(0x80..=0xBF)) => {
                out.extend_from_slice("\u{fffd}".as_bytes());
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An object-valued field read as `T`; any other JSON type is skipped and noted.
#[derive(Debug, Clone, Default)]
pub(crate) enum Obj<T> {
    /// The key was not in the object.
    #[default]
    Absent,
    /// Present, but not an object.
    Other,
    /// An object, read as `T` (boxed: payload structs are wide, and most of their object
    /// fields are absent, so `Obj` stays two words and moves stay cheap).
    Value(Box<T>),
}

impl<T> Obj<T> {
    /// The object, if the field was one.
    pub(crate) fn get(&self) -> Option<&T> {
        match self {
            Self::Value(t) => Some(t),
            _ => None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            skip_scalars!(Obj::Other);
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|t| Obj::Value(Box::new(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Obj<T>, A::Error> {
                drain_seq(seq).map(|()| Obj::Other)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// An array-valued field whose elements are read as `T` (itself lenient: `Obj<_>` or [`Val`]).
#[derive(Debug, Clone, Default)]
pub(crate) enum List<T> {
    /// The key was not in the object.
    #[default]
    Absent,
    /// Present, but not an array.
    Other,
    /// An array.
    Items(Vec<T>),
}

impl<T> List<T> {
    /// The elements (none unless the field was an array).
    pub(crate) fn items(&self) -> &[T] {
        match self {
            Self::Items(v) => v,
            _ => &[],
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            skip_scalars!(List::Other);
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<List<T>, A::Error> {
                Vec::<T>::deserialize(SeqAccessDeserializer::new(seq)).map(List::Items)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<List<T>, A::Error> {
                drain_map(map).map(|()| List::Other)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Who sent something, spelled as a bare id (string or integer) or an object with an `id`
/// (`"from": "u1"`, `"from": 42`, `"from": {"id": 42, "name": …}`); anything else is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct IdLike(pub(crate) Option<String>);

impl<'de> Deserialize<'de> for IdLike {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct WithId {
            id: Val,
        }
        let raw = <&'de RawValue>::deserialize(d)?.get();
        Ok(IdLike(match Val::from_raw(raw) {
            // A re-parse of a captured object: its own errors (a duplicated `id`) mean no id.
            Val::Object => serde_json::from_str::<WithId>(raw).ok().and_then(|w| w.id.id()),
            v => v.id(),
        }))
    }
}

/// A field kept as its raw JSON text (any type, `null` included), borrowed from the body.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Raw<'a>(pub(crate) Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Called only when the key is present, so `null` becomes `Some("null")`, not `None`.
        <&'a RawValue>::deserialize(d).map(|r| Raw(Some(r)))
    }
}

/// Parses `body` as one JSON object into `T`, with the specific error for each way it is not:
/// empty (or only whitespace), not JSON, JSON but not an object, or a read field given twice.
pub(crate) fn parse_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, BodyError> {
    let Some(first) = first_non_blank(body) else {
        return Err(BodyError::Empty);
    };
    // JSON is UTF-8 (RFC 8259 §8.1). Checked whole and first, because serde_json checks only
    // the strings a struct reads: skipped ones would otherwise pass here and fail elsewhere.
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotJson)?;
    if nesting_exceeds(body, MAX_DEPTH) {
        return Err(BodyError::TooDeep);
    }
    if first != b'{' {
        // Derived structs also accept arrays (fields by position), so objects are checked here.
        return Err(match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => BodyError::NotObject,
            Err(_) => BodyError::NotJson,
        });
    }
    serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => BodyError::DuplicateField,
        _ => BodyError::NotJson,
    })
}

/// The first byte that is not JSON whitespace (space, tab, LF, CR); `None` for a blank body.
/// The one definition of "empty" for every channel, so classify and normalize agree on it.
pub(crate) fn first_non_blank(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Whether `json` nests objects/arrays deeper than `max` (brackets inside strings ignored).
/// A plain scan, so it also bounds bodies that are not JSON at all; those fail right after.
fn nesting_exceeds(json: &[u8], max: usize) -> bool {
    // Depth never exceeds the number of openers, which a branch-free (vectorised) count finds
    // in a fraction of the exact scan's time; typical payloads have a few dozen at most.
    // `b | 0x20` maps '[' (0x5B) onto '{' (0x7B) and nothing else onto it; byte-wide counters
    // over 255-byte chunks (which cannot overflow) are what the compiler vectorises.
    let openers: usize = json
        .chunks(255)
        .map(|chunk| usize::from(chunk.iter().fold(0u8, |n, &b| n.wrapping_add(u8::from(b | 0x20 == b'{')))))
        .sum();
    if openers <= max {
        return false;
    }
    let mut depth = 0usize;
    let mut bytes = json.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => {
                // Skip the string: an escape takes the next byte with it.
                while let Some(&c) = bytes.next() {
                    match c {
                        b'\\' => {
                            bytes.next();
                        }
                        b'"' => break,
                        _ => {}
                    }
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    // Both nibbles are below 16, so `from_digit` always succeeds; '0' only satisfies the type.
    let digit = |n: u8| char::from_digit(u32::from(n), 16).unwrap_or('0');
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        out.push(digit(b >> 4));
        out.push(digit(b & 0xf));
    }
    out
}

/// Whether a Slack body is form-encoded: by its `Content-Type` when given (media type only,
/// case-insensitive), else by sniffing (JSON bodies start with `{` after whitespace).
pub(crate) fn is_form(content_type: Option<&str>, body: &[u8]) -> bool {
    match content_type {
        Some(ct) => {
            let media = ct.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        }
        None => first_non_blank(body).is_some_and(|b| b != b'{'),
    }
}

/// The first value of `name` in an `application/x-www-form-urlencoded` body, decoded; only the
/// matching value is decoded (names are compared raw unless they carry an escape).
///
/// Follows the WHATWG parser: `+` is a space, `%XX` a byte, a malformed `%` is kept as is, and
/// invalid UTF-8 becomes U+FFFD; so decoding never fails (Slack's bodies are always valid).
pub(crate) fn form_value(body: &[u8], name: &str) -> Option<String> {
    body.split(|b| *b == b'&').find_map(|part| {
        let (raw_name, raw_value) = match part.iter().position(|b| *b == b'=') {
            Some(at) => (part.get(..at).unwrap_or_default(), part.get(at + 1..).unwrap_or_default()),
            None => (part, &[][..]),
        };
        let matches = if raw_name.iter().any(|b| matches!(b, b'%' | b'+')) {
            percent_decode(raw_name) == name
        } else {
            raw_name == name.as_bytes()
        };
        (matches && !part.is_empty()).then(|| percent_decode(raw_value))
    })
}

/// One form-encoded component, decoded.
fn percent_decode(raw: &[u8]) -> String {
    if !raw.iter().any(|b| matches!(b, b'%' | b'+')) {
        return String::from_utf8_lossy(raw).into_owned();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        let escaped = match (c, raw.get(i + 1).and_then(|h| hex_val(*h)), raw.get(i + 2).and_then(|l| hex_val(*l))) {
            (b'%', Some(h), Some(l)) => Some((h << 4) | l),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(if c == b'+' { b' ' } else { c });
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The value of one hexadecimal digit (either case).
fn hex_val(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Probe {
        a: Val,
        o: Obj<Inner>,
        l: List<Val>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Inner {
        x: Val,
    }

    #[test]
    fn wrappers_record_shapes_instead_of_failing() {
        let p: Probe = parse_object(br#"{"a":[1,{"b":2}],"o":"str","l":{"k":[]},"zzz":[[[]]]}"#).expect("parses");
        assert_eq!(p.a, Val::Array);
        assert!(matches!(p.o, Obj::Other));
        assert!(matches!(p.l, List::Other));
        let p: Probe = parse_object(br#"{"a":-5,"o":{"x":"y","q":1},"l":[1,"s",null,1.5,true]}"#).expect("parses");
        assert_eq!(p.a, Val::Int(-5));
        assert_eq!(p.o.get().map(|i| i.x.clone()), Some(Val::Str("y".into())));
        assert_eq!(
            p.l.items(),
            [Val::Int(1), Val::Str("s".into()), Val::Null, Val::Float(1.5), Val::Bool(true)].as_slice()
        );
        let p: Probe = parse_object(b"{}").expect("parses");
        assert!(!p.a.is_present());
        assert!(matches!((p.o, p.l), (Obj::Absent, List::Absent)));
        assert_eq!(Val::Int(u64::MAX.into()).id().as_deref(), Some("18446744073709551615"));
    }

    #[test]
    fn parse_object_errors() {
        assert_eq!(parse_object::<Probe>(b"").err(), Some(BodyError::Empty));
        assert_eq!(parse_object::<Probe>(b" \r\n").err(), Some(BodyError::Empty));
        assert_eq!(parse_object::<Probe>(b"[1]").err(), Some(BodyError::NotObject));
        assert_eq!(parse_object::<Probe>(b"\"s\"").err(), Some(BodyError::NotObject));
        assert_eq!(parse_object::<Probe>(b"nope").err(), Some(BodyError::NotJson));
        assert_eq!(parse_object::<Probe>(b"{\"a\":1}x").err(), Some(BodyError::NotJson));
        assert_eq!(parse_object::<Probe>(b"{\"a\":1,\"a\":2}").err(), Some(BodyError::DuplicateField));
        assert_eq!(parse_object::<Probe>(b"{\"o\":{\"x\":1,\"x\":2}}").err(), Some(BodyError::DuplicateField));
        // Duplicates of keys nobody reads are skipped like every unread key.
        assert!(parse_object::<Probe>(b"{\"z\":1,\"z\":2}").is_ok());
        let nested = |n: usize| format!("{{\"a\":{}{}}}", "[".repeat(n), "]".repeat(n));
        assert_eq!(parse_object::<Probe>(nested(MAX_DEPTH - 1).as_bytes()).map(|p| p.a).ok(), Some(Val::Array));
        assert_eq!(parse_object::<Probe>(nested(MAX_DEPTH).as_bytes()).err(), Some(BodyError::TooDeep));
        assert_eq!(parse_object::<Probe>(nested(100_000).as_bytes()).err(), Some(BodyError::TooDeep));
        // Brackets inside strings (escaped quotes included) are text, not nesting.
        let text = format!("{{\"a\":\"\\\"{}\"}}", "[".repeat(1000));
        assert!(matches!(parse_object::<Probe>(text.as_bytes()).map(|p| p.a), Ok(Val::Str(_))));
        assert_eq!(parse_object::<Probe>(b"{\"a\":\"\xff\"}").err(), Some(BodyError::NotJson));
    }

    #[test]
    fn unpaired_surrogates_cost_one_character() {
        let v: Probe = parse_object(br#"{"a":"x\ud83d y \udc00\ud83d\ude00"}"#).expect("parses");
        assert_eq!(v.a, Val::Str("x\u{fffd} y \u{fffd}\u{1f600}".into()));
        assert_eq!(Val::from_raw(r#""caf\u00e9""#), Val::Str("caf\u{e9}".into()));
    }

    #[test]
    fn form_decoding_is_whatwg_lenient() {
        let body = b"a=1+2&b=%2Fx%zz&&c&d=%E2%9C%93&e=%FF&a=second&%66+x=enc&plain";
        let get = |n| form_value(body, n);
        assert_eq!(get("a").as_deref(), Some("1 2"));
        assert_eq!(get("b").as_deref(), Some("/x%zz"));
        assert_eq!(get("c").as_deref(), Some(""));
        assert_eq!(get("d").as_deref(), Some("\u{2713}"));
        assert_eq!(get("e").as_deref(), Some("\u{fffd}"));
        assert_eq!(get("f x").as_deref(), Some("enc"));
        assert_eq!(get("plain").as_deref(), Some(""));
        assert_eq!(get("").as_deref(), None);
        assert_eq!(get("zz"), None);
        assert_eq!(form_value(b"x=%4", "x").as_deref(), Some("%4"));
    }

    #[test]
    fn form_detection() {
        assert!(is_form(Some("application/x-www-form-urlencoded; charset=utf-8"), b"{}"));
        assert!(is_form(Some("Application/X-WWW-Form-Urlencoded"), b"a=1"));
        assert!(!is_form(Some("application/json"), b"a=1"));
        assert!(is_form(None, b"a=1"));
        assert!(!is_form(None, b"  {\"a\":1}"));
        assert!(!is_form(None, b""));
    }

    #[test]
    fn sha256_hex_matches_the_known_digest() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
