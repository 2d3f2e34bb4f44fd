//! The `webhook_body` check: every channel's `classify` and `normalize` on arbitrary bytes,
//! with the properties the two promise each other (kept apart from `lib.rs`, which is long).

use sha2::{Digest, Sha256};
use talon::webhook::Channel;
use talon::webhook::delivery::{BodyError, Classified, MAX_ID_BYTES, classify};
use talon::webhook::normalize::{Message, normalize};

/// The `Content-Type` values an input's first byte picks from (`byte % 4`).
const CONTENT_TYPES: [Option<&str>; 4] =
    [None, Some("application/json"), Some("application/x-www-form-urlencoded"), Some("text/plain")];

/// Splits `[content-type selector][body…]`.
#[must_use]
pub fn split_webhook_body_input(data: &[u8]) -> (Option<&'static str>, &[u8]) {
    let selector = usize::from(data.first().copied().unwrap_or(0)) % CONTENT_TYPES.len();
    (CONTENT_TYPES.get(selector).copied().flatten(), data.get(1..).unwrap_or_default())
}

/// Feeds one body to `classify` and `normalize` for every channel. Neither may panic, and:
/// - classify is deterministic;
/// - a delivery id is non-empty, at most `MAX_ID_BYTES`, free of control characters, and for
///   Human and Comis the body's SHA-256 hex (recomputed here with `sha2`);
/// - a handshake comes only from its own channel and normalizes to no message;
/// - a delivery normalizes, but for a duplicated field only normalize reads or (as not JSON) an
///   unpaired surrogate escape where normalize reads a key or an object;
/// - a body classify refuses as empty, not an object, too deep or off-schema, normalize refuses
///   the same way; not JSON, likewise or as a duplicated field met before the syntax error;
/// - every message names its channel, has a bounded identifier as kind, and serialises to JSON.
pub fn check_webhook_body(data: &[u8]) {
    let (content_type, body) = split_webhook_body_input(data);
    for channel in Channel::ALL {
        let got = classify(channel, content_type, body);
        assert_eq!(got, classify(channel, content_type, body), "{channel:?}: classify is not deterministic");
        let normalized = normalize(channel, content_type, body);
        match &got {
            Ok(Classified::Deliver { delivery_id: id }) => {
                assert!(!id.is_empty() && id.len() <= MAX_ID_BYTES, "{channel:?}: id of {} bytes", id.len());
                assert!(!id.chars().any(char::is_control), "{channel:?}: control character in id {id:?}");
                if matches!(channel, Channel::Generic | Channel::Hooks) {
                    assert_eq!(id, &hex(&Sha256::digest(body)), "{channel:?}: id is not the body's SHA-256");
                }
                assert!(
                    normalized.is_ok() || excused(body, &normalized),
                    "{channel:?}: delivery does not normalize: {normalized:?}"
                );
            }
            Ok(handshake) => {
                let own = match handshake {
                    Classified::SlackChallenge { challenge } => !challenge.is_empty() && channel == Channel::Slack,
                    Classified::DiscordPing => channel == Channel::Discord,
                    Classified::LineVerify => channel == Channel::Line,
                    Classified::LarkChallenge { challenge, .. } => !challenge.is_empty() && channel == Channel::Lark,
                    Classified::Deliver { .. } => false,
                };
                assert!(own, "{channel:?}: {handshake:?}");
                assert!(
                    matches!(&normalized, Ok(m) if m.is_empty()) || excused(body, &normalized),
                    "{channel:?}: handshake normalizes to {normalized:?}"
                );
            }
            Err(e) => {
                assert!(!e.code().is_empty() && !e.to_string().is_empty());
                assert!(!e.is_schema() || channel == Channel::Hooks, "{channel:?}: schema error outside hooks");
                let same = match e {
                    BodyError::Empty | BodyError::NotObject | BodyError::TooDeep | BodyError::Schema { .. } => {
                        normalized == Err(*e)
                    }
                    BodyError::NotJson => matches!(normalized, Err(BodyError::NotJson | BodyError::DuplicateField)),
                    _ => true,
                };
                assert!(same, "{channel:?}: classify {e:?} but normalize {normalized:?}");
            }
        }
        if let Ok(messages) = &normalized {
            for m in messages {
                check_message(channel, m);
            }
            let json = serde_json::to_vec(messages).expect("messages serialise");
            assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok(), "messages are not JSON");
        }
    }
}

fn check_message(channel: Channel, m: &Message) {
    assert_eq!(m.channel, channel.name());
    let ident = |k: &str| {
        !k.is_empty()
            && k.len() <= 64
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
    };
    assert!(ident(&m.kind), "{channel:?}: kind {:?}", m.kind);
    for a in &m.attachments {
        assert!(ident(&a.kind), "{channel:?}: attachment kind {:?}", a.kind);
    }
}

/// The failures normalize may have on a body classify accepted: a duplicated field, or an
/// unpaired surrogate escape, that only normalize's structs read.
/// (In a Slack form body the JSON is the percent-decoded `payload`, and its failures read as
/// `BadField`.)
fn excused(body: &[u8], normalized: &Result<Vec<Message>, BodyError>) -> bool {
    match normalized {
        Err(BodyError::DuplicateField) => true,
        Err(BodyError::NotJson) => has_surrogate_escape(body),
        Err(BodyError::BadField { field: "payload", .. }) => has_surrogate_escape(&percent_decoded(body)),
        _ => false,
    }
}

/// `body` with every `%XX` escape decoded (enough to find escapes hidden in a form value).
fn percent_decoded(body: &[u8]) -> Vec<u8> {
    let hex = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        let pair = body.get(i + 1).and_then(|&h| hex(h)).zip(body.get(i + 2).and_then(|&l| hex(l)));
        match (c, pair) {
            (b'%', Some((h, l))) => {
                out.push((h << 4) | l);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Whether `body` has a `\\u` escape of a UTF-16 surrogate (D800-DFFF), paired or not.
fn has_surrogate_escape(body: &[u8]) -> bool {
    body.windows(4).any(|w| matches!(w, [b'\\', b'u', b'd' | b'D', b'8' | b'9' | b'a'..=b'f' | b'A'..=b'F']))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
