//! The newest lines of the gateway's own log, kept in memory for `/api/logs/recent` and the
//! `/api/logs/live` WebSocket (clawgo's routes).
//!
//! Guarantees: bounded at [`TAIL_LINES`] lines (the oldest is dropped); every entry is one
//! JSON object (a text-format line is wrapped as `{"msg": line}`); entries carry a
//! contiguous sequence number so a live reader resumes exactly where it stopped. The log
//! writer thread fills it after writing, so the event loop never pays for it.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

/// Lines kept; also the largest `limit` of `/api/logs/recent`.
pub const TAIL_LINES: usize = 200;
/// Default `limit` of `/api/logs/recent` (clawgo's).
pub const DEFAULT_RECENT: usize = 10;

/// The in-memory tail.
#[derive(Debug, Default)]
pub struct LogTail {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    lines: VecDeque<(u64, Arc<[u8]>)>,
    next_seq: u64,
}

impl LogTail {
    /// Add every line of a chunk the writer just wrote.
    pub fn push_chunk(&self, chunk: &[u8]) {
        let mut inner = self.inner.lock();
        for line in chunk.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let entry: Arc<[u8]> = if line.first() == Some(&b'{') {
                Arc::from(line)
            } else {
                let text = String::from_utf8_lossy(line);
                Arc::from(serde_json::to_vec(&serde_json::json!({ "msg": text })).unwrap_or_default())
            };
            inner.next_seq += 1;
            let seq = inner.next_seq;
            if inner.lines.len() == TAIL_LINES {
                inner.lines.pop_front();
            }
            inner.lines.push_back((seq, entry));
        }
    }

    /// The newest `limit` entries, oldest first.
    #[must_use]
    pub fn recent(&self, limit: usize) -> Vec<Arc<[u8]>> {
        let inner = self.inner.lock();
        let skip = inner.lines.len().saturating_sub(limit);
        inner.lines.iter().skip(skip).map(|(_, l)| Arc::clone(l)).collect()
    }

    /// Entries after sequence `after`, and the sequence of the last one returned.
    #[must_use]
    pub fn since(&self, after: u64) -> (Vec<Arc<[u8]>>, u64) {
        let inner = self.inner.lock();
        let lines: Vec<Arc<[u8]>> =
            inner.lines.iter().filter(|(s, _)| *s > after).map(|(_, l)| Arc::clone(l)).collect();
        (lines, inner.next_seq.max(after))
    }

    /// Sequence of the newest entry.
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.inner.lock().next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_ordered_and_resumable() {
        let tail = LogTail::default();
        tail.push_chunk(b"{\"msg\":\"a\"}\nplain text\n");
        assert_eq!(tail.recent(10).len(), 2);
        assert_eq!(&*tail.recent(1)[0], br#"{"msg":"plain text"}"#.as_slice());
        let (lines, seq) = tail.since(1);
        assert_eq!((lines.len(), seq), (1, 2));
        for i in 0..TAIL_LINES + 5 {
            tail.push_chunk(format!("{{\"i\":{i}}}\n").as_bytes());
        }
        assert_eq!(tail.recent(usize::MAX).len(), TAIL_LINES);
        assert_eq!(tail.since(tail.last_seq()).0.len(), 0);
    }
}
