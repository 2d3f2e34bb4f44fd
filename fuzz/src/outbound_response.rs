//! The `outbound_response` check: every platform's response classifier (and Lark's token
//! parser) on arbitrary responses, and the reply splitter on arbitrary text, with the
//! properties the outbound sender relies on (kept apart from `lib.rs`, which is long).

use std::time::Duration;

use talon::outbound::backoff::MAX_RETRY_AFTER;
use talon::outbound::split::{Limit, message_limit, row_limit, split};
use talon::outbound::{MAX_ERROR_CHARS, OutResponse, Verdict, discord, lark, line, slack, telegram, whatsapp};
use talon::webhook::Channel;

/// What an error text may add around the clipped platform text (`lark token: ` and the like).
const ERROR_PREFIX_ALLOWANCE: usize = 32;

/// Narrow limits, so cuts, break characters and characters wider than the limit are reached
/// with short inputs; plus every platform's real limits.
const SMALL_LIMITS: [Limit; 5] = [Limit::Utf16(1), Limit::Utf16(7), Limit::Bytes(3), Limit::Bytes(9), Limit::Utf16(40)];

/// Splits `[selector][status hi][status lo][retry-after length][retry-after…][body…]`.
#[must_use]
pub fn split_outbound_input(data: &[u8]) -> (u8, u16, Option<&str>, &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let status = u16::from_be_bytes([byte(1), byte(2)]) % 1000;
    let ra_len = usize::from(byte(3) % 16);
    let rest = data.get(4..).unwrap_or_default();
    let (ra, body) = rest.split_at(ra_len.min(rest.len()));
    // An odd length byte means no header at all; an even one, the bytes as given (if UTF-8).
    let retry_after = if byte(3) % 2 == 1 { None } else { std::str::from_utf8(ra).ok() };
    (byte(0) % 8, status, retry_after, body)
}

fn check_verdict(v: &Verdict, status: u16, sent_also_on: Option<u16>) {
    match v {
        Verdict::Sent => {
            assert!((200..300).contains(&status) || sent_also_on == Some(status), "HTTP {status} counted as delivered")
        }
        Verdict::Retry { after, error } => {
            if let Some(after) = after {
                assert!(*after <= MAX_RETRY_AFTER, "a platform delay of {after:?} passed the cap");
            }
            check_error(error);
        }
        Verdict::Failed { error } => {
            assert!(!(200..300).contains(&status) || !error.is_empty(), "a 2xx failed without a reason");
            check_error(error);
        }
    }
}

fn check_error(error: &str) {
    assert!(!error.is_empty(), "an outcome without its error text");
    let n = error.chars().count();
    assert!(n <= MAX_ERROR_CHARS + ERROR_PREFIX_ALLOWANCE, "error text of {n} characters");
}

/// Every classifier on one response: none may panic, each answers the same twice, a 2xx is
/// the only thing counted as delivered (and LINE's 409 on a push, which means "already
/// accepted"), a platform's delay never passes [`MAX_RETRY_AFTER`], error texts are present
/// and clipped, and Lark's token parser only hands out a non-empty token from a 2xx. Then
/// the body, as text, through the splitter under narrow and real limits.
pub fn check_outbound_response(data: &[u8]) {
    let (selector, status, retry_after, body) = split_outbound_input(data);
    let response = OutResponse { status, retry_after, body };
    let (verdict, sent_also_on) = match selector {
        0 => (telegram::classify(&response), None),
        1 => (slack::classify(&response), None),
        2 => (discord::classify(&response), None),
        3 => (whatsapp::classify(&response), None),
        4 => (line::classify(&response, false), None),
        5 => (line::classify(&response, true), Some(409)),
        6 => (lark::classify(&response), None),
        _ => {
            match lark::parse_token(&response) {
                Ok((token, usable)) => {
                    assert!(!token.is_empty() && (200..300).contains(&status), "token from HTTP {status}");
                    assert!(usable <= Duration::from_secs(u64::MAX / 2), "token lifetime {usable:?}");
                }
                Err(v) => {
                    assert!(!matches!(v, Verdict::Sent), "a token failure answered as delivered");
                    check_verdict(&v, status, None);
                }
            }
            let _ = lark::token_rejected(&response);
            (lark::classify(&response), None)
        }
    };
    check_verdict(&verdict, status, sent_also_on);
    let again = match selector {
        0 => telegram::classify(&response),
        1 => slack::classify(&response),
        2 => discord::classify(&response),
        3 => whatsapp::classify(&response),
        4 => line::classify(&response, false),
        5 => line::classify(&response, true),
        _ => lark::classify(&response),
    };
    assert_eq!(verdict, again, "classification is not deterministic");

    let text = String::from_utf8_lossy(body);
    for limit in SMALL_LIMITS {
        check_split(&text, limit);
    }
    for channel in Channel::ALL {
        check_split(&text, message_limit(channel));
        check_split(&text, row_limit(channel));
    }
}

fn cost(s: &str, limit: Limit) -> usize {
    s.chars()
        .map(|c| match limit {
            Limit::Utf16(_) => c.len_utf16(),
            Limit::Bytes(_) => c.len_utf8(),
        })
        .sum()
}

/// Parts are non-empty slices of `text`, in order, within the limit (or a single character
/// wider than it); what lies between them is whitespace the cuts consumed, so no visible
/// character is lost or repeated.
fn check_split(text: &str, limit: Limit) {
    let max = match limit {
        Limit::Utf16(n) | Limit::Bytes(n) => n.max(1),
    };
    let parts = split(text, limit);
    let base = text.as_ptr() as usize;
    let mut pos = 0usize;
    for part in &parts {
        assert!(!part.is_empty(), "an empty part under {limit:?}");
        let c = cost(part, limit);
        assert!(c <= max || part.chars().count() == 1, "a part of {c} units under {limit:?}");
        let start = (part.as_ptr() as usize).checked_sub(base).expect("a part outside the text");
        assert!(start >= pos && start + part.len() <= text.len(), "parts out of order under {limit:?}");
        let gap = text.get(pos..start).expect("a part cut inside a character");
        assert!(gap.chars().all(char::is_whitespace), "{gap:?} lost between parts under {limit:?}");
        pos = start + part.len();
    }
    let tail = text.get(pos..).expect("a part cut inside a character");
    assert!(tail.chars().all(char::is_whitespace), "{tail:?} lost after the last part under {limit:?}");
    assert_eq!(parts.is_empty(), text.is_empty(), "text {text:?} gave no parts");
}
