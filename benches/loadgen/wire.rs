//! Wire helpers for the load client: non-blocking connects (optionally from several loopback
//! source addresses), the WebSocket client handshake, masked client frames and server-frame
//! decoding (RFC 6455), HTTP response heads, and a streaming chunked-body decoder.
//! Nothing here panics on peer bytes: malformed input comes back as an `Err`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mio::net::TcpStream;

/// WebSocket opcodes.
pub const OP_CONT: u8 = 0x0;
/// Text frame.
pub const OP_TEXT: u8 = 0x1;
/// Binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame.
pub const OP_PING: u8 = 0x9;
/// Pong frame.
pub const OP_PONG: u8 = 0xA;

/// The fixed Sec-WebSocket-Key every connection sends (the RFC's sample; uniqueness does not
/// matter to a server) and the accept value it must produce.
pub const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Starts a non-blocking connect to `addr`, from `src` (port chosen by the kernel) if given.
pub fn connect(addr: SocketAddr, src: Option<Ipv4Addr>) -> io::Result<TcpStream> {
    let stream = match src {
        None => TcpStream::connect(addr)?,
        Some(ip) => {
            use socket2::{Domain, Socket, Type};
            let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            s.set_nonblocking(true)?;
            s.bind(&SocketAddr::new(IpAddr::V4(ip), 0).into())?;
            match s.connect(&addr.into()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(115) || e.kind() == io::ErrorKind::WouldBlock => {} // EINPROGRESS
                Err(e) => return Err(e),
            }
            TcpStream::from_std(s.into())
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The source address for connection `i` when `n` loopback sources are used (None = kernel's).
pub fn source_for(i: usize, n: u8) -> Option<Ipv4Addr> {
    if n <= 1 { None } else { Some(Ipv4Addr::new(127, 0, 0, 1 + (i % n as usize) as u8)) }
}

/// The client's opening handshake.
pub fn ws_handshake(host: &str, path: &str, token: Option<&str>, subprotocol: Option<&str>) -> Vec<u8> {
    let mut r = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(t) = token {
        r.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(p) = subprotocol {
        r.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// A parsed HTTP response head.
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Bytes the head took (the body starts here).
    pub len: usize,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// `Content-Length`, if given.
    pub content_length: Option<usize>,
    /// `Sec-WebSocket-Accept`, if given.
    pub ws_accept: Option<String>,
    /// `Content-Type`, if given.
    pub content_type: Option<String>,
}

/// Parses a response head from the start of `buf`: Ok(None) while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > 16 * 1024 { Err("response head over 16 KiB".into()) } else { Ok(None) };
        }
        Err(e) => return Err(format!("bad response head: {e}")),
    };
    let mut head = Head {
        status: resp.code.unwrap_or(0),
        len,
        chunked: false,
        content_length: None,
        ws_accept: None,
        content_type: None,
    };
    for h in resp.headers.iter() {
        let v = String::from_utf8_lossy(h.value).trim().to_string();
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = v.to_ascii_lowercase().contains("chunked");
        } else if h.name.eq_ignore_ascii_case("content-length") {
            head.content_length = v.parse().ok();
        } else if h.name.eq_ignore_ascii_case("sec-websocket-accept") {
            head.ws_accept = Some(v);
        } else if h.name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(v);
        }
    }
    Ok(Some(head))
}

/// A small xorshift generator for mask keys (masking only has to be present, not secret).
pub struct MaskGen(u64);

impl MaskGen {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// Next 4-byte mask.
    pub fn next_mask(&mut self) -> [u8; 4] {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 as u32).to_le_bytes()
    }
}

/// Appends one final, masked client frame.
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
}

/// One decoded frame header.
pub struct Frame {
    /// FIN bit.
    pub fin: bool,
    /// Opcode.
    pub opcode: u8,
    /// Payload range within the buffer that was decoded.
    pub payload: std::ops::Range<usize>,
    /// Mask key, if the server masked (it must not, but we undo it anyway).
    pub mask: Option<[u8; 4]>,
}

/// Decodes the frame at the start of `buf`: Ok(None) while incomplete.
pub fn decode_frame(buf: &[u8], max_payload: usize) -> Result<Option<Frame>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    if buf[0] & 0x70 != 0 {
        return Err("RSV bits set (no extension was negotiated)".into());
    }
    let opcode = buf[0] & 0x0F;
    let masked = buf[1] & 0x80 != 0;
    let mut pos = 2;
    let len = match buf[1] & 0x7F {
        126 => {
            let Some(b) = buf.get(2..4) else { return Ok(None) };
            pos = 4;
            u16::from_be_bytes([b[0], b[1]]) as u64
        }
        127 => {
            let Some(b) = buf.get(2..10) else { return Ok(None) };
            pos = 10;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_be_bytes(a)
        }
        n => u64::from(n),
    };
    if len > max_payload as u64 {
        return Err(format!("frame of {len} bytes over the {max_payload}-byte limit"));
    }
    let mask = if masked {
        let Some(m) = buf.get(pos..pos + 4) else { return Ok(None) };
        pos += 4;
        Some([m[0], m[1], m[2], m[3]])
    } else {
        None
    };
    let end = pos + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(Frame { fin, opcode, payload: pos..end, mask }))
}

/// Streaming decoder for `Transfer-Encoding: chunked` bodies.
#[derive(Default)]
pub struct Chunked {
    state: ChunkState,
    size: u64,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    /// Chunk extension after the size, up to the LF.
    Ext,
    Data,
    DataCr,
    DataLf,
    /// After the last chunk: trailers are ignored.
    Done,
}

impl Chunked {
    /// Feeds wire bytes; appends the body bytes they carry to `out`. Err on bad framing.
    /// Ok(true) once the terminating zero-size chunk has been seen.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<bool, String> {
        while !input.is_empty() {
            match self.state {
                ChunkState::Size => {
                    let b = input[0];
                    input = &input[1..];
                    match b {
                        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                            let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                            self.size = self.size.checked_mul(16).ok_or("chunk size overflow")? + d;
                        }
                        b';' | b' ' | b'\t' | b'\r' => self.state = ChunkState::Ext,
                        b'\n' => self.end_size_line(),
                        _ => return Err(format!("bad chunk size byte {b:#x}")),
                    }
                }
                ChunkState::Ext => match input.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        input = &input[i + 1..];
                        self.end_size_line();
                    }
                    None => input = &[],
                },
                ChunkState::Data => {
                    let n = (self.size as usize).min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.size -= n as u64;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                }
                ChunkState::DataCr => {
                    let b = input[0];
                    input = &input[1..];
                    self.state = match b {
                        b'\r' => ChunkState::DataLf,
                        b'\n' => ChunkState::Size,
                        _ => return Err("missing CRLF after chunk data".into()),
                    };
                }
                ChunkState::DataLf => {
                    if input[0] != b'\n' {
                        return Err("missing LF after chunk data".into());
                    }
                    input = &input[1..];
                    self.state = ChunkState::Size;
                }
                ChunkState::Done => return Ok(true),
            }
        }
        Ok(self.state == ChunkState::Done)
    }

    fn end_size_line(&mut self) {
        self.state = if self.size == 0 { ChunkState::Done } else { ChunkState::Data };
    }
}

/// Finds `"key":` in a JSON text and parses the unsigned integer after it.
pub fn json_u64(text: &[u8], key: &[u8]) -> Option<u64> {
    let mut i = find(text, key)? + key.len();
    while text.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    let start = i;
    while text.get(i).is_some_and(|b| b.is_ascii_digit()) {
        i += 1;
    }
    std::str::from_utf8(&text[start..i]).ok()?.parse().ok()
}

/// Position of `needle` in `hay` (first-byte scan, then compare: cheap on padding).
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last_start = hay.len().checked_sub(needle.len())?;
    let mut i = 0;
    while i <= last_start {
        let k = hay[i..=last_start].iter().position(|&b| b == first)?;
        i += k;
        if hay[i + 1..i + needle.len()] == *rest {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip_lengths() {
        for n in [0usize, 1, 125, 126, 65535, 65536] {
            let payload = vec![b'x'; n];
            let mut out = Vec::new();
            encode_frame(&mut out, OP_TEXT, &payload, [1, 2, 3, 4]);
            let f = decode_frame(&out, 1 << 20).unwrap().unwrap();
            assert_eq!(f.payload.len(), n);
            assert_eq!(f.payload.end, out.len());
            let m = f.mask.unwrap();
            let back: Vec<u8> = out[f.payload].iter().enumerate().map(|(i, b)| b ^ m[i & 3]).collect();
            assert_eq!(back, payload);
            assert!(decode_frame(&out[..out.len() - 1], 1 << 20).unwrap().is_none());
        }
    }

    #[test]
    fn chunked_split_anywhere() {
        let wire = b"5;x=y\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        for cut in 0..wire.len() {
            let mut c = Chunked::default();
            let mut out = Vec::new();
            c.feed(&wire[..cut], &mut out).unwrap();
            let done = c.feed(&wire[cut..], &mut out).unwrap();
            assert!(done);
            assert_eq!(out, b"hello world");
        }
    }

    #[test]
    fn json_fields() {
        assert_eq!(json_u64(br#"{"jsonrpc":"2.0","id": 42,"result":{}}"#, b"\"id\":"), Some(42));
        assert_eq!(json_u64(br#"{"x":1}"#, b"\"id\":"), None);
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"xxab", b"ab"), Some(2));
    }

    #[test]
    fn accept_key_matches_rfc() {
        assert_eq!(tungstenite::handshake::derive_accept_key(WS_KEY.as_bytes()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }
}
