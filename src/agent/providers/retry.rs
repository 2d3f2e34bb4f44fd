//! When to send a refused or failed upstream request again, and how long to wait: exponential
//! backoff, and the upstream's own `Retry-After` (delay-seconds or an HTTP date) or
//! `retry-after-ms` (OpenAI) when it sends one. Pure functions; the clock is a parameter.
//!
//! Guarantees: a wait is never longer than [`RetryPolicy::max_retry_after`] (a longer demand
//! means the request is not retried at all: the error goes to the router, which can fall back
//! to another model instead of holding the turn); delays never overflow.

use std::time::Duration;

/// Default of `providers.<name>.max_retries`: retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// First backoff delay; each retry doubles it, up to [`RETRY_MAX_DELAY`].
pub const RETRY_BASE_DELAY: Duration = Duration::from_millis(500);

/// Longest backoff delay computed by doubling.
pub const RETRY_MAX_DELAY: Duration = Duration::from_secs(8);

/// Longest wait an upstream's `Retry-After` may ask for. Asking for more: no retry; the 429 or
/// 503 is returned (with its `retry_after`) so the router can try the next model.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How one provider retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = never retry).
    pub max_retries: u32,
    /// First backoff delay.
    pub base_delay: Duration,
    /// Cap of the doubling backoff.
    pub max_delay: Duration,
    /// Cap of an upstream-requested delay (see [`MAX_RETRY_AFTER`]).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_MAX_RETRIES,
            base_delay: RETRY_BASE_DELAY,
            max_delay: RETRY_MAX_DELAY,
            max_retry_after: MAX_RETRY_AFTER,
        }
    }
}

impl RetryPolicy {
    /// The backoff before retry number `retry` (0 for the first retry): `base * 2^retry`,
    /// capped at `max_delay`. No jitter: one gateway's few concurrent turns do not stampede,
    /// and tests stay deterministic.
    #[must_use]
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay.checked_mul(factor).unwrap_or(self.max_delay).min(self.max_delay)
    }

    /// The delay before retry number `retry`: the upstream's demand if it made one, else the
    /// backoff. `None` when the upstream asks for more than `max_retry_after` (do not retry).
    #[must_use]
    pub fn delay(&self, retry: u32, upstream_demand: Option<Duration>) -> Option<Duration> {
        match upstream_demand {
            Some(d) if d > self.max_retry_after => None,
            Some(d) => Some(d),
            None => Some(self.backoff(retry)),
        }
    }
}

/// What the upstream asks us to wait, from its `retry-after-ms` (milliseconds, OpenAI) or
/// `Retry-After` (delay-seconds or an HTTP date) header. `now_unix_secs` is the current time.
/// A date in the past means no wait; an unparseable value means no demand.
#[must_use]
pub fn upstream_demand(
    retry_after_ms: Option<&str>,
    retry_after: Option<&str>,
    now_unix_secs: u64,
) -> Option<Duration> {
    if let Some(ms) = retry_after_ms.and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite() && *v >= 0.0) {
        // Fractional milliseconds are allowed by OpenAI's SDKs; whole ones are plenty.
        return Some(Duration::from_millis(ms.min(u64::MAX as f64) as u64));
    }
    let value = retry_after?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    parse_http_date(value).map(|at| Duration::from_secs(at.saturating_sub(now_unix_secs)))
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Parse an HTTP date (RFC 9110 §5.6.7) into Unix seconds: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), and the obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37
/// GMT`) and asctime (`Sun Nov  6 08:49:37 1994`) forms recipients must accept. The weekday is
/// not checked (it is redundant). `None` for anything else.
#[must_use]
pub fn parse_http_date(value: &str) -> Option<u64> {
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let (day, month, year, time) = match parts.as_slice() {
        [_, day, month, year, time, "GMT"] => (*day, *month, year.parse::<u64>().ok()?, *time),
        [_, date, time, "GMT"] => {
            let mut fields = date.split('-');
            let (day, month, yy) = (fields.next()?, fields.next()?, fields.next()?);
            if fields.next().is_some() || yy.len() != 2 {
                return None;
            }
            let yy: u64 = yy.parse().ok()?;
            // RFC 9110: a two-digit year more than 50 years in the future is in the past
            // century; for the dates an upstream sends, 70 is a fine pivot.
            (day, month, if yy < 70 { 2000 + yy } else { 1900 + yy }, *time)
        }
        [_, month, day, time, year] => (*day, *month, year.parse::<u64>().ok()?, *time),
        _ => return None,
    };
    let month = MONTHS.iter().position(|m| *m == month).and_then(|m| u64::try_from(m).ok())?.saturating_add(1);
    let day: u64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let mut hms = time.split(':').map(|f| f.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || h > 23 || m > 59 || s > 60 || !(1970..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days.saturating_mul(86_400).saturating_add(h * 3600 + m * 60 + s))
}

/// Days from 1970-01-01 to the given date (proleptic Gregorian; year ≥ 1970), after Howard
/// Hinnant's `days_from_civil`.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year.saturating_sub(1) } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day.saturating_sub(1);
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        let cases: &[(&str, Option<u64>)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_777)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(784_111_777)),
            ("Sun Nov  6 08:49:37 1994", Some(784_111_777)),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            ("Tue, 29 Feb 2028 12:00:00 GMT", Some(1_835_438_400)),
            ("Sun, 06 Nov 1994 08:49:37 UTC", None),
            ("Sun, 06 Foo 1994 08:49:37 GMT", None),
            ("Sun, 32 Nov 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 24:00:00 GMT", None),
            ("Sun, 06 Nov 1994 08:49 GMT", None),
            ("", None),
            ("120", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_http_date(text), *want, "{text}");
        }
    }

    #[test]
    fn demands_and_delays() {
        let now = 784_111_777;
        let secs = Duration::from_secs;
        assert_eq!(upstream_demand(None, Some("3"), now), Some(secs(3)));
        assert_eq!(upstream_demand(None, Some(" 0 "), now), Some(secs(0)));
        assert_eq!(upstream_demand(None, Some("Sun, 06 Nov 1994 08:49:47 GMT"), now), Some(secs(10)));
        assert_eq!(upstream_demand(None, Some("Sun, 06 Nov 1994 08:00:00 GMT"), now), Some(secs(0)));
        assert_eq!(upstream_demand(Some("250"), Some("9"), now), Some(Duration::from_millis(250)));
        assert_eq!(upstream_demand(Some("x"), Some("9"), now), Some(secs(9)));
        assert_eq!(upstream_demand(None, Some("-1"), now), None);
        assert_eq!(upstream_demand(None, None, now), None);

        let p = RetryPolicy::default();
        assert_eq!(p.backoff(0), Duration::from_millis(500));
        assert_eq!(p.backoff(1), secs(1));
        assert_eq!(p.backoff(4), secs(8));
        assert_eq!(p.backoff(u32::MAX), secs(8));
        assert_eq!(p.delay(0, Some(secs(2))), Some(secs(2)));
        assert_eq!(p.delay(0, Some(secs(31))), None);
        assert_eq!(p.delay(2, None), Some(secs(2)));
    }
}
