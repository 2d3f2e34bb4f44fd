//! Sans-IO HTTP/1.1: head parsing with RFC 9112 framing rules, body decoding, response encoding.
//!
//! Nothing here touches sockets or clocks. The connection layer (`crate::conn`) feeds bytes in
//! and writes the bytes that come out; that split is what lets every piece be fuzzed, benched
//! and tested at every byte boundary.

pub mod body;
pub mod date;
pub mod error;
pub mod head;
pub mod response;

pub use body::{BodyDecoder, ChunkedDecoder, Progress};
pub use error::ParseError;
pub use head::{BodyFraming, HeadLimits, Method, RequestHead, Version, parse_head};
pub use response::{EncodeOptions, Response};

#[cfg(test)]
mod tests;
