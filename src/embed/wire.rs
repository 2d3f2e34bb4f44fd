//! The client side of `POST /v1/embeddings`: the request body as OpenAI defines it, checked
//! against named limits, and the answer in OpenAI's `list` shape with vectors as JSON floats or
//! as base64 of little-endian `f32` (what the official SDKs ask for by default).
//!
//! Guarantees: pure functions, no I/O. Every refusal is a [`GatewayError::InvalidParams`] whose
//! message names the field (and the input's index); nothing here panics on any body. The float
//! and base64 forms of one vector carry the same `f32` bits: floats are written in the shortest
//! form that reads back as the same `f32`.

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use crate::error::GatewayError;

/// Most inputs in one request (OpenAI's limit); more is a 400.
pub const MAX_INPUTS: usize = 2048;

/// Largest single input, in bytes of UTF-8 (about OpenAI's 8192 tokens); larger is a 400.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// Largest sum of all inputs' bytes in one request; larger is a 400. (The body is also bounded
/// by `gateway.limits.max_body_bytes`, 1 MiB by default, which usually binds first.)
pub const MAX_TOTAL_INPUT_BYTES: usize = 4 * 1024 * 1024;

/// How the vectors are written in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingFormat {
    /// A JSON array of numbers (the default when the request names none).
    Float,
    /// A base64 string (standard alphabet, padded) of the little-endian `f32` bytes.
    Base64,
}

/// A checked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedRequest {
    /// The `model` asked for, trimmed (`None`: absent or empty, meaning the configured model).
    pub model: Option<String>,
    /// The texts, in order (a single string is one input).
    pub inputs: Vec<String>,
    /// How to write the vectors.
    pub format: EncodingFormat,
    /// `dimensions`, if given (at least 1).
    pub dimensions: Option<usize>,
}

fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::InvalidParams(message.into())
}

/// Parse and check a request body.
///
/// # Errors
/// 400 ([`GatewayError::InvalidParams`]): not a JSON object; `input` missing, empty, not a
/// string or an array of strings (token-id arrays are refused: see the message), an empty
/// input, or past [`MAX_INPUTS`], [`MAX_INPUT_BYTES`] or [`MAX_TOTAL_INPUT_BYTES`]; a `model`
/// that is not a string; an `encoding_format` other than `float` or `base64`; a `dimensions`
/// that is not a positive integer.
pub fn parse_request(body: &[u8]) -> Result<EmbedRequest, GatewayError> {
    // `user` and unknown fields are ignored, as OpenAI-compatible servers do.
    let mut b: serde_json::Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| invalid(format!("invalid request body: {e}")))?;
    let model = match b.remove("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.trim().to_owned()).filter(|m| !m.is_empty()),
        Some(_) => return Err(invalid("model must be a string")),
    };
    let format = match b.remove("encoding_format") {
        None | Some(Value::Null) => EncodingFormat::Float,
        Some(Value::String(f)) if f == "float" => EncodingFormat::Float,
        Some(Value::String(f)) if f == "base64" => EncodingFormat::Base64,
        Some(other) => {
            return Err(invalid(format!("encoding_format must be \"float\" or \"base64\", not {other}")));
        }
    };
    let dimensions = match b.remove("dimensions") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64().and_then(|d| usize::try_from(d).ok()) {
            Some(d) if d >= 1 => Some(d),
            _ => return Err(invalid(format!("dimensions must be a positive integer, not {n}"))),
        },
        Some(other) => return Err(invalid(format!("dimensions must be a positive integer, not {other}"))),
    };
    let inputs = inputs(b.remove("input"))?;
    Ok(EmbedRequest { model, inputs, format, dimensions })
}

const TOKEN_IDS: &str = "token-id input (arrays of integers) is not supported: send the text itself, \
                         as a string or an array of strings";

fn inputs(input: Option<Value>) -> Result<Vec<String>, GatewayError> {
    let list = match input {
        None | Some(Value::Null) => return Err(invalid("input is required: a string or an array of strings")),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(invalid("input must not be an empty array"));
            }
            if items.len() > MAX_INPUTS {
                return Err(invalid(format!("input has {} entries; at most {MAX_INPUTS} are allowed", items.len())));
            }
            let mut list = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::String(s) => list.push(s),
                    Value::Number(_) | Value::Array(_) => return Err(invalid(TOKEN_IDS)),
                    _ => return Err(invalid(format!("input[{i}] must be a string"))),
                }
            }
            list
        }
        Some(_) => return Err(invalid("input must be a string or an array of strings")),
    };
    let mut total = 0usize;
    for (i, text) in list.iter().enumerate() {
        if text.is_empty() {
            return Err(invalid(format!("input[{i}] is an empty string; every input must contain text")));
        }
        if text.len() > MAX_INPUT_BYTES {
            return Err(invalid(format!(
                "input[{i}] is {} bytes; at most {MAX_INPUT_BYTES} bytes are allowed per input",
                text.len()
            )));
        }
        total = total.saturating_add(text.len());
    }
    if total > MAX_TOTAL_INPUT_BYTES {
        return Err(invalid(format!(
            "the inputs total {total} bytes; at most {MAX_TOTAL_INPUT_BYTES} bytes are allowed per request"
        )));
    }
    Ok(list)
}

/// The vectors of one answer, in input order, and what they cost.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Embedded {
    /// One vector per input.
    pub vectors: Vec<Vec<f32>>,
    /// `usage.prompt_tokens` (also `total_tokens`).
    pub prompt_tokens: u64,
}

/// `embedding` as either form.
#[derive(Serialize)]
#[serde(untagged)]
enum Vector<'a> {
    Float(&'a [f32]),
    Base64(String),
}

#[derive(Serialize)]
struct Item<'a> {
    object: &'static str,
    index: usize,
    embedding: Vector<'a>,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    total_tokens: u64,
}

#[derive(Serialize)]
struct Answer<'a> {
    object: &'static str,
    data: Vec<Item<'a>>,
    model: &'a str,
    usage: Usage,
}

/// Base64 (standard alphabet, padded) of the vector's little-endian `f32` bytes.
#[must_use]
pub fn base64_le_f32(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The answer body: `{object:"list", data:[{object:"embedding", index, embedding}], model,
/// usage:{prompt_tokens, total_tokens}}`.
#[must_use]
pub fn answer_body(embedded: &Embedded, model: &str, format: EncodingFormat) -> Vec<u8> {
    let data = embedded
        .vectors
        .iter()
        .enumerate()
        .map(|(index, v)| Item {
            object: "embedding",
            index,
            embedding: match format {
                EncodingFormat::Float => Vector::Float(v),
                EncodingFormat::Base64 => Vector::Base64(base64_le_f32(v)),
            },
        })
        .collect();
    let usage = Usage { prompt_tokens: embedded.prompt_tokens, total_tokens: embedded.prompt_tokens };
    // Only strings, integers and finite floats: serialising cannot fail (a non-finite float
    // would become `null`, and none is ever produced).
    serde_json::to_vec(&Answer { object: "list", data, model, usage }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        match parse_request(body.as_bytes()) {
            Err(e) => e.message(),
            Ok(r) => panic!("{body} was accepted: {r:?}"),
        }
    }

    #[test]
    fn accepted_shapes() {
        let r =
            parse_request(br#"{"model":" builtin/embed ","input":"hi","user":"u","extra":1}"#).unwrap_or_else(|e| {
                panic!("{e:?}");
            });
        assert_eq!(r.model.as_deref(), Some("builtin/embed"));
        assert_eq!((r.inputs, r.format, r.dimensions), (vec!["hi".to_owned()], EncodingFormat::Float, None));
        let r = parse_request(br#"{"input":["a","b"],"encoding_format":"base64","dimensions":8,"model":null}"#)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((r.model, r.inputs.len(), r.format, r.dimensions), (None, 2, EncodingFormat::Base64, Some(8)));
    }

    #[test]
    fn refusals_name_the_problem() {
        for (body, want) in [
            ("[]", "invalid request body"),
            ("not json", "invalid request body"),
            (r#"{"model":"m"}"#, "input is required"),
            (r#"{"input":""}"#, "input[0] is an empty string"),
            (r#"{"input":["a",""]}"#, "input[1] is an empty string"),
            (r#"{"input":[]}"#, "must not be an empty array"),
            (r#"{"input":[1,2,3]}"#, "token-id input"),
            (r#"{"input":[[1,2],[3]]}"#, "token-id input"),
            (r#"{"input":["a",{}]}"#, "input[1] must be a string"),
            (r#"{"input":7}"#, "a string or an array of strings"),
            (r#"{"input":"a","model":5}"#, "model must be a string"),
            (r#"{"input":"a","encoding_format":"int8"}"#, "encoding_format must be"),
            (r#"{"input":"a","dimensions":0}"#, "dimensions must be a positive integer"),
            (r#"{"input":"a","dimensions":-3}"#, "dimensions must be a positive integer"),
            (r#"{"input":"a","dimensions":1.5}"#, "dimensions must be a positive integer"),
            (r#"{"input":"a","dimensions":"8"}"#, "dimensions must be a positive integer"),
        ] {
            let got = err(body);
            assert!(got.contains(want), "{body}: {got}");
        }
        let many =
            serde_json::to_string(&serde_json::json!({ "input": vec!["x"; MAX_INPUTS + 1] })).unwrap_or_default();
        assert!(err(&many).contains("at most 2048"));
        let big =
            serde_json::to_string(&serde_json::json!({ "input": "y".repeat(MAX_INPUT_BYTES + 1) })).unwrap_or_default();
        assert!(err(&big).contains("per input"));
    }

    #[test]
    fn float_and_base64_carry_the_same_bits() {
        let v = vec![0.1f32, -0.5, 1.0e-7, 0.333_333_34];
        let embedded = Embedded { vectors: vec![v.clone()], prompt_tokens: 3 };
        let float: Value =
            serde_json::from_slice(&answer_body(&embedded, "m", EncodingFormat::Float)).unwrap_or_default();
        let b64: Value =
            serde_json::from_slice(&answer_body(&embedded, "m", EncodingFormat::Base64)).unwrap_or_default();
        #[allow(clippy::cast_possible_truncation)]
        let from_float: Vec<u32> = float["data"][0]["embedding"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).map(|x| (x as f32).to_bits()).collect())
            .unwrap_or_default();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64["data"][0]["embedding"].as_str().unwrap_or_default())
            .unwrap_or_default();
        let from_b64: Vec<u32> =
            raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]).to_bits()).collect();
        assert_eq!(from_float, v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        assert_eq!(from_b64, from_float);
        assert_eq!(float["object"], "list");
        assert_eq!(float["data"][0]["object"], "embedding");
        assert_eq!(float["usage"], serde_json::json!({ "prompt_tokens": 3, "total_tokens": 3 }));
        assert_eq!(base64_le_f32(&[1.0]), "AACAPw==");
    }
}
