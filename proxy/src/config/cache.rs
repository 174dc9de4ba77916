//! `[cache]`: the response cache's size, object limit, coalescing and stale defaults.
//! Routes opt out with `cache = false`.

use serde::Deserialize;
use shared::config::ConfigError;

/// `[cache]`. Off unless `enabled = true` (or quick mode's `--cache SIZE`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Turns the cache on for every route that does not say `cache = false`.
    pub enabled: bool,
    /// The bound on stored bytes (bodies plus headers); least-used entries go first.
    pub max_size_bytes: u64,
    /// Larger responses stream through without being stored.
    pub max_object_bytes: u64,
    /// How long concurrent misses for one key wait for the first one's response before
    /// going upstream themselves, in milliseconds.
    pub lock_timeout_ms: u64,
    /// `stale-if-error` for responses that do not name one, in seconds.
    pub stale_if_error_secs: u64,
    /// `stale-while-revalidate` for responses that do not name one, in seconds.
    pub stale_while_revalidate_secs: u64,
    /// Give responses without explicit freshness 10% of their `Last-Modified` age
    /// (at most a day). Off: such responses are stored only to be revalidated.
    pub heuristic_freshness: bool,
    /// The targeted cache-control field (RFC 9213) aimed at this proxy alone; it, else
    /// `CDN-Cache-Control`, replaces `Cache-Control` for the cache's own decisions.
    pub targeted_cache_control: String,
    /// Remove the targeted field and `CDN-Cache-Control` from responses to the client (the
    /// last cache on the path); off, they go on for caches downstream.
    pub strip_targeted_cache_control: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_size_bytes: 64 * 1024 * 1024,
            max_object_bytes: 1024 * 1024,
            lock_timeout_ms: 5_000,
            stale_if_error_secs: 0,
            stale_while_revalidate_secs: 0,
            heuristic_freshness: false,
            targeted_cache_control: "Flotilla-Cache-Control".to_owned(),
            strip_targeted_cache_control: false,
        }
    }
}

impl CacheConfig {
    /// Quick mode's `--cache SIZE`: the defaults, on, bounded by `size`.
    pub fn sized(size: u64) -> Self {
        Self {
            enabled: true,
            max_size_bytes: size,
            max_object_bytes: Self::default().max_object_bytes.min(size),
            ..Self::default()
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if self.max_size_bytes == 0 {
            return Err(ConfigError::invalid(
                "cache.max_size_bytes",
                "must be above 0",
            ));
        }
        if self.max_object_bytes == 0 || self.max_object_bytes > self.max_size_bytes {
            return Err(ConfigError::invalid(
                "cache.max_object_bytes",
                "must be above 0 and at most cache.max_size_bytes",
            ));
        }
        if self.max_object_bytes > u64::from(u32::MAX) / 2 {
            return Err(ConfigError::invalid(
                "cache.max_object_bytes",
                "must be below 2 GiB",
            ));
        }
        if self.lock_timeout_ms == 0 || self.lock_timeout_ms > 60_000 {
            return Err(ConfigError::invalid(
                "cache.lock_timeout_ms",
                "must be between 1 and 60000",
            ));
        }
        if http::header::HeaderName::from_bytes(self.targeted_cache_control.as_bytes()).is_err() {
            return Err(ConfigError::invalid(
                "cache.targeted_cache_control",
                "must be a header field name",
            ));
        }
        Ok(())
    }
}

/// A `--cache SIZE` flag: a size as [`parse_size`] reads it, or `0`, which turns the
/// cache off.
///
/// # Errors
///
/// As [`parse_size`], except that zero is accepted.
pub fn parse_cache_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if !text.is_empty() && text.chars().all(|c| c == '0') {
        return Ok(0);
    }
    parse_size(text)
}

/// Parses a size like `64MiB`, `512KiB`, `1GiB`, `10MB` or `4096` (bytes).
///
/// # Errors
///
/// A message naming what was wrong, for clap to print.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}` (use KiB, MiB or GiB)")),
    };
    number
        .checked_mul(factor)
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| format!("`{text}` is not a usable size"))
}
