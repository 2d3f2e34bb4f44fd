//! Request body decoding: Content-Length and chunked (RFC 9112 §6.3, §7.1), incremental.
//!
//! Guarantees: the decoder is a byte-at-a-time state machine, so a body split at any
//! offset decodes exactly as one delivered whole. It never buffers more than the body
//! limit: a declared length or a chunk size that would pass the limit fails with
//! `BodyTooLarge` before its data is read. Chunk sizes use checked arithmetic, an empty
//! size line is rejected (httparse takes it as the last chunk), and CR or LF inside a
//! chunk extension is rejected (the chunk-extension smuggling class, CVE-2025-22871).
//! Trailer fields are validated and then dropped: they are never merged into the head.

use super::error::ParseError;

/// Most hex digits in a chunk size; 16 fill a u64.
const MAX_CHUNK_SIZE_DIGITS: u8 = 16;
/// Longest chunk extension accepted on one size line; longer ones are rejected as invalid.
pub const MAX_CHUNK_EXTENSION_BYTES: u16 = 1024;

/// Result of feeding bytes to a [`BodyDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// How many input bytes were used; the rest belongs to the next request.
    pub consumed: usize,
    /// The body is complete.
    pub done: bool,
}

/// Decodes one request body into a caller-owned buffer.
#[derive(Debug, Clone)]
pub enum BodyDecoder {
    /// `Content-Length` framing: this many bytes remain.
    Length {
        /// Bytes still to come.
        remaining: u64,
    },
    /// Chunked framing.
    Chunked(ChunkedDecoder),
}

impl BodyDecoder {
    /// A decoder for a body of exactly `len` bytes.
    ///
    /// # Errors
    /// `BodyTooLarge` when `len` is over `max_body`: nothing of it is read.
    pub fn length(len: u64, max_body: u64) -> Result<Self, ParseError> {
        if len > max_body {
            return Err(ParseError::BodyTooLarge);
        }
        Ok(Self::Length { remaining: len })
    }

    /// A decoder for a chunked body whose decoded size may not pass `max_body`,
    /// and whose trailer section may not pass `max_trailer_bytes`.
    #[must_use]
    pub fn chunked(max_body: u64, max_trailer_bytes: usize) -> Self {
        Self::Chunked(ChunkedDecoder::new(max_body, max_trailer_bytes))
    }

    /// Feed `input`; decoded body bytes are appended to `out`.
    ///
    /// # Errors
    /// A chunk framing error or `BodyTooLarge`; the connection must then be closed.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Progress, ParseError> {
        match self {
            Self::Length { remaining } => {
                let take = usize::try_from(*remaining).unwrap_or(usize::MAX).min(input.len());
                out.extend_from_slice(input.get(..take).unwrap_or_default());
                *remaining = remaining.saturating_sub(take as u64);
                Ok(Progress { consumed: take, done: *remaining == 0 })
            }
            Self::Chunked(c) => c.decode(input, out),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the first hex digit of a size line.
    SizeStart,
    /// Inside the hex digits.
    Size,
    /// After the digits: optional whitespace before `;` or CR.
    SizeWhitespace,
    /// After `;`: optional whitespace, then an extension name.
    ExtBeforeName,
    /// Inside an extension name.
    ExtName,
    /// Whitespace after an extension name.
    ExtAfterName,
    /// After `=`: optional whitespace, then a value.
    ExtBeforeValue,
    /// Inside a token value.
    ExtToken,
    /// Inside a quoted-string value.
    ExtQuoted,
    /// After a backslash inside a quoted-string.
    ExtEscape,
    /// After a value: optional whitespace, then `;` or CR.
    ExtAfterValue,
    /// Saw CR at the end of the size line; LF must follow.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// Data done; CR must follow.
    DataCr,
    /// Data CR seen; LF must follow.
    DataLf,
    /// At the start of a trailer line (or of the final CRLF).
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// Saw CR at the end of a trailer line.
    TrailerLf,
    /// Saw the CR of the final empty line.
    FinalLf,
    /// The body is complete.
    Done,
}

/// The chunked-coding state machine.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    chunk_size: u64,
    size_digits: u8,
    extension_len: u16,
    decoded: u64,
    trailer_bytes: usize,
    max_body: u64,
    max_trailer_bytes: usize,
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    #[must_use]
    pub fn new(max_body: u64, max_trailer_bytes: usize) -> Self {
        Self {
            state: State::SizeStart,
            chunk_size: 0,
            size_digits: 0,
            extension_len: 0,
            decoded: 0,
            trailer_bytes: 0,
            max_body,
            max_trailer_bytes,
        }
    }

    /// Decoded body bytes so far.
    #[must_use]
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Feed `input`; decoded data is appended to `out`.
    ///
    /// # Errors
    /// See [`BodyDecoder::decode`].
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Progress, ParseError> {
        let mut i = 0usize;
        while i < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let rest = input.get(i..).unwrap_or_default();
                let take = usize::try_from(self.chunk_size).unwrap_or(usize::MAX).min(rest.len());
                out.extend_from_slice(rest.get(..take).unwrap_or_default());
                self.chunk_size -= take as u64;
                i += take;
                if self.chunk_size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            let b = input.get(i).copied().unwrap_or_default();
            i += 1;
            self.step(b)?;
        }
        Ok(Progress { consumed: i, done: self.state == State::Done })
    }

    fn step(&mut self, b: u8) -> Result<(), ParseError> {
        self.state = match self.state {
            State::SizeStart => {
                // RFC 9112 §7.1: chunk-size = 1*HEXDIG; an empty size line is an error.
                let digit = hex_digit(b).ok_or(ParseError::InvalidChunkSize)?;
                self.chunk_size = u64::from(digit);
                self.size_digits = 1;
                self.extension_len = 0;
                State::Size
            }
            State::Size => match (b, hex_digit(b)) {
                (_, Some(digit)) => {
                    self.size_digits += 1;
                    if self.size_digits > MAX_CHUNK_SIZE_DIGITS {
                        return Err(ParseError::InvalidChunkSize);
                    }
                    self.chunk_size = (self.chunk_size << 4) | u64::from(digit);
                    State::Size
                }
                (b' ' | b'\t', _) => State::SizeWhitespace,
                (b';', _) => State::ExtBeforeName,
                (b'\r', _) => State::SizeLf,
                _ => return Err(ParseError::InvalidChunkSize),
            },
            State::SizeWhitespace => match b {
                b' ' | b'\t' => State::SizeWhitespace,
                b';' => State::ExtBeforeName,
                b'\r' => State::SizeLf,
                _ => return Err(ParseError::InvalidChunkSize),
            },
            State::ExtBeforeName
            | State::ExtName
            | State::ExtAfterName
            | State::ExtBeforeValue
            | State::ExtToken
            | State::ExtQuoted
            | State::ExtEscape
            | State::ExtAfterValue => {
                self.extension_len = self.extension_len.saturating_add(1);
                if self.extension_len > MAX_CHUNK_EXTENSION_BYTES {
                    return Err(ParseError::InvalidChunkExtension);
                }
                self.extension_step(b)?
            }
            State::SizeLf => {
                if b != b'\n' {
                    return Err(ParseError::InvalidChunkSize);
                }
                self.start_chunk()?
            }
            State::Data => State::Data,
            State::DataCr => {
                if b != b'\r' {
                    return Err(ParseError::InvalidChunkData);
                }
                State::DataLf
            }
            State::DataLf => {
                if b != b'\n' {
                    return Err(ParseError::InvalidChunkData);
                }
                State::SizeStart
            }
            State::TrailerStart => match b {
                b'\r' => State::FinalLf,
                b if is_tchar(b) => self.count_trailer(State::TrailerName)?,
                _ => return Err(ParseError::InvalidTrailer),
            },
            State::TrailerName => match b {
                b':' => self.count_trailer(State::TrailerValue)?,
                b if is_tchar(b) => self.count_trailer(State::TrailerName)?,
                _ => return Err(ParseError::InvalidTrailer),
            },
            State::TrailerValue => match b {
                b'\r' => State::TrailerLf,
                b'\t' => self.count_trailer(State::TrailerValue)?,
                b if b < 0x20 || b == 0x7f => return Err(ParseError::InvalidTrailer),
                _ => self.count_trailer(State::TrailerValue)?,
            },
            State::TrailerLf => {
                if b != b'\n' {
                    return Err(ParseError::InvalidTrailer);
                }
                State::TrailerStart
            }
            State::FinalLf => {
                if b != b'\n' {
                    return Err(ParseError::InvalidTrailer);
                }
                State::Done
            }
            State::Done => State::Done,
        };
        Ok(())
    }

    /// Extension grammar (RFC 9112 §7.1.1):
    /// `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`.
    /// The meaning of extensions is ignored, but their syntax is checked byte by byte so no
    /// CR, LF or stray byte can hide inside one.
    fn extension_step(&self, b: u8) -> Result<State, ParseError> {
        let ws = b == b' ' || b == b'\t';
        let qdtext = b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80;
        Ok(match self.state {
            State::ExtBeforeName if ws => State::ExtBeforeName,
            State::ExtBeforeName | State::ExtName if is_tchar(b) => State::ExtName,
            State::ExtName | State::ExtAfterName if ws => State::ExtAfterName,
            State::ExtName | State::ExtAfterName | State::ExtToken | State::ExtAfterValue if b == b';' => {
                State::ExtBeforeName
            }
            State::ExtName | State::ExtAfterName | State::ExtToken | State::ExtAfterValue if b == b'\r' => {
                State::SizeLf
            }
            State::ExtName | State::ExtAfterName if b == b'=' => State::ExtBeforeValue,
            State::ExtBeforeValue if ws => State::ExtBeforeValue,
            State::ExtBeforeValue if b == b'"' => State::ExtQuoted,
            State::ExtBeforeValue | State::ExtToken if is_tchar(b) => State::ExtToken,
            State::ExtToken | State::ExtAfterValue if ws => State::ExtAfterValue,
            State::ExtQuoted if b == b'"' => State::ExtAfterValue,
            State::ExtQuoted if b == b'\\' => State::ExtEscape,
            State::ExtQuoted | State::ExtEscape if qdtext => State::ExtQuoted,
            _ => return Err(ParseError::InvalidChunkExtension),
        })
    }

    fn start_chunk(&mut self) -> Result<State, ParseError> {
        if self.chunk_size == 0 {
            return Ok(State::TrailerStart);
        }
        self.decoded = self.decoded.checked_add(self.chunk_size).ok_or(ParseError::BodyTooLarge)?;
        if self.decoded > self.max_body {
            return Err(ParseError::BodyTooLarge);
        }
        Ok(State::Data)
    }

    fn count_trailer(&mut self, next: State) -> Result<State, ParseError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > self.max_trailer_bytes {
            return Err(ParseError::TrailersTooLarge);
        }
        Ok(next)
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The value of one hexadecimal digit (either case).
fn hex_digit(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok())
}
