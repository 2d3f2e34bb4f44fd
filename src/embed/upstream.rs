//! Forwarding `/v1/embeddings` to the configured OpenAI-compatible provider
//! (`models.embeddings`): `POST {base_url}/embeddings`, and the decoder of its answer.
//!
//! Guarantees:
//! - The request always asks for floats (`encoding_format: "float"`) and sends `input` as an
//!   array of strings, `model` as the provider's model name and `dimensions` when the client
//!   gave it; `user` is not forwarded. The client's own `encoding_format` is applied by Talon,
//!   so base64 works even with upstreams that ignore it (llama-cpp-python).
//! - Retries, timeouts, abort and key handling are those of every provider call
//!   ([`crate::agent::providers::http`]): the key goes only into `Authorization: Bearer …` and
//!   is scrubbed from error text; the answer body is read up to [`MAX_UPSTREAM_BODY_BYTES`].
//! - [`decode_answer`] accepts only one flat vector of finite numbers per input (a base64
//!   string of little-endian `f32` is also accepted), exactly as many as were sent, each index
//!   once, all of one length of at most [`MAX_UPSTREAM_DIMENSIONS`]. Anything else is a
//!   [`BadAnswer`] naming what was wrong: per-token vectors (a list of lists, what
//!   llama-cpp-python returns for a decoder model) say so explicitly. It never panics.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::wire::{EmbedRequest, Embedded};
use crate::agent::providers::abort::TurnControl;
use crate::agent::providers::error::{ProviderError, upstream_message};
use crate::agent::providers::http::{Endpoint, read_body_up_to, send};
use crate::agent::providers::openai::{OpenAiSettings, endpoint};
use crate::agent::providers::types::truncate;

/// Largest upstream answer read (2048 inputs of 1536 floats as JSON text is about 40 MiB;
/// ask for fewer inputs per request past that). Larger: 502.
pub const MAX_UPSTREAM_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// Longest vector accepted from an upstream. Longer: 502.
pub const MAX_UPSTREAM_DIMENSIONS: usize = 65_536;

/// Longest piece of upstream text quoted in an error.
const MAX_QUOTED_BYTES: usize = 160;

/// An upstream answer that is not one flat vector per input; the text says what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAnswer(pub String);

/// Why a forwarded call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// The call itself failed (connection, status, timeout, size).
    Provider(ProviderError),
    /// The answer came but cannot be used.
    Answer(BadAnswer),
}

/// The client of one configured embeddings model.
#[derive(Debug, Clone)]
pub struct UpstreamEmbeddings {
    model: String,
    endpoint: Endpoint,
}

impl UpstreamEmbeddings {
    /// A client for `model` on the provider described by `settings`.
    #[must_use]
    pub fn new(settings: &OpenAiSettings, model: &str) -> Self {
        Self { model: model.to_owned(), endpoint: endpoint(settings, "embeddings", "application/json") }
    }

    /// The request body sent upstream.
    #[must_use]
    pub fn request_body(&self, request: &EmbedRequest) -> Value {
        let mut body = json!({ "model": self.model, "input": request.inputs, "encoding_format": "float" });
        if let Some(d) = request.dimensions {
            body["dimensions"] = json!(d);
        }
        body
    }

    /// Forward `request` and decode the answer.
    ///
    /// # Errors
    /// [`UpstreamError`].
    pub fn embed(&self, request: &EmbedRequest, ctl: &TurnControl) -> Result<Embedded, UpstreamError> {
        let body = serde_json::to_vec(&self.request_body(request)).unwrap_or_default();
        let opened = send(&self.endpoint, &body, ctl).map_err(UpstreamError::Provider)?;
        let answer = read_body_up_to(opened, ctl, MAX_UPSTREAM_BODY_BYTES).map_err(UpstreamError::Provider)?;
        decode_answer(&answer, request.inputs.len()).map_err(UpstreamError::Answer)
    }
}

#[derive(Deserialize)]
struct AnswerBody<'a> {
    #[serde(borrow, default)]
    data: Option<Vec<AnswerItem<'a>>>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct AnswerItem<'a> {
    #[serde(default)]
    index: Option<Value>,
    #[serde(borrow, default)]
    embedding: Option<&'a RawValue>,
}

fn bad(message: impl Into<String>) -> BadAnswer {
    BadAnswer(message.into())
}

/// Decode an upstream answer for `expected` inputs into vectors in input order.
///
/// # Errors
/// [`BadAnswer`], as the module doc lists.
pub fn decode_answer(body: &[u8], expected: usize) -> Result<Embedded, BadAnswer> {
    let answer: AnswerBody<'_> = serde_json::from_slice(body).map_err(|e| {
        bad(format!("the upstream's answer is not an embeddings list: {}", truncate(&e.to_string(), MAX_QUOTED_BYTES)))
    })?;
    let Some(items) = answer.data else {
        if answer.error.is_some() {
            return Err(bad(format!("the upstream answered with an error: {}", upstream_message(body))));
        }
        return Err(bad("the upstream's answer has no data array"));
    };
    if items.len() != expected {
        return Err(bad(format!("the upstream returned {} vectors for {expected} inputs", items.len())));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
    let mut width: Option<usize> = None;
    for (position, item) in items.into_iter().enumerate() {
        let index = match &item.index {
            None | Some(Value::Null) => position,
            Some(v) => match v.as_u64().and_then(|i| usize::try_from(i).ok()) {
                Some(i) if i < expected => i,
                _ => return Err(bad(format!("data[{position}].index {v} is not an input index below {expected}"))),
            },
        };
        let raw = item.embedding.ok_or_else(|| bad(format!("data[{position}] has no embedding")))?;
        let vector = vector(raw, index)?;
        match width {
            None => width = Some(vector.len()),
            Some(w) if w != vector.len() => {
                return Err(bad(format!(
                    "the upstream's vectors differ in length ({w} and {} for input {index})",
                    vector.len()
                )));
            }
            Some(_) => {}
        }
        let slot = slots.get_mut(index).ok_or_else(|| bad(format!("index {index} out of range")))?;
        if slot.replace(vector).is_some() {
            return Err(bad(format!("the upstream returned input {index} twice")));
        }
    }
    let vectors: Vec<Vec<f32>> = slots.into_iter().flatten().collect();
    if vectors.len() != expected {
        return Err(bad("the upstream's answer misses some inputs"));
    }
    let tokens = |name: &str| answer.usage.as_ref().and_then(|u| u.get(name)).and_then(Value::as_u64);
    let prompt_tokens = tokens("prompt_tokens").or_else(|| tokens("total_tokens")).unwrap_or(0);
    Ok(Embedded { vectors, prompt_tokens })
}

/// One `embedding` value: a flat array of finite numbers, or a base64 string of LE `f32`.
fn vector(raw: &RawValue, index: usize) -> Result<Vec<f32>, BadAnswer> {
    let text = raw.get().trim_start();
    let vector = if text.starts_with('"') {
        let encoded: String = serde_json::from_str(text).map_err(|_| bad(format!("input {index}: bad string")))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|_| bad(format!("input {index}: the embedding string is not base64")))?;
        if bytes.len() % 4 != 0 {
            return Err(bad(format!("input {index}: base64 embedding of {} bytes is not whole f32s", bytes.len())));
        }
        bytes.as_chunks::<4>().0.iter().map(|c| f32::from_le_bytes(*c)).collect()
    } else {
        match serde_json::from_str::<Vec<f64>>(text) {
            Ok(numbers) => to_f32(&numbers, index)?,
            Err(_) => return Err(not_flat(text, index)),
        }
    };
    if vector.is_empty() {
        return Err(bad(format!("input {index}: the upstream returned an empty vector")));
    }
    if vector.len() > MAX_UPSTREAM_DIMENSIONS {
        return Err(bad(format!(
            "input {index}: vector of {} components is longer than {MAX_UPSTREAM_DIMENSIONS}",
            vector.len()
        )));
    }
    if vector.iter().any(|x| !x.is_finite()) {
        return Err(bad(format!("input {index}: the vector has a non-finite component")));
    }
    Ok(vector)
}

fn to_f32(numbers: &[f64], index: usize) -> Result<Vec<f32>, BadAnswer> {
    numbers
        .iter()
        .map(|x| {
            if x.is_finite() && x.abs() <= f64::from(f32::MAX) {
                #[allow(clippy::cast_possible_truncation)] // In range: checked above.
                Ok(*x as f32)
            } else {
                Err(bad(format!("input {index}: component {x} does not fit an f32")))
            }
        })
        .collect()
}

/// The error for an `embedding` that is not a flat list of numbers.
fn not_flat(text: &str, index: usize) -> BadAnswer {
    if let Ok(rows) = serde_json::from_str::<Vec<Vec<f64>>>(text) {
        let width = rows.first().map_or(0, Vec::len);
        return bad(format!(
            "the upstream returned {} per-token vectors of {width} numbers for input {index}, not one vector \
             per input: its model is not a sentence-embedding model (llama-cpp-python with a decoder model such \
             as SmolLM2 does this); configure an embedding model for models.embeddings",
            rows.len()
        ));
    }
    bad(format!("input {index}: embedding is not a list of numbers: {}", truncate(text, MAX_QUOTED_BYTES)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(body: &str, n: usize) -> Result<Embedded, String> {
        decode_answer(body.as_bytes(), n).map_err(|e| e.0)
    }

    #[test]
    fn flat_vectors_in_index_order_with_usage() {
        let body = r#"{"object":"list","data":[
            {"object":"embedding","index":1,"embedding":[0.5,-1]},
            {"object":"embedding","index":0,"embedding":[1e-3,2.0]}],
            "model":"m","usage":{"prompt_tokens":7,"total_tokens":7}}"#;
        let got = decode(body, 2).unwrap_or_default();
        assert_eq!(got.vectors, vec![vec![0.001f32, 2.0], vec![0.5, -1.0]]);
        assert_eq!(got.prompt_tokens, 7);
        let b64 = r#"{"data":[{"embedding":"AACAPwAAAMA="}]}"#;
        assert_eq!(decode(b64, 1).unwrap_or_default().vectors, vec![vec![1.0f32, -2.0]]);
    }

    #[test]
    fn refusals_say_what_was_wrong() {
        for (body, n, want) in [
            (r#"{"data":[{"embedding":[[0.1,0.2],[0.3,0.4]]}]}"#, 1, "2 per-token vectors of 2 numbers"),
            (r#"{"data":[{"embedding":[0.1]}]}"#, 2, "1 vectors for 2 inputs"),
            (r#"{"data":[{"index":0,"embedding":[0.1]},{"index":0,"embedding":[0.2]}]}"#, 2, "input 0 twice"),
            (r#"{"data":[{"index":5,"embedding":[0.1]}]}"#, 1, "not an input index"),
            (r#"{"data":[{"index":0,"embedding":[0.1]},{"index":1,"embedding":[0.2,0.3]}]}"#, 2, "differ in length"),
            (r#"{"data":[{"embedding":[]}]}"#, 1, "empty vector"),
            (r#"{"data":[{"embedding":[1e300]}]}"#, 1, "does not fit an f32"),
            (r#"{"data":[{"embedding":"AAA"}]}"#, 1, "not base64"),
            (r#"{"data":[{"embedding":"AAAA"}]}"#, 1, "not whole f32s"),
            (r#"{"data":[{"embedding":{"a":1}}]}"#, 1, "not a list of numbers"),
            (r#"{"data":[{}]}"#, 1, "has no embedding"),
            (r#"{"error":{"message":"no such model","type":"invalid_request_error"}}"#, 1, "no such model"),
            (r#"{"object":"list"}"#, 1, "no data array"),
            ("<html>", 1, "not an embeddings list"),
        ] {
            match decode(body, n) {
                Err(e) => assert!(e.contains(want), "{body}: {e}"),
                Ok(v) => panic!("{body} accepted: {v:?}"),
            }
        }
    }
}
