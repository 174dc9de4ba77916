//! The response cache: RFC 9111 semantics over a moka store, with request coalescing
//! and stale serving. The gateway asks it questions in its phases; nothing here touches
//! a session, so the rules are unit-tested directly.
//!
//! # Layout
//!
//! - [`policy`]: `Cache-Control` and targeted-field parsing, storability, freshness,
//!   conditionals.
//! - [`key`]: URL keys and `Vary` variants.
//! - [`range`]: byte ranges of a stored response.
//! - [`entry`]: one stored response and its age.
//! - [`store`]: moka bounded by bytes, per-entry expiry, purge.
//! - [`coalesce`]: one upstream request per key at a time.

pub mod coalesce;
pub mod entry;
pub mod key;
pub mod policy;
pub mod range;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::CacheConfig;
pub use coalesce::{Coalescer, Leader, Turn};
pub use entry::{Entry, Rules, StaleDefaults};
pub use store::Store;

/// What the cache did for one request; the `X-Cache` value and the metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from a fresh entry.
    Hit,
    /// Fetched from the origin (and stored if allowed).
    Miss,
    /// Served from a stale entry (stale-while-revalidate or stale-if-error).
    Stale,
    /// A stale entry the origin confirmed with a 304.
    Revalidated,
    /// The cache was not consulted (method, directives, authorisation, streams).
    Bypass,
}

impl CacheStatus {
    /// The `result` label of `proxy_cache_requests_total`: the same word, lower-case, as
    /// the metric-name contract spells it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Stale => "stale",
            Self::Revalidated => "revalidated",
            Self::Bypass => "bypass",
        }
    }

    /// The `X-Cache` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
            Self::Stale => "STALE",
            Self::Revalidated => "REVALIDATED",
            Self::Bypass => "BYPASS",
        }
    }
}

/// The process's one cache, shared by every request and the admin listener.
pub struct Cache {
    /// The entries.
    pub store: Store,
    /// Fills in progress.
    pub coalescer: Arc<Coalescer>,
    /// Responses with a body over this many bytes stream through unstored.
    pub max_object_bytes: u64,
    /// The configured byte bound.
    pub max_size_bytes: u64,
    /// How long a miss waits for another request's fill of the same key.
    pub lock_timeout: Duration,
    /// How responses become entries: heuristic freshness, stale defaults, the targeted
    /// cache-control field.
    pub rules: Rules,
    /// Whether responses to the client lose the targeted cache-control fields.
    pub strip_targeted: bool,
}

/// The cache as `/status` shows it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CacheState {
    /// Whether the cache is on.
    pub enabled: bool,
    /// Bytes held.
    pub bytes: u64,
    /// The byte bound.
    pub max_size_bytes: u64,
    /// Entries held.
    pub entries: u64,
    /// Entries evicted to stay under the bound.
    pub evictions: u64,
}

impl Cache {
    /// A cache per `[cache]`; `None` when it is off.
    pub fn from_config(config: &CacheConfig) -> Option<Arc<Self>> {
        config.enabled.then(|| {
            Arc::new(Self {
                store: Store::new(config.max_size_bytes),
                coalescer: Arc::default(),
                max_object_bytes: config.max_object_bytes,
                max_size_bytes: config.max_size_bytes,
                lock_timeout: Duration::from_millis(config.lock_timeout_ms),
                rules: Rules {
                    heuristic: config.heuristic_freshness,
                    stale: StaleDefaults {
                        while_revalidate: Duration::from_secs(config.stale_while_revalidate_secs),
                        if_error: Duration::from_secs(config.stale_if_error_secs),
                    },
                    target: http::HeaderName::from_bytes(config.targeted_cache_control.as_bytes())
                        .unwrap_or_else(|_| Rules::default().target),
                },
                strip_targeted: config.strip_targeted_cache_control,
            })
        })
    }

    /// Builds an entry with this cache's freshness settings.
    pub fn entry(&self, header: pingora::http::ResponseHeader, body: bytes::Bytes) -> Entry {
        Entry::new(header, body, &self.rules)
    }

    /// The numbers `/status` and `/metrics` report.
    pub fn state(&self) -> CacheState {
        CacheState {
            enabled: true,
            bytes: self.store.bytes(),
            max_size_bytes: self.max_size_bytes,
            entries: self.store.entries(),
            evictions: self.store.evictions(),
        }
    }
}

#[cfg(test)]
mod tests;
