//! Cutting a reply into messages the platform accepts.
//!
//! Guarantees: every part is non-empty and within the platform's limit in the unit the
//! platform counts (a limit narrower than one character, never a platform's, gets that
//! character alone) (UTF-16 code units for the character limits, which is never fewer than the
//! characters the platforms count; bytes for Lark); joining the parts with the separator each
//! cut consumed gives the text back; a cut never falls inside a character. A cut prefers the
//! last line break, then the last space, in the second half of the window, so words stay
//! whole when they can.

use crate::webhook::Channel;

/// Telegram `sendMessage`: 1-4096 characters after entity parsing.
pub const TELEGRAM_MAX_TEXT: usize = 4096;
/// Slack `chat.postMessage`: text is truncated past 40,000 characters.
pub const SLACK_MAX_TEXT: usize = 40_000;
/// Discord message `content`: 2000 characters.
pub const DISCORD_MAX_TEXT: usize = 2000;
/// WhatsApp Cloud `text.body`: 4096 characters.
pub const WHATSAPP_MAX_TEXT: usize = 4096;
/// LINE text message: 5000 characters.
pub const LINE_MAX_TEXT: usize = 5000;
/// LINE: messages in one reply or push request.
pub const LINE_MAX_MESSAGES_PER_REQUEST: usize = 5;
/// Lark text content: the platform caps the request near 30 KB; the text is JSON-encoded twice
/// (`content` is a JSON string holding JSON), so leave room for the escaping of ordinary text.
pub const LARK_MAX_TEXT_BYTES: usize = 28 * 1024;

/// How a platform measures a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most this many UTF-16 code units.
    Utf16(usize),
    /// At most this many UTF-8 bytes.
    Bytes(usize),
}

impl Limit {
    fn max(self) -> usize {
        match self {
            Self::Utf16(n) | Self::Bytes(n) => n.max(1),
        }
    }

    fn cost(self, c: char) -> usize {
        match self {
            Self::Utf16(_) => c.len_utf16(),
            Self::Bytes(_) => c.len_utf8(),
        }
    }
}

/// One platform message's limit.
#[must_use]
pub const fn message_limit(channel: Channel) -> Limit {
    match channel {
        Channel::Slack => Limit::Utf16(SLACK_MAX_TEXT),
        Channel::Discord => Limit::Utf16(DISCORD_MAX_TEXT),
        Channel::WhatsApp => Limit::Utf16(WHATSAPP_MAX_TEXT),
        Channel::Line => Limit::Utf16(LINE_MAX_TEXT),
        Channel::Lark => Limit::Bytes(LARK_MAX_TEXT_BYTES),
        Channel::Telegram | Channel::Generic | Channel::Hooks => Limit::Utf16(TELEGRAM_MAX_TEXT),
    }
}

/// What one outbox row holds: one message, except LINE, whose one request carries up to
/// [`LINE_MAX_MESSAGES_PER_REQUEST`] messages (so a reply token, usable once, covers them all).
#[must_use]
pub const fn row_limit(channel: Channel) -> Limit {
    match channel {
        Channel::Line => Limit::Utf16(LINE_MAX_TEXT * LINE_MAX_MESSAGES_PER_REQUEST),
        other => message_limit(other),
    }
}

/// `text` in parts within `limit`. Empty text gives no parts.
#[must_use]
pub fn split(text: &str, limit: Limit) -> Vec<&str> {
    let max = limit.max();
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut used = 0usize;
        let mut end = rest.len();
        let mut last_newline = None;
        let mut last_space = None;
        for (i, c) in rest.char_indices() {
            let cost = limit.cost(c);
            if used + cost > max {
                end = i;
                break;
            }
            used += cost;
            // A break character past half the window: cut there, keep the part long.
            if used * 2 >= max {
                if c == '\n' {
                    last_newline = Some(i);
                } else if c.is_whitespace() {
                    last_space = Some(i);
                }
            }
        }
        if end == rest.len() {
            parts.push(rest);
            break;
        }
        if end == 0 {
            // The limit is narrower than this one character (only a limit under 4 can be):
            // it goes alone, or the loop would never advance.
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        // The break character itself is consumed by the cut (it separated the parts).
        let (part, next) = match last_newline.or(last_space) {
            Some(at) => {
                let width = rest[at..].chars().next().map_or(1, char::len_utf8);
                (&rest[..at], &rest[at + width..])
            }
            None => (&rest[..end], &rest[end..]),
        };
        if !part.is_empty() {
            parts.push(part);
        }
        rest = next;
    }
    parts
}

/// `text` in rows for `channel` (see [`row_limit`]).
#[must_use]
pub fn split_rows(channel: Channel, text: &str) -> Vec<&str> {
    split(text, row_limit(channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str, limit: Limit) -> usize {
        s.chars().map(|c| limit.cost(c)).sum()
    }

    /// Regression (fuzz): a limit narrower than a character made the loop spin forever.
    #[test]
    fn a_limit_narrower_than_a_character_still_advances() {
        assert_eq!(split("\u{1F600}a\u{1F600}", Limit::Utf16(1)), vec!["\u{1F600}", "a", "\u{1F600}"]);
        assert_eq!(split("\u{1F600}\u{1F600}", Limit::Bytes(3)), vec!["\u{1F600}", "\u{1F600}"]);
    }

    #[test]
    fn short_text_is_one_part_and_empty_is_none() {
        assert_eq!(split("hello", Limit::Utf16(10)), vec!["hello"]);
        assert!(split("", Limit::Utf16(10)).is_empty());
        assert_eq!(split("0123456789", Limit::Utf16(10)), vec!["0123456789"]);
    }

    #[test]
    fn prefers_newline_then_space_then_hard_cut() {
        assert_eq!(split("aaaa bbb\ncc dd", Limit::Utf16(10)), vec!["aaaa bbb", "cc dd"]);
        assert_eq!(split("aaaa bbbb cc", Limit::Utf16(10)), vec!["aaaa bbbb", "cc"]);
        assert_eq!(split("abcdefghijkl", Limit::Utf16(5)), vec!["abcde", "fghij", "kl"]);
        // A space in the first half is not used: the part would be too short.
        assert_eq!(split("a bcdefghij", Limit::Utf16(6)), vec!["a bcde", "fghij"]);
    }

    #[test]
    fn never_cuts_inside_a_character_and_counts_utf16() {
        // Each emoji is 2 UTF-16 units and 4 bytes.
        let text = "😀😀😀😀😀";
        let parts = split(text, Limit::Utf16(4));
        assert_eq!(parts, vec!["😀😀", "😀😀", "😀"]);
        let parts = split(text, Limit::Bytes(6));
        assert_eq!(parts.len(), 5);
        let parts = split("é".repeat(5).as_str(), Limit::Bytes(3)).len();
        assert_eq!(parts, 5);
    }

    #[test]
    fn every_channel_limit_holds_on_long_text() {
        let text = "word ".repeat(30_000) + &"x".repeat(70_000) + "\nend";
        for channel in Channel::NATIVE {
            let limit = message_limit(channel);
            let parts = split(&text, limit);
            assert!(parts.len() > 1, "{channel:?}");
            for p in &parts {
                assert!(!p.is_empty());
                assert!(units(p, limit) <= limit.max(), "{channel:?} part of {} units", units(p, limit));
            }
            // Nothing lost but the separators consumed at cuts.
            let kept: usize = parts.iter().map(|p| p.len()).sum();
            assert!(kept <= text.len() && kept + parts.len() >= text.len(), "{channel:?}");
        }
        assert_eq!(split(&"a".repeat(4097), message_limit(Channel::Telegram)).len(), 2);
        assert_eq!(split(&"a".repeat(2001), message_limit(Channel::Discord)).len(), 2);
        assert_eq!(split(&"a".repeat(25_000), row_limit(Channel::Line)).len(), 1);
    }
}
