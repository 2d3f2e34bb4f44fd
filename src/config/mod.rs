//! Configuration: schema with defaults and doc comments, loading from file + environment +
//! flags, and validation into the [`Settings`] the server runs with.
//!
//! Guarantees: a configuration that would make the server unsafe or ambiguous is refused
//! at start with the key path and the reason; nothing is silently corrected.

pub mod agent;
pub mod channels;
pub mod ingest;
pub mod load;
pub mod schema;
pub mod validate;

pub use load::{ConfigError, Loaded, Overrides, load};
pub use schema::Config;
pub use validate::{LogLevel, Settings, validate};

/// Load and validate in one step using the process environment.
///
/// # Errors
/// Every problem found while loading or validating.
pub fn from_process(overrides: &Overrides) -> Result<Settings, Vec<ConfigError>> {
    let env = |name: &str| std::env::var(name).ok();
    let loaded = load(overrides, &env)?;
    validate(&loaded, &env)
}

#[cfg(test)]
mod tests;
