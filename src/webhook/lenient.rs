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
//!   ambiguous (parsers disagree on which wins), so they are refused rather than guessed.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::delivery::BodyError;

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

/// Implements the `Visitor` methods for the JSON shapes a wrapper does not want, returning
/// `$none`: every scalar, or with `except_ids` every scalar but strings and integers (which the
/// wrapper then handles itself). Containers are the wrapper's to handle (and drain).
macro_rules! skip_other_shapes {
    ($none:expr) => {
        skip_other_shapes!($none, except_ids);
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
    ($none:expr, except_ids) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
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
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Val;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Val, E> {
                Ok(Val::Bool(b))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Val, E> {
                Ok(Val::Int(n.into()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Val, E> {
                Ok(Val::Int(n.into()))
            }
            fn visit_i128<E: de::Error>(self, n: i128) -> Result<Val, E> {
                Ok(Val::Int(n))
            }
            fn visit_u128<E: de::Error>(self, n: u128) -> Result<Val, E> {
                // Only reachable with serde_json's arbitrary_precision; too big is just a number.
                Ok(i128::try_from(n).map_or(Val::Float(f64::INFINITY), Val::Int))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Val, E> {
                Ok(Val::Float(n))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Val, E> {
                Ok(Val::Str(s.to_owned()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Val, E> {
                Ok(Val::Str(s))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Val, E> {
                Ok(Val::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Val, E> {
                Ok(Val::Null)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Val, A::Error> {
                drain_map(map).map(|()| Val::Object)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Val, A::Error> {
                drain_seq(seq).map(|()| Val::Array)
            }
        }
        d.deserialize_any(V)
    }
}

/// An object-valued field read as `T`; any other JSON type is skipped and noted.
#[derive(Debug, Clone, Default)]
pub(crate) enum Obj<T> {
    /// The key was not in the object.
    #[default]
    Absent,
    /// Present, but not an object.
    Other,
    /// An object, read as `T`.
    Value(T),
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
            skip_other_shapes!(Obj::Other);
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Obj::Value)
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
            skip_other_shapes!(List::Other);
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
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IdLike;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            skip_other_shapes!(IdLike(None), except_ids);
            fn visit_str<E: de::Error>(self, s: &str) -> Result<IdLike, E> {
                Ok(IdLike(Val::Str(s.to_owned()).id()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<IdLike, E> {
                Ok(IdLike(Some(n.to_string())))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<IdLike, E> {
                Ok(IdLike(Some(n.to_string())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<IdLike, A::Error> {
                WithId::deserialize(MapAccessDeserializer::new(map)).map(|w| IdLike(w.id.id()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<IdLike, A::Error> {
                drain_seq(seq).map(|()| IdLike(None))
            }
        }
        d.deserialize_any(V)
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
    let Some(first) = body.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) else {
        return Err(BodyError::Empty);
    };
    if *first != b'{' {
        // Derived structs also accept arrays (fields by position), so objects are checked here.
        return Err(match serde_json::from_slice::<IgnoredAny>(body) {
            Ok(_) => BodyError::NotObject,
            Err(_) => BodyError::NotJson,
        });
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => BodyError::DuplicateField,
        _ => BodyError::NotJson,
    })
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
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
        None => body.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b != b'{'),
    }
}

/// Decodes an `application/x-www-form-urlencoded` body into `(name, value)` pairs, in order.
///
/// Follows the WHATWG parser: `+` is a space, `%XX` a byte, a malformed `%` is kept as is, and
/// invalid UTF-8 becomes U+FFFD; so decoding never fails (Slack's bodies are always valid).
pub(crate) fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    body.split(|b| *b == b'&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = match part.iter().position(|b| *b == b'=') {
                Some(at) => (part.get(..at).unwrap_or_default(), part.get(at + 1..).unwrap_or_default()),
                None => (part, &[][..]),
            };
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// The first value of `name` in decoded form pairs.
pub(crate) fn form_get<'p>(pairs: &'p [(String, String)], name: &str) -> Option<&'p str> {
    pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// One form-encoded component, decoded.
fn percent_decode(raw: &[u8]) -> String {
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
        // Skipped values are walked iteratively by serde_json, so depth costs no stack.
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse_object::<Probe>(deep.as_bytes()).map(|p| p.a).ok(), Some(Val::Array));
        let unbalanced = format!("{{\"a\":{}}}", "[".repeat(100_000));
        assert_eq!(parse_object::<Probe>(unbalanced.as_bytes()).err(), Some(BodyError::NotJson));
    }

    #[test]
    fn form_decoding_is_whatwg_lenient() {
        let pairs = form_pairs(b"a=1+2&b=%2Fx%zz&&c&d=%E2%9C%93&e=%FF&a=second");
        let get = |n| form_get(&pairs, n);
        assert_eq!(get("a"), Some("1 2"));
        assert_eq!(get("b"), Some("/x%zz"));
        assert_eq!(get("c"), Some(""));
        assert_eq!(get("d"), Some("\u{2713}"));
        assert_eq!(get("e"), Some("\u{fffd}"));
        assert_eq!(form_pairs(b"x=%4").first().map(|p| p.1.as_str()), Some("%4"));
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
