//! Calendar formatting for the `Date` header (IMF-fixdate) and JSON timestamps (RFC 3339).
//!
//! Pure functions of a Unix time; the caller reads the clock and caches the result,
//! so the hot path formats a date at most once per second.

/// Days-from-civil inverse (Howard Hinnant's algorithm): Unix day number to (y, m, d).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `Sun, 06 Nov 1994 08:49:37 GMT` for a Unix time in seconds.
#[must_use]
pub fn imf_fixdate(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let weekday = DAYS.get((days.rem_euclid(7)) as usize).copied().unwrap_or("Thu");
    let month = MONTHS.get((m as usize).saturating_sub(1)).copied().unwrap_or("Jan");
    format!("{weekday}, {d:02} {month} {y:04} {:02}:{:02}:{:02} GMT", secs / 3600, (secs / 60) % 60, secs % 60)
}

/// `2026-11-23T19:30:25.123Z` for a Unix time in milliseconds.
#[must_use]
pub fn rfc3339_millis(unix_millis: u64) -> String {
    let secs = unix_millis / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, (rem / 60) % 60, rem % 60, unix_millis % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(rfc3339_millis(1_795_462_225_123), "2026-11-23T19:30:25.123Z");
        assert_eq!(rfc3339_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
