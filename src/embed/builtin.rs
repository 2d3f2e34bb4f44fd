//! `builtin/embed`: the offline embeddings model, so `/v1/embeddings` answers with zero
//! configuration and tests need no network. It is a bag of hashed features, not a neural model:
//! texts that share words (and spellings) get close vectors, paraphrases with other words do not.
//!
//! Guarantees:
//! - Deterministic across runs, platforms and releases of this file's algorithm: the same text
//!   and dimension give the same bits (FNV-1a 64 hashing, no random seed, arithmetic in `f64`
//!   rounded once to `f32`).
//! - Features: every token (a maximal run of alphanumeric characters, lower-cased, or one other
//!   non-whitespace character) with weight 1, every pair of neighbouring tokens with weight 0.5,
//!   and every character trigram of each alphanumeric token padded with `^`/`$` with weight
//!   0.25. Each feature is hashed to one of `dimensions` buckets with a hashed sign (signed
//!   feature hashing, so collisions cancel instead of piling up).
//! - The vector is L2-normalised (length 1). Text without any token (only whitespace) is hashed
//!   as one feature of its raw bytes, so every vector is non-zero except in the practically
//!   impossible case where all features cancel exactly; that vector is all zeros.
//! - Cost: linear in the input's bytes, a few hashes per character; no allocation per feature.
//! - It is labelled as built-in and offline wherever it is listed (`owned_by: talon-builtin`).

/// The model's name under the built-in provider: `builtin/embed`.
pub const EMBED_MODEL: &str = "embed";

/// Vector length when the request has no `dimensions`.
pub const DEFAULT_DIMENSIONS: usize = 256;

/// Largest `dimensions` the built-in model accepts; more is a 400.
pub const MAX_BUILTIN_DIMENSIONS: usize = 4096;

const WEIGHT_TOKEN: f64 = 1.0;
const WEIGHT_PAIR: f64 = 0.5;
const WEIGHT_TRIGRAM: f64 = 0.25;

/// Tags that keep the three feature kinds apart in hash space.
const TAG_TOKEN: u8 = b'w';
const TAG_PAIR: u8 = b'p';
const TAG_TRIGRAM: u8 = b'c';
const TAG_RAW: u8 = b'r';

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// An FNV-1a 64 hasher fed piece by piece.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    const fn new(tag: u8) -> Self {
        Self(FNV_OFFSET).byte(tag)
    }

    const fn byte(self, b: u8) -> Self {
        Self((self.0 ^ b as u64).wrapping_mul(FNV_PRIME))
    }

    fn bytes(self, bytes: &[u8]) -> Self {
        bytes.iter().fold(self, |h, b| h.byte(*b))
    }

    fn char(self, c: char) -> Self {
        self.bytes(c.encode_utf8(&mut [0u8; 4]).as_bytes())
    }

    /// Mix the state so that low bits (the bucket) and the top bit (the sign) are independent.
    const fn finish(self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}

/// One token of the input, lower-cased.
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        while let Some(&(_, c)) = chars.peek() {
            if !c.is_whitespace() {
                break;
            }
            chars.next();
        }
        let (_, first) = chars.next()?;
        let mut token: String = first.to_lowercase().collect();
        if first.is_alphanumeric() {
            while let Some(&(_, c)) = chars.peek() {
                if !c.is_alphanumeric() {
                    break;
                }
                token.extend(c.to_lowercase());
                chars.next();
            }
        }
        Some(token)
    })
}

/// The number of tokens in `text`, reported as `usage.prompt_tokens`.
#[must_use]
pub fn count_tokens(text: &str) -> u64 {
    tokens(text).fold(0u64, |n, _| n.saturating_add(1))
}

/// Adds hashed features into a vector of `f64` buckets.
struct Accumulator {
    buckets: Vec<f64>,
}

impl Accumulator {
    fn add(&mut self, hash: Fnv, weight: f64) {
        let h = hash.finish();
        let len = u64::try_from(self.buckets.len()).unwrap_or(u64::MAX).max(1);
        let index = usize::try_from(h % len).unwrap_or(0);
        let signed = if h >> 63 == 0 { weight } else { -weight };
        if let Some(b) = self.buckets.get_mut(index) {
            *b += signed;
        }
    }
}

/// The embedding of `text` with `dimensions` components (at least 1), L2-normalised.
#[must_use]
pub fn embed(text: &str, dimensions: usize) -> Vec<f32> {
    let mut acc = Accumulator { buckets: vec![0.0; dimensions.max(1)] };
    let mut previous: Option<String> = None;
    let mut any = false;
    for token in tokens(text) {
        any = true;
        acc.add(Fnv::new(TAG_TOKEN).bytes(token.as_bytes()), WEIGHT_TOKEN);
        if let Some(prev) = &previous {
            acc.add(Fnv::new(TAG_PAIR).bytes(prev.as_bytes()).byte(0).bytes(token.as_bytes()), WEIGHT_PAIR);
        }
        if token.chars().next().is_some_and(char::is_alphanumeric) {
            let padded: Vec<char> = std::iter::once('^').chain(token.chars()).chain(std::iter::once('$')).collect();
            for window in padded.windows(3) {
                let hash = window.iter().fold(Fnv::new(TAG_TRIGRAM), |h, c| h.char(*c));
                acc.add(hash, WEIGHT_TRIGRAM);
            }
        }
        previous = Some(token);
    }
    if !any {
        acc.add(Fnv::new(TAG_RAW).bytes(text.as_bytes()), WEIGHT_TOKEN);
    }
    let norm = acc.buckets.iter().map(|x| x * x).sum::<f64>().sqrt();
    #[allow(clippy::cast_possible_truncation)] // Components of a unit vector fit f32.
    acc.buckets.iter().map(|x| if norm > 0.0 { (x / norm) as f32 } else { 0.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn tokens_split_words_and_symbols_and_lower_case() {
        let t: Vec<String> = tokens("  Héllo, WORLD!  42x ").collect();
        assert_eq!(t, ["héllo", ",", "world", "!", "42x"]);
        assert_eq!(count_tokens("a b  c"), 3);
        assert_eq!(count_tokens("   "), 0);
    }

    #[test]
    fn unit_length_deterministic_and_sized() {
        for (text, dims) in [("hello world", 256), ("x", 1), ("   ", 8), ("!?", 3), ("a longer sentence here", 4096)] {
            let v = embed(text, dims);
            assert_eq!(v.len(), dims);
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{text:?}: norm {norm}");
            assert_eq!(v, embed(text, dims), "deterministic");
        }
    }

    #[test]
    fn shared_words_are_closer_than_unrelated_text() {
        let a = embed("The cat sat on the mat", DEFAULT_DIMENSIONS);
        let b = embed("the cat sat on a mat", DEFAULT_DIMENSIONS);
        let c = embed("Quarterly revenue grew by four percent", DEFAULT_DIMENSIONS);
        assert!(cosine(&a, &b) > 0.6, "{}", cosine(&a, &b));
        assert!(cosine(&a, &c) < 0.3, "{}", cosine(&a, &c));
        assert!(cosine(&a, &embed("THE CAT SAT ON THE MAT", DEFAULT_DIMENSIONS)) > 0.999, "case folded");
    }

    #[test]
    fn known_bits_do_not_drift() {
        // Pinned so that a change to the algorithm is a visible, deliberate change: stored
        // vectors made by an older build would no longer be comparable with new ones.
        assert_eq!(embed("hello world", 8), [0.0, -0.125, 0.125, 0.0, -0.375, -0.25, 0.0, -0.875]);
        assert_eq!(embed("Hello   World", 8), embed("hello world", 8));
        assert_ne!(embed("hello world", 8), embed("hello there", 8));
    }
}
