//! WebSocket (RFC 6455) pieces that are pure functions over bytes: the opening-handshake
//! checks, the 101 answer, the frame-boundary scan we do ahead of tungstenite, and the
//! in-memory stream that lets tungstenite's `WebSocketContext` run without a socket.
//!
//! Guarantees:
//! - [`check_upgrade`] looks only at the request head; it never reads a body, so a refused
//!   upgrade costs nothing beyond its head.
//! - [`next_frame_len`] tells the connection how long the next whole frame is, so
//!   tungstenite is only ever fed whole frames: its own buffers are then empty between
//!   frames, and a frame longer than the message limit is refused from its header alone,
//!   before its payload is buffered.
//! - [`MemoryIo`] never blocks: reads past the input say `WouldBlock`, writes append to the
//!   connection's output buffer (whose size the connection bounds).

use std::io::{self, Read, Write};

use crate::protocol::http1::{Method, RequestHead, Version};

/// The only protocol version RFC 6455 defines; anything else gets 426 with this value.
pub const SUPPORTED_VERSION: &str = "13";
/// The subprotocol that asks for strict JSON-RPC framing from the first frame on.
pub const JSONRPC_SUBPROTOCOL: &str = "jsonrpc";
/// Longest frame header: 2 bytes, 8 bytes of extended length, 4 bytes of mask.
pub const MAX_FRAME_HEADER: usize = 14;

/// Why an upgrade request is refused before the 101.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeError {
    /// Not an upgrade to `websocket` (plain GET on a WebSocket route): 426.
    NotAnUpgrade,
    /// `Sec-WebSocket-Version` missing or not 13: 426 naming the version we speak.
    UnsupportedVersion,
    /// Not `GET`, or not HTTP/1.1: 400.
    BadMethodOrVersion,
    /// `Sec-WebSocket-Key` missing or not the base64 of 16 bytes: 400.
    BadKey,
    /// The upgrade request announced a body: 400.
    BodyNotAllowed,
}

impl UpgradeError {
    /// What was wrong, for the error body.
    #[must_use]
    pub const fn message(self) -> &'static str {
        match self {
            Self::NotAnUpgrade => "this route speaks WebSocket only: send Upgrade: websocket and Connection: Upgrade",
            Self::UnsupportedVersion => "unsupported Sec-WebSocket-Version; this server speaks version 13",
            Self::BadMethodOrVersion => "a WebSocket upgrade must be GET over HTTP/1.1",
            Self::BadKey => "Sec-WebSocket-Key must be the base64 encoding of 16 bytes",
            Self::BodyNotAllowed => "a WebSocket upgrade request must not carry a body",
        }
    }
}

/// An accepted upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The `Sec-WebSocket-Accept` value to send back.
    pub accept: String,
    /// The client offered the `jsonrpc` subprotocol (we select it).
    pub jsonrpc_subprotocol: bool,
}

/// Check an upgrade request (RFC 6455 §4.2.1) and derive the accept key.
///
/// # Errors
/// The first rule the request breaks.
pub fn check_upgrade(head: &RequestHead) -> Result<Upgrade, UpgradeError> {
    let upgrade_ok = header_has_token(head, "upgrade", "websocket");
    let connection_ok = header_has_token(head, "connection", "upgrade");
    if !upgrade_ok || !connection_ok {
        return Err(UpgradeError::NotAnUpgrade);
    }
    if head.method != Method::Get || head.version != Version::Http11 {
        return Err(UpgradeError::BadMethodOrVersion);
    }
    if head.framing != crate::protocol::http1::BodyFraming::None {
        return Err(UpgradeError::BodyNotAllowed);
    }
    let version = head.header("sec-websocket-version").map(crate::protocol::http1::head::trim_ows);
    if version != Some(SUPPORTED_VERSION.as_bytes()) {
        return Err(UpgradeError::UnsupportedVersion);
    }
    let key = head.header("sec-websocket-key").map(crate::protocol::http1::head::trim_ows).unwrap_or_default();
    if !is_valid_key(key) {
        return Err(UpgradeError::BadKey);
    }
    let jsonrpc_subprotocol = header_has_token(head, "sec-websocket-protocol", JSONRPC_SUBPROTOCOL);
    Ok(Upgrade { accept: tungstenite::handshake::derive_accept_key(key), jsonrpc_subprotocol })
}

/// Whether any header `name` holds `token` in its comma-separated list (case-insensitive).
fn header_has_token(head: &RequestHead, name: &str, token: &str) -> bool {
    head.headers().filter(|(n, _)| n.eq_ignore_ascii_case(name)).any(|(_, v)| {
        v.split(|&b| b == b',')
            .any(|t| crate::protocol::http1::head::trim_ows(t).eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// The key is base64 of a 16-byte nonce: 22 significant characters and `==`.
fn is_valid_key(key: &[u8]) -> bool {
    let b64 = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    key.len() == 24 && key.get(..22).is_some_and(|k| k.iter().all(b64)) && key.get(22..) == Some(b"==")
}

/// Append the `101 Switching Protocols` answer.
pub fn encode_switching(upgrade: &Upgrade, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    out.extend_from_slice(b"Sec-WebSocket-Accept: ");
    out.extend_from_slice(upgrade.accept.as_bytes());
    out.extend_from_slice(b"\r\n");
    if upgrade.jsonrpc_subprotocol {
        out.extend_from_slice(b"Sec-WebSocket-Protocol: jsonrpc\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The next frame in `buf`, from its header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameScan {
    /// Not even the header is complete.
    NeedMore,
    /// A frame of `total` bytes (header and payload) starts here; `payload` of them are payload.
    Frame {
        /// Header plus payload.
        total: usize,
        /// Payload length.
        payload: u64,
    },
}

/// Read the length of the frame at the start of `buf` (RFC 6455 §5.2) without copying it.
/// A length that does not fit in `usize` is reported as `u64::MAX` payload with
/// `total == usize::MAX`; callers refuse it by size.
#[must_use]
pub fn next_frame_len(buf: &[u8]) -> FrameScan {
    let (Some(&b1), Some(&b2)) = (buf.first(), buf.get(1)) else { return FrameScan::NeedMore };
    let _ = b1;
    let masked = b2 & 0x80 != 0;
    let mask_len = if masked { 4 } else { 0 };
    let (payload, len_bytes) = match b2 & 0x7f {
        126 => match buf.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 2),
            _ => return FrameScan::NeedMore,
        },
        127 => match buf.get(2..10).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
            Some(bytes) => (u64::from_be_bytes(bytes), 8),
            None => return FrameScan::NeedMore,
        },
        n => (u64::from(n), 0),
    };
    let header = 2 + len_bytes + mask_len;
    let total = usize::try_from(payload).ok().and_then(|p| p.checked_add(header)).unwrap_or(usize::MAX);
    FrameScan::Frame { total, payload }
}

/// Opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const OP_BINARY: u8 = 0x2;

/// Append one unmasked, final server frame (RFC 6455 §5.2).
pub fn write_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    push_header(out, opcode, payload.len());
    out.extend_from_slice(payload);
}

fn push_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    let (bytes, n) = header_bytes(opcode, len);
    out.extend_from_slice(bytes.get(..n).unwrap_or_default());
}

/// The header of an unmasked final frame, on the stack.
fn header_bytes(opcode: u8, len: usize) -> ([u8; MAX_SERVER_HEADER], usize) {
    let mut h = [0u8; MAX_SERVER_HEADER];
    h[0] = 0x80 | (opcode & 0x0f);
    let n = match u16::try_from(len) {
        Ok(short) if short <= 125 => {
            h[1] = short as u8;
            2
        }
        Ok(medium) => {
            h[1] = 126;
            h[2..4].copy_from_slice(&medium.to_be_bytes());
            4
        }
        Err(_) => {
            h[1] = 127;
            h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    };
    (h, n)
}

/// Longest header of an unmasked server frame.
const MAX_SERVER_HEADER: usize = 10;

/// Start a frame whose payload is not yet known: reserve room for its header and return the
/// mark to pass to [`finish_frame`] once the payload has been appended after it. This lets an
/// encoder write the payload straight into the output buffer with no intermediate copy.
pub fn begin_frame(out: &mut Vec<u8>) -> usize {
    let mark = out.len();
    out.extend_from_slice(&[0u8; MAX_SERVER_HEADER]);
    mark
}

/// Finish a frame started by [`begin_frame`]: write its header and close the gap.
pub fn finish_frame(out: &mut Vec<u8>, mark: usize, opcode: u8) {
    let payload_start = mark + MAX_SERVER_HEADER;
    let len = out.len().saturating_sub(payload_start);
    let (bytes, n) = header_bytes(opcode, len);
    let start = payload_start - n;
    if let (Some(dst), Some(src)) = (out.get_mut(start..payload_start), bytes.get(..n)) {
        dst.copy_from_slice(src);
    }
    // Shift the frame left over the unused part of the reserved header room.
    let gap = MAX_SERVER_HEADER - n;
    if gap > 0 {
        out.copy_within(start.., mark);
        out.truncate(out.len() - gap);
    }
}

/// An in-memory stream for `WebSocketContext`: reads come from `input`, writes go to `output`.
#[derive(Debug)]
pub struct MemoryIo<'a> {
    input: &'a [u8],
    /// Bytes of `input` consumed so far.
    pub consumed: usize,
    output: &'a mut Vec<u8>,
}

impl<'a> MemoryIo<'a> {
    /// A stream over `input` that appends what is written to `output`.
    pub fn new(input: &'a [u8], output: &'a mut Vec<u8>) -> Self {
        Self { input, consumed: 0, output }
    }
}

impl Read for MemoryIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = self.input.get(self.consumed..).unwrap_or_default();
        if rest.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consumed += n;
        Ok(n)
    }
}

impl Write for MemoryIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// tungstenite settings for a server connection whose input we pre-frame.
///
/// `read_buffer_size` 0 keeps tungstenite from allocating its 128 KiB read buffer per
/// connection; it then reads at most 14 bytes per call from [`MemoryIo`], which is a memcpy.
/// `write_buffer_size` 0 hands every frame to our output buffer at once, and our buffer is
/// the one bounded by `max_outbound_bytes`.
#[must_use]
pub fn server_config(max_message_bytes: usize) -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(0)
        .write_buffer_size(0)
        .max_write_buffer_size(usize::MAX)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http1::{HeadLimits, parse_head};

    fn head(raw: &str) -> RequestHead {
        let limits = HeadLimits { max_request_line_bytes: 8192, max_header_bytes: 32768, max_headers: 100 };
        match parse_head(raw.as_bytes(), &limits) {
            Ok(Some((h, _))) => h,
            other => panic!("test head did not parse: {other:?}"),
        }
    }

    const GOOD: &str = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
                        Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

    #[test]
    fn accepts_rfc_example() {
        let up = check_upgrade(&head(&format!("{GOOD}\r\n"))).expect("valid upgrade");
        assert_eq!(up.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert!(!up.jsonrpc_subprotocol);
        let up = check_upgrade(&head(&format!("{GOOD}Sec-WebSocket-Protocol: chat, jsonrpc\r\n\r\n"))).expect("ok");
        assert!(up.jsonrpc_subprotocol);
        let mut out = Vec::new();
        encode_switching(&up, &mut out);
        assert!(out.ends_with(b"Sec-WebSocket-Protocol: jsonrpc\r\n\r\n"));
    }

    #[test]
    fn refusals() {
        let cases: &[(&str, UpgradeError)] = &[
            ("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", UpgradeError::NotAnUpgrade),
            (&GOOD.replace("Upgrade: websocket", "Upgrade: h2c"), UpgradeError::NotAnUpgrade),
            (&GOOD.replace("keep-alive, Upgrade", "keep-alive"), UpgradeError::NotAnUpgrade),
            (&GOOD.replace("GET", "POST"), UpgradeError::BadMethodOrVersion),
            (&GOOD.replace("HTTP/1.1", "HTTP/1.0"), UpgradeError::BadMethodOrVersion),
            (&GOOD.replace("Version: 13", "Version: 8"), UpgradeError::UnsupportedVersion),
            (&GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"), UpgradeError::BadKey),
            (&GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ!="), UpgradeError::BadKey),
            (&GOOD.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""), UpgradeError::BadKey),
        ];
        for (raw, want) in cases {
            let raw = if raw.ends_with("\r\n\r\n") { (*raw).to_owned() } else { format!("{raw}\r\n") };
            assert_eq!(check_upgrade(&head(&raw)), Err(*want), "{raw:?}");
        }
        let with_body = format!("{GOOD}Content-Length: 3\r\n\r\n");
        assert_eq!(check_upgrade(&head(&with_body)), Err(UpgradeError::BodyNotAllowed));
    }

    #[test]
    fn frame_lengths() {
        assert_eq!(next_frame_len(&[]), FrameScan::NeedMore);
        assert_eq!(next_frame_len(&[0x81]), FrameScan::NeedMore);
        assert_eq!(next_frame_len(&[0x81, 0x85]), FrameScan::Frame { total: 11, payload: 5 });
        assert_eq!(next_frame_len(&[0x81, 0x05]), FrameScan::Frame { total: 7, payload: 5 });
        assert_eq!(next_frame_len(&[0x81, 0xfe, 0x01]), FrameScan::NeedMore);
        assert_eq!(next_frame_len(&[0x81, 0xfe, 0x01, 0x00]), FrameScan::Frame { total: 264, payload: 256 });
        let mut big = vec![0x82, 0xff];
        big.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(next_frame_len(&big), FrameScan::Frame { total: usize::MAX, payload: u64::MAX });
    }

    #[test]
    fn in_place_frames_match_direct_ones() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
            let payload = vec![b'x'; len];
            let mut direct = b"prefix".to_vec();
            write_frame(&mut direct, OP_TEXT, &payload);
            let mut in_place = b"prefix".to_vec();
            let mark = begin_frame(&mut in_place);
            in_place.extend_from_slice(&payload);
            finish_frame(&mut in_place, mark, OP_TEXT);
            assert_eq!(direct, in_place, "len {len}");
            assert_eq!(
                next_frame_len(direct.get(6..).unwrap_or_default()),
                FrameScan::Frame { total: direct.len() - 6, payload: len as u64 }
            );
        }
    }

    #[test]
    fn memory_io_never_blocks_the_caller() {
        let mut out = Vec::new();
        let mut io = MemoryIo::new(b"abc", &mut out);
        let mut buf = [0u8; 2];
        assert_eq!(io.read(&mut buf).ok(), Some(2));
        assert_eq!(io.read(&mut buf).ok(), Some(1));
        assert_eq!(io.read(&mut buf).map_err(|e| e.kind()).err(), Some(io::ErrorKind::WouldBlock));
        assert_eq!(io.write(b"xyz").ok(), Some(3));
        assert_eq!(io.consumed, 3);
        assert_eq!(out, b"xyz");
    }
}
