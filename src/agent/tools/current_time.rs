//! `current_time`: the current date and time, in UTC or at a fixed offset from it.
//!
//! Guarantees: the output is exactly one value in the format asked for (RFC 3339 by default),
//! computed from the system clock with the proleptic Gregorian calendar; time zone names are
//! not supported (there is no time zone database in the gateway), only fixed offsets
//! (`+HH:MM`, `-HH:MM`, `Z`) of at most [`MAX_OFFSET_MINUTES`]; any other argument, or a bad
//! value, is an error that says what is accepted.

use serde_json::{Map, Value, json};

use super::Tool;

/// The tool's name.
pub const NAME: &str = "current_time";

/// Largest offset from UTC accepted (18 hours, RFC 3339's bound).
pub const MAX_OFFSET_MINUTES: i64 = 18 * 60;

/// The `current_time` tool.
#[derive(Debug, Clone, Copy, Default)]
pub struct CurrentTime;

/// The formats the tool can answer in.
const FORMATS: &[&str] = &["rfc3339", "date", "time", "unix", "unix_ms"];

impl Tool for CurrentTime {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "The current date and time. Without arguments: UTC in RFC 3339 (2025-01-31T13:45:00Z). \
         utc_offset gives the time at a fixed offset from UTC (+02:00, -05:30); time zone names \
         are not supported."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "utc_offset": {
                    "type": "string",
                    "description": "A fixed offset from UTC: +HH:MM, -HH:MM or Z (the default).",
                },
                "format": {
                    "type": "string",
                    "enum": FORMATS,
                    "description": "rfc3339 (default), date (YYYY-MM-DD), time (HH:MM:SS), unix (seconds) or unix_ms.",
                },
            },
            "additionalProperties": false,
        })
    }

    fn run(&self, args: &Map<String, Value>) -> Result<String, String> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        format_at(now_ms, args)
    }
}

/// The answer for the instant `unix_ms` (the testable half of [`CurrentTime::run`]).
///
/// # Errors
/// An unknown argument, a bad offset or an unknown format.
pub fn format_at(unix_ms: i64, args: &Map<String, Value>) -> Result<String, String> {
    if let Some(key) = args.keys().find(|k| !matches!(k.as_str(), "utc_offset" | "format")) {
        return Err(format!("unknown argument {key:?}; the arguments are utc_offset and format"));
    }
    let offset_minutes = match args.get("utc_offset") {
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) => parse_offset(s)?,
        Some(_) => return Err("utc_offset must be a string such as \"+02:00\"".into()),
    };
    let format = match args.get("format") {
        None | Some(Value::Null) => "rfc3339",
        Some(Value::String(s)) if FORMATS.contains(&s.as_str()) => s.as_str(),
        Some(_) => return Err(format!("format must be one of {}", FORMATS.join(", "))),
    };
    let secs = unix_ms.div_euclid(1000);
    match format {
        "unix" => return Ok(secs.to_string()),
        "unix_ms" => return Ok(unix_ms.to_string()),
        _ => {}
    }
    let local = secs.saturating_add(offset_minutes.saturating_mul(60));
    let (days, of_day) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    let date = format!("{year:04}-{month:02}-{day:02}");
    let time = format!("{h:02}:{m:02}:{s:02}");
    Ok(match format {
        "date" => date,
        "time" => time,
        _ => format!("{date}T{time}{}", offset_suffix(offset_minutes)),
    })
}

/// `+HH:MM` / `-HH:MM` / `Z` to minutes east of UTC.
fn parse_offset(text: &str) -> Result<i64, String> {
    let bad =
        || format!("utc_offset {text:?} is not an offset like +02:00, -05:30 or Z (time zone names are not supported)");
    let t = text.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Ok(0);
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, t.get(1..).unwrap_or_default()),
        Some(b'-') => (-1, t.get(1..).unwrap_or_default()),
        _ => return Err(bad()),
    };
    let (hh, mm) = rest.split_once(':').unwrap_or((rest, "00"));
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(hh) || !digits(mm) {
        return Err(bad());
    }
    let (h, m): (i64, i64) = (hh.parse().map_err(|_| bad())?, mm.parse().map_err(|_| bad())?);
    let total = h * 60 + m;
    if m >= 60 || total > MAX_OFFSET_MINUTES {
        return Err(format!("utc_offset {text:?} is out of range (at most ±18:00)"));
    }
    Ok(sign * total)
}

fn offset_suffix(minutes: i64) -> String {
    if minutes == 0 {
        return "Z".to_owned();
    }
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.abs();
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn known_instants() {
        let none = Map::new();
        assert_eq!(format_at(0, &none).as_deref(), Ok("1970-01-01T00:00:00Z"));
        assert_eq!(format_at(951_782_400_000, &none).as_deref(), Ok("2000-02-29T00:00:00Z"));
        assert_eq!(format_at(1_700_000_000_123, &none).as_deref(), Ok("2023-11-14T22:13:20Z"));
        assert_eq!(format_at(-1000, &none).as_deref(), Ok("1969-12-31T23:59:59Z"));
        let india = args(json!({ "utc_offset": "+05:30" }));
        assert_eq!(format_at(1_700_000_000_000, &india).as_deref(), Ok("2023-11-15T03:43:20+05:30"));
        let west = args(json!({ "utc_offset": "-08:00", "format": "date" }));
        assert_eq!(format_at(1_700_000_000_000, &west).as_deref(), Ok("2023-11-14"));
        assert_eq!(format_at(1_700_000_000_123, &args(json!({ "format": "unix" }))).as_deref(), Ok("1700000000"));
        assert_eq!(format_at(1_700_000_000_123, &args(json!({ "format": "unix_ms" }))).as_deref(), Ok("1700000000123"));
        assert_eq!(format_at(1_700_000_000_000, &args(json!({ "format": "time" }))).as_deref(), Ok("22:13:20"));
    }

    #[test]
    fn refusals_say_what_is_accepted() {
        let cases = [
            (json!({ "tz": "Europe/Paris" }), "unknown argument"),
            (json!({ "utc_offset": "Europe/Paris" }), "time zone names are not supported"),
            (json!({ "utc_offset": "+19:00" }), "out of range"),
            (json!({ "utc_offset": "+01:75" }), "out of range"),
            (json!({ "utc_offset": 2 }), "must be a string"),
            (json!({ "format": "iso" }), "format must be one of"),
        ];
        for (a, want) in cases {
            let got = format_at(0, &args(a.clone()));
            assert!(got.as_ref().is_err_and(|e| e.contains(want)), "{a}: {got:?}");
        }
        assert!(parse_offset("0530").is_err() && parse_offset("+5:30").is_err());
        assert_eq!(parse_offset("+02").ok(), Some(120));
        assert_eq!(parse_offset("Z").ok(), Some(0));
    }

    #[test]
    fn runs_against_the_clock() {
        let out = CurrentTime.run(&args(json!({ "format": "unix" }))).unwrap_or_default();
        assert!(out.parse::<i64>().is_ok_and(|s| s > 1_700_000_000), "{out}");
    }
}
