//! The `embeddings` check: the two parsers of `/v1/embeddings` on arbitrary bytes: the
//! client's request (`embed::wire::parse_request`) and an upstream's answer
//! (`embed::upstream::decode_answer`), with the properties the route relies on.

use base64::Engine as _;
use serde_json::Value;
use talon::embed::builtin::embed;
use talon::embed::upstream::{MAX_UPSTREAM_DIMENSIONS, decode_answer};
use talon::embed::wire::{
    EncodingFormat, MAX_INPUT_BYTES, MAX_INPUTS, MAX_TOTAL_INPUT_BYTES, answer_body, parse_request,
};
use talon::error::GatewayError;

/// Largest dimension the check asks the built-in model for (keeps each run fast).
const CHECK_DIMENSIONS: usize = 64;

/// `[selector][body…]`: an even selector is a client request; an odd one an upstream answer
/// for `1 + (selector >> 1) % 4` inputs.
pub fn check_embeddings(data: &[u8]) {
    let selector = data.first().copied().unwrap_or(0);
    let body = data.get(1..).unwrap_or_default();
    if selector % 2 == 0 {
        check_request(body);
    } else {
        check_answer(body, 1 + usize::from(selector >> 1) % 4);
    }
}

fn check_request(body: &[u8]) {
    let parsed = parse_request(body);
    assert_eq!(parsed, parse_request(body), "parse_request is not deterministic");
    let request = match parsed {
        Ok(r) => r,
        Err(GatewayError::InvalidParams(m)) => {
            assert!(!m.is_empty(), "a refusal without a message");
            return;
        }
        Err(other) => panic!("a refusal that is not a 400: {other:?}"),
    };
    assert!((1..=MAX_INPUTS).contains(&request.inputs.len()), "{} inputs accepted", request.inputs.len());
    let mut total = 0usize;
    for text in &request.inputs {
        assert!(!text.is_empty() && text.len() <= MAX_INPUT_BYTES, "an input of {} bytes accepted", text.len());
        total += text.len();
    }
    assert!(total <= MAX_TOTAL_INPUT_BYTES, "{total} bytes of input accepted");
    assert!(request.dimensions.is_none_or(|d| d >= 1), "dimensions 0 accepted");
    assert!(request.model.as_deref().is_none_or(|m| !m.is_empty() && m.trim() == m), "model not trimmed");
    let dims = request.dimensions.unwrap_or(CHECK_DIMENSIONS).min(CHECK_DIMENSIONS);
    for text in request.inputs.iter().take(4) {
        let v = embed(text, dims);
        assert_eq!(v.len(), dims);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(v.iter().all(|x| x.is_finite()), "a non-finite component");
        assert!((norm - 1.0).abs() < 1e-3 || norm == 0.0, "norm {norm} for {text:?}");
    }
}

fn check_answer(body: &[u8], expected: usize) {
    let decoded = decode_answer(body, expected);
    assert_eq!(decoded, decode_answer(body, expected), "decode_answer is not deterministic");
    let embedded = match decoded {
        Ok(e) => e,
        Err(bad) => {
            assert!(!bad.0.is_empty(), "a refusal without a message");
            return;
        }
    };
    assert_eq!(embedded.vectors.len(), expected, "not one vector per input");
    let width = embedded.vectors.first().map_or(0, Vec::len);
    assert!((1..=MAX_UPSTREAM_DIMENSIONS).contains(&width), "vector width {width}");
    for v in &embedded.vectors {
        assert_eq!(v.len(), width, "vectors of different lengths accepted");
        assert!(v.iter().all(|x| x.is_finite()), "a non-finite component accepted");
    }
    // What the client gets: float and base64 forms of exactly the same f32 bits.
    let bits = |format| -> Vec<Vec<u32>> {
        let answer: Value = serde_json::from_slice(&answer_body(&embedded, "m", format)).expect("answer is JSON");
        let data = answer["data"].as_array().expect("data");
        data.iter()
            .map(|item| match &item["embedding"] {
                Value::String(s) => {
                    let raw = base64::engine::general_purpose::STANDARD.decode(s).expect("base64");
                    raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
                }
                Value::Array(xs) => {
                    xs.iter().map(|x| (x.as_f64().expect("a number") as f32).to_bits()).collect::<Vec<u32>>()
                }
                other => panic!("embedding is {other}"),
            })
            .collect()
    };
    let want: Vec<Vec<u32>> = embedded.vectors.iter().map(|v| v.iter().map(|x| x.to_bits()).collect()).collect();
    assert_eq!(bits(EncodingFormat::Float), want, "float answer changed the bits");
    assert_eq!(bits(EncodingFormat::Base64), want, "base64 answer changed the bits");
}
