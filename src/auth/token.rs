//! The token store: which presented secret maps to which identity and scopes.
//!
//! Guarantees: secrets are held only as SHA-256 digests; a presented credential is hashed
//! and compared against *every* stored digest with one constant-time helper, so neither
//! the position of a match nor a common prefix changes the time taken. Weak tokens (short,
//! empty or placeholder) are refused when the store is built, never at request time.

use sha2::{Digest, Sha256};

use super::scope::ScopeSet;

/// Shortest secret accepted, in bytes.
pub const MIN_TOKEN_BYTES: usize = 32;

/// Compare two byte strings in time that depends only on their lengths.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Why a configured token was refused.
#[must_use]
pub fn token_weakness(secret: &str) -> Option<&'static str> {
    let trimmed = secret.trim();
    if trimmed.is_empty() {
        return Some("token is empty");
    }
    if trimmed.len() < MIN_TOKEN_BYTES {
        return Some("token is shorter than 32 bytes");
    }
    let lower = trimmed.to_ascii_lowercase();
    const PLACEHOLDERS: &[&str] = &[
        "changeme",
        "change-me",
        "change_me",
        "placeholder",
        "your-token",
        "your_token",
        "yourtoken",
        "example",
        "replace",
        "secret-here",
        "token-here",
        "xxxxxxxx",
        "...",
        "<",
        ">",
    ];
    if PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
        return Some("token looks like a placeholder");
    }
    let first = trimmed.as_bytes().first().copied().unwrap_or_default();
    if trimmed.bytes().all(|b| b == first) {
        return Some("token repeats one character");
    }
    None
}

/// One accepted token.
#[derive(Clone)]
pub struct TokenEntry {
    /// Identity shown in logs; never the secret.
    pub id: String,
    /// What the token may do.
    pub scopes: ScopeSet,
    digest: [u8; 32],
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEntry").field("id", &self.id).field("scopes", &self.scopes).finish_non_exhaustive()
    }
}

/// All configured tokens.
#[derive(Debug, Clone, Default)]
pub struct TokenStore {
    entries: Vec<TokenEntry>,
}

impl TokenStore {
    /// Add a token; the caller has checked it with [`token_weakness`].
    pub fn add(&mut self, id: &str, secret: &str, scopes: ScopeSet) {
        self.entries.push(TokenEntry { id: id.to_owned(), scopes, digest: digest(secret.as_bytes()) });
    }

    /// No tokens configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry whose secret equals `presented`, checking every entry.
    #[must_use]
    pub fn authenticate(&self, presented: &[u8]) -> Option<&TokenEntry> {
        let probe = digest(presented);
        let mut found = None;
        for entry in &self.entries {
            if constant_time_eq(&entry.digest, &probe) && found.is_none() {
                found = Some(entry);
            }
        }
        found
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_tokens() {
        assert!(token_weakness("").is_some());
        assert!(token_weakness("short").is_some());
        assert!(token_weakness("changeme-changeme-changeme-changeme").is_some());
        assert!(token_weakness(&"a".repeat(40)).is_some());
        assert!(token_weakness("at least 32 characters ...........").is_some());
        assert!(token_weakness("k3Jd9aPq0xLm2ZrT7vNw4bYc8HfGs1Ue").is_none());
    }

    #[test]
    fn authenticate() {
        let mut s = TokenStore::default();
        s.add("a", "k3Jd9aPq0xLm2ZrT7vNw4bYc8HfGs1Ue", ScopeSet::ALL);
        assert_eq!(s.authenticate(b"k3Jd9aPq0xLm2ZrT7vNw4bYc8HfGs1Ue").map(|e| e.id.as_str()), Some("a"));
        assert!(s.authenticate(b"k3Jd9aPq0xLm2ZrT7vNw4bYc8HfGs1Uf").is_none());
        assert!(
            constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"ab", b"abc")
        );
    }
}
