//! OpenClaw's on-disk session format, both ways, without I/O: a `sessions.json` entry and the
//! lines of a `<sessionId>.jsonl` transcript from stored rows, and stored rows from them.
//!
//! What is written (and read back): the entry's `sessionId`, `updatedAt` (Unix ms),
//! `sessionFile`, `label`, `model` (Talon's `provider/model`), `channel`, `inputTokens`,
//! `outputTokens`, `totalTokens`, plus Talon's own `createdAt`, `chatId`, `agentId`, `costUsd`
//! and `turns`; the transcript's header `{"type":"session","version":3,"id","timestamp","cwd"}`
//! and one `{"type":"message","id","parentId","timestamp","message":{...}}` line per message,
//! whose `message` has `role` (`user`, `assistant`, `system`, or `toolResult` for a tool
//! result), `content` (a `text` part, then a `toolCall` part `{id,name,arguments}` per tool
//! call), `timestamp` (Unix ms), `toolCallId` and `usage` `{input, output, totalTokens}`.
//!
//! What is read from OpenClaw's own files: the same fields; `displayName` when there is no
//! `label`; `content` as a string or parts (`text` joined, `toolCall` kept, `thinking`, images
//! and other parts dropped); `usage.input`/`output` (or `input_tokens`/`output_tokens`); a
//! message's `timestamp` in ms, else the line's ISO-8601 `timestamp`. Lines of other types
//! (`model_change`, `custom`, ...) are skipped. A bare OpenClaw `model` (no `/`) is not
//! imported: it names OpenClaw's providers, not Talon's.
//!
//! Guarantees: every refusal is a message for one line or entry (the caller adds the file
//! and line number); nothing here panics on any input.

use serde_json::{Map, Value, json};

use crate::agent::providers::types::ToolCall;
use crate::protocol::http1::date::rfc3339_millis;
use crate::store::{ImportedMessage, MessageRow, NewMessage, SessionRow};

/// The transcript format version written in the header (OpenClaw's current one).
pub const TRANSCRIPT_VERSION: u64 = 3;

/// The agent imported sessions belong to when the entry names none.
pub const DEFAULT_AGENT: &str = "main";

/// Longest session id accepted (it names a file).
pub const MAX_SESSION_ID_BYTES: usize = 256;

/// The transcript file name of a session id, or why the id cannot name a file.
///
/// # Errors
/// Empty, longer than [`MAX_SESSION_ID_BYTES`], or holding `/`, `\`, NUL or a leading `.`.
pub fn transcript_name(session_id: &str) -> Result<String, String> {
    let bad = session_id.is_empty()
        || session_id.len() > MAX_SESSION_ID_BYTES
        || session_id.starts_with('.')
        || session_id.contains(['/', '\\', '\0']);
    if bad {
        return Err(format!("sessionId {session_id:?} cannot name a transcript file"));
    }
    Ok(format!("{session_id}.jsonl"))
}

/// The `sessions.json` entry of a stored session.
#[must_use]
pub fn entry(s: &SessionRow) -> Value {
    let mut e = json!({
        "sessionId": s.session_id,
        "updatedAt": s.updated_at,
        "createdAt": s.created_at,
        "sessionFile": format!("{}.jsonl", s.session_id),
        "agentId": s.agent_id,
        "inputTokens": s.input_tokens,
        "outputTokens": s.output_tokens,
        "totalTokens": s.input_tokens.saturating_add(s.output_tokens),
        "costUsd": s.cost_usd,
        "turns": s.turns,
    });
    for (name, v) in [("label", &s.label), ("model", &s.model), ("channel", &s.channel), ("chatId", &s.chat_id)] {
        if let Some(v) = v {
            e[name] = json!(v);
        }
    }
    e
}

/// The header line of a session's transcript.
#[must_use]
pub fn header(s: &SessionRow) -> Value {
    json!({ "type": "session", "version": TRANSCRIPT_VERSION, "id": s.session_id,
            "timestamp": rfc3339_millis(s.created_at), "cwd": "" })
}

/// The transcript line of one stored message; `parent` is the previous line's id.
#[must_use]
pub fn message_line(m: &MessageRow, parent: Option<&str>) -> Value {
    let role = match m.role.as_str() {
        "tool" => "toolResult",
        other => other,
    };
    let mut content = Vec::new();
    if !m.content.is_empty() || m.tool_calls.is_none() {
        content.push(json!({ "type": "text", "text": m.content }));
    }
    let calls: Vec<ToolCallIn> = m.tool_calls.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    for c in calls {
        // Arguments as an object when that keeps their exact text, else as the text itself.
        let arguments = serde_json::from_str::<Value>(&c.arguments)
            .ok()
            .filter(|v| serde_json::to_string(v).is_ok_and(|t| t == c.arguments))
            .unwrap_or(Value::String(c.arguments));
        content.push(json!({ "type": "toolCall", "id": c.id, "name": c.name, "arguments": arguments }));
    }
    let mut message = json!({ "role": role, "content": content, "timestamp": m.timestamp });
    if let Some(id) = &m.tool_call_id {
        message["toolCallId"] = json!(id);
    }
    if m.input_tokens.is_some() || m.output_tokens.is_some() {
        let (i, o) = (m.input_tokens.unwrap_or(0), m.output_tokens.unwrap_or(0));
        message["usage"] = json!({ "input": i, "output": o, "totalTokens": i.saturating_add(o) });
    }
    json!({ "type": "message", "id": line_id(m.id), "parentId": parent,
            "timestamp": rfc3339_millis(m.timestamp), "message": message })
}

/// The id of a message's line: its row id in hex (unique within a store).
#[must_use]
pub fn line_id(row_id: i64) -> String {
    format!("{row_id:08x}")
}

/// A tool call as stored (`ToolCall`'s JSON), read back.
#[derive(serde::Deserialize, Default)]
struct ToolCallIn {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: String,
}

/// A `sessions.json` entry, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The session as it will be stored (tokens may still be filled from the transcript).
    pub session: SessionRow,
    /// The transcript's file name.
    pub file: String,
    /// Whether the entry gave token totals (else they are summed from the messages).
    pub has_totals: bool,
}

fn string(e: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match e.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

fn number(e: &Map<String, Value>, name: &str) -> Result<Option<u64>, String> {
    match e.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| format!("{name} must be a non-negative number")),
    }
}

/// Read the entry of session `key`.
///
/// # Errors
/// Not an object, no string `sessionId`, a `sessionId` or `sessionFile` that cannot name a
/// file in the directory, or a field of the wrong type.
pub fn parse_entry(key: &str, value: &Value) -> Result<Entry, String> {
    let Value::Object(e) = value else { return Err("the entry is not an object".into()) };
    if key.is_empty() || key.len() > crate::agent::turn_types::MAX_SESSION_KEY_BYTES {
        return Err(format!("the session key must be 1 to {} bytes", crate::agent::turn_types::MAX_SESSION_KEY_BYTES));
    }
    let session_id = string(e, "sessionId")?.ok_or("sessionId is missing")?;
    let mut file = transcript_name(&session_id)?;
    if let Some(named) = string(e, "sessionFile")? {
        // OpenClaw may store a path; only its file name is used, inside the directory.
        let name = named.rsplit(['/', '\\']).next().unwrap_or_default();
        file = transcript_name(name.strip_suffix(".jsonl").unwrap_or(name))?;
    }
    let model = string(e, "model")?.filter(|m| m.contains('/'));
    let label = match string(e, "label")? {
        Some(l) => Some(l),
        None => string(e, "displayName")?,
    };
    let updated_at = number(e, "updatedAt")?.unwrap_or(0);
    let (input, output) = (number(e, "inputTokens")?, number(e, "outputTokens")?);
    let cost_usd = match e.get("costUsd") {
        None | Some(Value::Null) => 0.0,
        Some(v) => v.as_f64().filter(|c| c.is_finite() && *c >= 0.0).ok_or("costUsd must be a number of 0 or more")?,
    };
    let session = SessionRow {
        key: key.to_owned(),
        session_id,
        agent_id: string(e, "agentId")?.unwrap_or_else(|| DEFAULT_AGENT.to_owned()),
        model,
        label,
        channel: string(e, "channel")?,
        chat_id: string(e, "chatId")?,
        created_at: number(e, "createdAt")?.unwrap_or(0),
        updated_at,
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
        cost_usd,
        turns: number(e, "turns")?.unwrap_or(0),
    };
    Ok(Entry { session, file, has_totals: input.is_some() || output.is_some() })
}

/// What one transcript line holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// The header: the session's start, Unix ms (if its timestamp reads).
    Header(Option<u64>),
    /// A message.
    Message(ImportedMessage),
    /// Anything else (other event types, blank lines).
    Other,
}

/// Read one transcript line. `fallback_ms` stamps a message that carries no time.
///
/// # Errors
/// Not JSON, not an object, a `message` line without an object `message`, an unknown role, or a
/// field of the wrong type.
pub fn parse_line(text: &str, fallback_ms: u64) -> Result<Line, String> {
    if text.trim().is_empty() {
        return Ok(Line::Other);
    }
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(line) = v else { return Err("a line must be a JSON object".into()) };
    match line.get("type").and_then(Value::as_str) {
        Some("session") => Ok(Line::Header(line.get("timestamp").and_then(time_ms))),
        Some("message") => {
            let Some(Value::Object(m)) = line.get("message") else {
                return Err("a message line needs a \"message\" object".into());
            };
            let role = match m.get("role").and_then(Value::as_str) {
                Some("user") => "user",
                Some("assistant") => "assistant",
                Some("system") => "system",
                Some("toolResult" | "tool") => "tool",
                Some(other) => return Err(format!("unknown message role {other:?}")),
                None => return Err("the message has no role".into()),
            };
            let (content, tool_calls) = content(m.get("content"))?;
            let usage = m.get("usage").and_then(Value::as_object);
            let tokens = |a: &str, b: &str| usage.and_then(|u| u.get(a).or_else(|| u.get(b))).and_then(Value::as_u64);
            let timestamp = m
                .get("timestamp")
                .and_then(time_ms)
                .or_else(|| line.get("timestamp").and_then(time_ms))
                .unwrap_or(fallback_ms);
            let message = NewMessage {
                role,
                content,
                tool_calls,
                tool_call_id: string(m, "toolCallId")?,
                input_tokens: tokens("input", "input_tokens"),
                output_tokens: tokens("output", "output_tokens"),
            };
            Ok(Line::Message(ImportedMessage { message, timestamp }))
        }
        _ => Ok(Line::Other),
    }
}

/// The text and the tool calls (as stored: `ToolCall`s as a JSON array) of `content`.
fn content(v: Option<&Value>) -> Result<(String, Option<String>), String> {
    let parts = match v {
        None | Some(Value::Null) => return Ok((String::new(), None)),
        Some(Value::String(s)) => return Ok((s.clone(), None)),
        Some(Value::Array(parts)) => parts,
        Some(_) => return Err("content must be a string or a list of parts".into()),
    };
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in parts {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default()),
            Some("toolCall") => {
                let field = |n: &str| part.get(n).and_then(Value::as_str).unwrap_or_default().to_owned();
                let arguments = match part.get("arguments") {
                    None | Some(Value::Null) => "{}".to_owned(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                };
                calls.push(ToolCall { id: field("id"), name: field("name"), arguments });
            }
            // Reasoning, images and parts Talon does not keep.
            _ => {}
        }
    }
    let calls = (!calls.is_empty()).then(|| serde_json::to_string(&calls).unwrap_or_else(|_| "[]".into()));
    Ok((text, calls))
}

/// A time as Unix ms: a number of ms, or an RFC 3339 UTC string (`2026-02-06T07:49:03.491Z`).
fn time_ms(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => parse_rfc3339_utc(s),
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff...]Z` (or `+00:00`) as Unix ms; `None` for anything else.
#[must_use]
pub fn parse_rfc3339_utc(s: &str) -> Option<u64> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(str::parse::<i64>);
    let (h, mi, sec) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let ok = (1..=12).contains(&month) && (1..=31).contains(&day) && h < 24 && mi < 60 && sec <= 60;
    if !ok || h < 0 || mi < 0 || sec < 0 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis: i64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = ((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000).checked_add(millis)?;
    u64::try_from(ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_with_the_formatter() {
        for ms in [0u64, 951_782_400_000, 1_795_462_225_123, 1_770_364_143_489] {
            assert_eq!(parse_rfc3339_utc(&rfc3339_millis(ms)), Some(ms));
        }
        assert_eq!(parse_rfc3339_utc("2026-02-06T07:49:03Z"), Some(1_770_364_143_000));
        for bad in ["", "2026-02-06", "2026-13-01T00:00:00Z", "2026-02-06T07:49:03", "x-y-zTa:b:cZ"] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn openclaw_lines_read() {
        let line = r#"{"type":"message","id":"b1","parentId":"a0","timestamp":"2026-02-06T07:49:03.491Z",
            "message":{"role":"assistant","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Hi"},
            {"type":"toolCall","id":"c1","name":"time","arguments":{"tz":"UTC"}}],
            "usage":{"input":12,"output":3,"totalTokens":15,"cost":{"total":0.1}},"stopReason":"toolUse"}}"#;
        let Ok(Line::Message(m)) = parse_line(line, 7) else { panic!("{:?}", parse_line(line, 7)) };
        assert_eq!((m.message.role, m.message.content.as_str()), ("assistant", "Hi"));
        assert_eq!(
            m.message.tool_calls.as_deref(),
            Some(r#"[{"id":"c1","name":"time","arguments":"{\"tz\":\"UTC\"}"}]"#)
        );
        assert_eq!(
            (m.message.input_tokens, m.message.output_tokens, m.timestamp),
            (Some(12), Some(3), 1_770_364_143_491)
        );
        let tool = r#"{"type":"message","message":{"role":"toolResult","toolCallId":"c1","content":"12:00"}}"#;
        let Ok(Line::Message(t)) = parse_line(tool, 7) else { panic!() };
        assert_eq!((t.message.role, t.message.tool_call_id.as_deref(), t.timestamp), ("tool", Some("c1"), 7));
        assert_eq!(parse_line(r#"{"type":"model_change","provider":"x"}"#, 0), Ok(Line::Other));
        assert_eq!(parse_line("   ", 0), Ok(Line::Other));
        for (bad, want) in [
            ("{", "not JSON"),
            ("[1]", "JSON object"),
            (r#"{"type":"message"}"#, "\"message\" object"),
            (r#"{"type":"message","message":{"role":"robot"}}"#, "unknown message role"),
            (r#"{"type":"message","message":{"role":"user","content":5}}"#, "content must be"),
        ] {
            assert!(parse_line(bad, 0).is_err_and(|e| e.contains(want)), "{bad}");
        }
    }

    #[test]
    fn entries_read_and_refuse_paths() {
        let e = parse_entry(
            "agent:main:main",
            &json!({"sessionId": "s1", "updatedAt": 5, "displayName": "d",
            "model": "gpt-5", "inputTokens": 3}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (e.file.as_str(), e.session.label.as_deref(), e.session.model.as_deref()),
            ("s1.jsonl", Some("d"), None)
        );
        assert!(e.has_totals && e.session.updated_at == 5 && e.session.agent_id == "main");
        let moved =
            parse_entry("k", &json!({"sessionId": "s1", "sessionFile": "/home/u/.openclaw/x/s1-topic-9.jsonl"}));
        assert_eq!(moved.map(|e| e.file), Ok("s1-topic-9.jsonl".to_owned()));
        for (v, want) in [
            (json!({"sessionId": "../x"}), "cannot name"),
            (json!({"sessionId": "a/b"}), "cannot name"),
            (json!({"updatedAt": 1}), "sessionId is missing"),
            (json!({"sessionId": "s", "updatedAt": "soon"}), "updatedAt"),
            (json!(7), "not an object"),
        ] {
            assert!(parse_entry("k", &v).is_err_and(|e| e.contains(want)), "{v}");
        }
    }
}
