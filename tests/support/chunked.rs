//! Reading a chunked (`Transfer-Encoding: chunked`) response on a test [`Conn`], strictly: the
//! streamed agent turns (`/api/chat/stream`, `/v1/chat/completions` and `/v1/responses` with
//! `"stream": true`) are checked chunk by chunk, so a framing error fails the test instead of
//! being smoothed over by a lenient client.
//!
//! Every read has the connection's deadline.

use std::time::Instant;

use super::{Conn, Response, describe, find, parse_head};

impl Conn {
    /// Read until the buffer holds `n` bytes.
    fn fill_to(&mut self, n: usize, until: Instant, what: &str) {
        while self.buf.len() < n {
            match self.fill(until) {
                Ok(0) => panic!("{what}: closed after {:?}", String::from_utf8_lossy(&self.buf)),
                Ok(_) => {}
                Err(_) => panic!("{what}: timed out after {:?}", String::from_utf8_lossy(&self.buf)),
            }
        }
    }

    /// Read the head of a response whose body is chunked; checks that it says
    /// `Transfer-Encoding: chunked` and has no `Content-Length`.
    ///
    /// # Panics
    /// No head within the deadline, or another framing.
    #[must_use]
    pub fn read_chunked_head(&mut self) -> Response {
        let until = Instant::now() + self.deadline;
        let end = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end;
            }
            let have = self.buf.len();
            self.fill_to(have + 1, until, "chunked head");
        };
        let head = self.buf.get(..end).unwrap_or_default().to_vec();
        let resp = parse_head(&head).unwrap_or_else(|e| panic!("chunked head: {}", describe(&e)));
        self.buf.drain(..end + 4);
        assert_eq!(resp.header("transfer-encoding"), Some("chunked"), "{}", resp.head);
        assert!(resp.header("content-length").is_none(), "{}", resp.head);
        resp
    }

    /// Read the next chunk, strictly (`<lower-case hex>\r\n<data>\r\n`, no extensions);
    /// `None` at the last chunk (`0\r\n\r\n`, no trailers).
    ///
    /// # Panics
    /// A malformed chunk, or none within the deadline.
    pub fn read_chunk(&mut self) -> Option<Vec<u8>> {
        let until = Instant::now() + self.deadline;
        let line_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                break i;
            }
            let have = self.buf.len();
            self.fill_to(have + 1, until, "chunk size");
        };
        let size_text = String::from_utf8_lossy(self.buf.get(..line_end).unwrap_or_default()).into_owned();
        assert!(
            !size_text.is_empty() && size_text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "chunk size line {size_text:?}"
        );
        let size = usize::from_str_radix(&size_text, 16).expect("hex size");
        let start = line_end + 2;
        self.fill_to(start + size + 2, until, "chunk data");
        assert_eq!(
            self.buf.get(start + size..start + size + 2),
            Some(&b"\r\n"[..]),
            "chunk of {size} bytes ends in CRLF"
        );
        let data = self.buf.get(start..start + size).unwrap_or_default().to_vec();
        self.buf.drain(..start + size + 2);
        (size > 0).then_some(data)
    }

    /// A whole chunked response: its head and every chunk before the last one.
    ///
    /// # Panics
    /// As [`Conn::read_chunked_head`] and [`Conn::read_chunk`].
    #[must_use]
    pub fn read_chunked(&mut self) -> (Response, Vec<Vec<u8>>) {
        let head = self.read_chunked_head();
        let mut chunks = Vec::new();
        while let Some(c) = self.read_chunk() {
            chunks.push(c);
        }
        (head, chunks)
    }
}
