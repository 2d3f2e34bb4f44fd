//! Sessions in OpenClaw's on-disk layout: `talon sessions export --dir DIR` writes the store's
//! sessions as `DIR/sessions.json` plus `DIR/<sessionId>.jsonl`, and `talon sessions import
//! --dir DIR` reads such a directory (OpenClaw's `~/.openclaw/agents/<agentId>/sessions/`, or
//! an export of ours) into the store. The field mapping is in [`format`].
//!
//! Guarantees:
//! - Export writes every file atomically (a temporary file in `DIR`, synced, then renamed), the
//!   transcripts before `sessions.json`, so no reader ever sees an index naming a transcript
//!   that is not complete. Transcripts are read from the store page by page.
//! - Import reads and checks everything first; any bad entry or line stops it with an error
//!   naming the file and line (`DIR/x.jsonl:7: unknown message role "robot"`) and nothing is
//!   written. Files and lines are bounded ([`MAX_INDEX_BYTES`], [`MAX_TRANSCRIPT_BYTES`],
//!   [`MAX_LINE_BYTES`], [`MAX_SESSIONS`]); past a bound the import stops the same way.
//! - Importing twice adds nothing: a session whose key or id already exists is skipped whole
//!   (never merged), and counted as skipped. A session without a transcript file is imported
//!   with no messages and counted.
//! - Imported messages keep role, text, tool calls and results, timestamps and token counts;
//!   they belong to no turn (run id `import:<sessionId>`), so `usage.summary` does not see them,
//!   while the session's totals do.

pub mod format;

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::store::{AgentWrite, ImportedSession, MAX_QUERY_LIMIT, Store, StoreError};
use format::{Entry, Line, entry, header, line_id, message_line, parse_entry, parse_line};

/// The index file's name.
pub const INDEX_FILE: &str = "sessions.json";

/// Largest `sessions.json` read. Larger: the import stops with an error.
pub const MAX_INDEX_BYTES: u64 = 64 * 1024 * 1024;

/// Largest transcript read. Larger: the import stops with an error naming the file.
pub const MAX_TRANSCRIPT_BYTES: u64 = 256 * 1024 * 1024;

/// Longest transcript line. Longer: the import stops with an error naming the file and line.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Most sessions in one `sessions.json`. More: the import stops with an error.
pub const MAX_SESSIONS: usize = 100_000;

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Sessions stored.
    pub imported: usize,
    /// Sessions skipped because their key or id already existed.
    pub skipped: usize,
    /// Messages stored.
    pub messages: usize,
    /// Sessions whose transcript file did not exist (imported without messages).
    pub missing_transcripts: usize,
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Sessions written.
    pub sessions: usize,
    /// Messages written.
    pub messages: usize,
}

/// Why an export or import failed.
#[derive(Debug)]
pub enum TransferError {
    /// A file could not be read or written.
    Io(PathBuf, std::io::Error),
    /// A file's content was refused: the file, the line (0 for the whole file) and why.
    Bad {
        /// The file.
        file: PathBuf,
        /// 1-based line, or 0.
        line: usize,
        /// What was wrong.
        why: String,
    },
    /// The store failed.
    Store(StoreError),
}

impl std::fmt::Display for TransferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(p, e) => write!(f, "{}: {e}", p.display()),
            Self::Bad { file, line: 0, why } => write!(f, "{}: {why}", file.display()),
            Self::Bad { file, line, why } => write!(f, "{}:{line}: {why}", file.display()),
            Self::Store(e) => write!(f, "store: {e}"),
        }
    }
}

impl std::error::Error for TransferError {}

impl From<StoreError> for TransferError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

fn bad(file: &Path, line: usize, why: impl Into<String>) -> TransferError {
    TransferError::Bad { file: file.to_owned(), line, why: why.into() }
}

/// Write every session of `store` into `dir` (created if missing).
///
/// # Errors
/// A file cannot be written, a stored session id cannot name a file, or the store fails.
pub fn export(store: &Store, dir: &Path) -> Result<ExportReport, TransferError> {
    fs::create_dir_all(dir).map_err(|e| TransferError::Io(dir.to_owned(), e))?;
    let reads = store.agent()?;
    let mut index = Map::new();
    let mut report = ExportReport::default();
    let mut after = String::new();
    loop {
        let page = reads.sessions_after(&after, MAX_QUERY_LIMIT)?;
        let Some(last) = page.last() else { break };
        after.clone_from(&last.key);
        for s in &page {
            let name = format::transcript_name(&s.session_id).map_err(|why| bad(&dir.join(INDEX_FILE), 0, why))?;
            let mut text = Vec::new();
            push_line(&mut text, &header(s));
            let (mut after_id, mut parent) = (0i64, None::<String>);
            loop {
                let messages = reads.messages_after(&s.key, after_id, MAX_QUERY_LIMIT)?;
                let Some(last) = messages.last() else { break };
                after_id = last.id;
                for m in &messages {
                    push_line(&mut text, &message_line(m, parent.as_deref()));
                    parent = Some(line_id(m.id));
                    report.messages += 1;
                }
            }
            write_atomically(&dir.join(&name), &text)?;
            index.insert(s.key.clone(), entry(s));
            report.sessions += 1;
        }
    }
    let mut text = serde_json::to_vec_pretty(&Value::Object(index)).unwrap_or_default();
    text.push(b'\n');
    write_atomically(&dir.join(INDEX_FILE), &text)?;
    Ok(report)
}

fn push_line(out: &mut Vec<u8>, v: &Value) {
    // A `Value` always serialises.
    out.extend_from_slice(v.to_string().as_bytes());
    out.push(b'\n');
}

/// Write `path` through a temporary file in the same directory, synced, then renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TransferError> {
    let io = |e| TransferError::Io(path.to_owned(), e);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Read `path` whole, refusing more than `max` bytes.
fn read_bounded(path: &Path, max: u64) -> Result<Option<Vec<u8>>, TransferError> {
    use std::io::Read as _;
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TransferError::Io(path.to_owned(), e)),
    };
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| TransferError::Io(path.to_owned(), e))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        return Err(bad(path, 0, format!("larger than {max} bytes")));
    }
    Ok(Some(bytes))
}

/// Read `dir` and check all of it (nothing is written).
///
/// # Errors
/// A missing or unreadable `sessions.json`, or any bad entry or line, named.
pub fn read_dir(dir: &Path) -> Result<(Vec<ImportedSession>, usize), TransferError> {
    let index_path = dir.join(INDEX_FILE);
    let bytes = read_bounded(&index_path, MAX_INDEX_BYTES)?
        .ok_or_else(|| bad(&index_path, 0, "not found (expected OpenClaw's sessions directory)"))?;
    let index: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|e| bad(&index_path, e.line(), format!("not a JSON object: {e}")))?;
    if index.len() > MAX_SESSIONS {
        return Err(bad(&index_path, 0, format!("{} sessions; at most {MAX_SESSIONS} are imported", index.len())));
    }
    let mut sessions = Vec::with_capacity(index.len());
    let mut missing = 0usize;
    for (key, value) in &index {
        let Entry { mut session, file, has_totals } =
            parse_entry(key, value).map_err(|why| bad(&index_path, 0, format!("session {key:?}: {why}")))?;
        let path = dir.join(&file);
        let Some(text) = read_bounded(&path, MAX_TRANSCRIPT_BYTES)? else {
            missing += 1;
            sessions.push(ImportedSession { session, messages: Vec::new() });
            continue;
        };
        let mut messages = Vec::new();
        for (i, raw) in text.split(|b| *b == b'\n').enumerate() {
            let line = i + 1;
            if raw.len() > MAX_LINE_BYTES {
                return Err(bad(&path, line, format!("line longer than {MAX_LINE_BYTES} bytes")));
            }
            let raw = std::str::from_utf8(raw).map_err(|_| bad(&path, line, "not UTF-8"))?;
            match parse_line(raw, session.updated_at).map_err(|why| bad(&path, line, why))? {
                Line::Header(Some(ms)) if session.created_at == 0 => session.created_at = ms,
                Line::Message(m) => messages.push(m),
                Line::Header(_) | Line::Other => {}
            }
        }
        complete(&mut session, &messages, has_totals);
        sessions.push(ImportedSession { session, messages });
    }
    Ok((sessions, missing))
}

/// Fill what the entry left out from the transcript: times, token totals and turns.
fn complete(s: &mut crate::store::SessionRow, messages: &[crate::store::ImportedMessage], has_totals: bool) {
    let first = messages.iter().map(|m| m.timestamp).min();
    let last = messages.iter().map(|m| m.timestamp).max();
    if s.created_at == 0 {
        s.created_at = first.unwrap_or(s.updated_at);
    }
    s.updated_at = s.updated_at.max(last.unwrap_or(0)).max(s.created_at);
    if !has_totals {
        let total = |pick: fn(&crate::store::ImportedMessage) -> Option<u64>| {
            messages.iter().filter_map(pick).fold(0u64, u64::saturating_add)
        };
        s.input_tokens = total(|m| m.message.input_tokens);
        s.output_tokens = total(|m| m.message.output_tokens);
    }
    if s.turns == 0 {
        s.turns = messages.iter().filter(|m| m.message.role == "assistant").count() as u64;
    }
}

/// Import `dir` into `store` (see the module doc for the rules).
///
/// # Errors
/// As [`read_dir`], or the store fails (sessions already stored stay stored).
pub fn import(store: &Store, dir: &Path) -> Result<ImportReport, TransferError> {
    let (sessions, missing) = read_dir(dir)?;
    let mut report = ImportReport { missing_transcripts: missing, ..ImportReport::default() };
    for s in sessions {
        let count = s.messages.len();
        if store.agent_write_wait(AgentWrite::ImportSession(Box::new(s)))? == 0 {
            report.skipped += 1;
        } else {
            report.imported += 1;
            report.messages += count;
        }
    }
    Ok(report)
}
