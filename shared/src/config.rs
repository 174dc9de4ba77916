//! Layered configuration: a TOML file, then environment variables, then command-line flags.
//!
//! Each binary owns its typed config struct (`#[serde(deny_unknown_fields)]`, units in field
//! names, a doc comment on every field) and calls [`load`] once at start-up. Later layers
//! override earlier ones key by key, so a flag changes one field without discarding the file.
//!
//! Flags arrive as a serializable struct whose unset fields are skipped
//! (`#[serde(skip_serializing_if = "Option::is_none")]`), so an absent flag never hides a value
//! from the file or the environment.
//!
//! [`address`] is the one rule for the addresses every binary takes, in files and flags.

pub mod address;

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a configuration could not be loaded. Every message names the key and the source.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    /// An error about one key, found by a binary's own validation after loading.
    pub fn invalid(key: &str, reason: impl std::fmt::Display) -> Self {
        Self(format!("`{key}`: {reason}"))
    }
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        let messages: Vec<String> = error.into_iter().map(describe).collect();
        Self(messages.join("; "))
    }
}

/// Formats one figment error as "`key`: reason (in source)", with array elements written
/// as the validation messages write them: `listeners[0].addr`, not `listeners.0.addr`.
fn describe(error: figment::Error) -> String {
    let key = if error.path.is_empty() {
        None
    } else {
        Some(key_of(&error.path))
    };
    let source = error
        .metadata
        .as_ref()
        .map(|meta| match &meta.source {
            Some(source) => format!(" (in {source})"),
            None => format!(" (in {})", meta.name),
        })
        .unwrap_or_default();
    match key {
        Some(key) => format!("`{key}`: {}{source}", error.kind),
        None => format!("{}{source}", error.kind),
    }
}

/// `["listeners", "0", "addr"]` as `listeners[0].addr`.
fn key_of(path: &[String]) -> String {
    let mut key = String::new();
    for segment in path {
        if !key.is_empty() && !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            key.push('[');
            key.push_str(segment);
            key.push(']');
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(segment);
        }
    }
    key
}

/// Where configuration comes from, lowest precedence first.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// A TOML file; it must exist when given.
    pub file: Option<&'a Path>,
    /// Environment prefix for nested keys, e.g. `APP__` makes `APP__DATASETS__MAX_UPLOAD_BYTES`
    /// set `datasets.max_upload_bytes`. `None` skips the environment layer.
    pub env_prefix: Option<&'a str>,
}

/// Loads `T` from the file, then the environment, then `flags`, in that order of precedence.
///
/// # Errors
///
/// A missing file, a syntax error, an unknown key or a value of the wrong type, each named
/// by key and source.
pub fn load<T, F>(sources: Sources<'_>, flags: &F) -> Result<T, ConfigError>
where
    T: DeserializeOwned,
    F: Serialize,
{
    let mut figment = Figment::new();
    if let Some(file) = sources.file {
        if !file.is_file() {
            return Err(ConfigError(format!(
                "config file {} does not exist or is not a file",
                file.display()
            )));
        }
        figment = figment.merge(Toml::file_exact(file));
    }
    if let Some(prefix) = sources.env_prefix {
        figment = figment.merge(Env::prefixed(prefix).split("__"));
    }
    figment = figment.merge(Serialized::defaults(flags));
    Ok(figment.extract()?)
}

#[cfg(test)]
mod tests;
