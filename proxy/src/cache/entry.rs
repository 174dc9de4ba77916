//! One stored response and its age arithmetic.

use std::time::{Duration, Instant};

use bytes::Bytes;
use pingora::http::ResponseHeader;

use super::policy::{self, Directives};

/// A complete response held by the cache.
#[derive(Debug)]
pub struct Entry {
    /// The origin's response header, without `Age`, `Connection`, the fields it names and
    /// the hop-by-hop fields ([`policy::unstorable_fields`]), `Content-Length` set.
    pub header: ResponseHeader,
    /// The whole body.
    pub body: Bytes,
    /// When the proxy received it (or last revalidated it).
    pub stored: Instant,
    /// The `Age` it arrived with.
    pub initial_age: Duration,
    /// How long it is fresh, counted from age zero.
    pub lifetime: Duration,
    /// The response's own directives.
    pub directives: Directives,
    /// Seconds it may be served stale while a refresh runs.
    pub stale_while_revalidate: Duration,
    /// Seconds it may be served stale when every upstream fails.
    pub stale_if_error: Duration,
    /// The request headers it varies on (lowercase names).
    pub vary: Vec<String>,
}

/// How responses become entries, as `[cache]` sets it.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Whether heuristic freshness (from `Last-Modified`) applies.
    pub heuristic: bool,
    /// Stale windows for responses that name none.
    pub stale: StaleDefaults,
    /// The targeted cache-control field read ahead of `CDN-Cache-Control` and
    /// `Cache-Control` (RFC 9213).
    pub target: http::HeaderName,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            heuristic: false,
            stale: StaleDefaults::default(),
            target: http::HeaderName::from_static("flotilla-cache-control"),
        }
    }
}

/// Stale windows a configuration supplies when the response names none.
#[derive(Debug, Clone, Copy, Default)]
pub struct StaleDefaults {
    /// Default `stale-while-revalidate`.
    pub while_revalidate: Duration,
    /// Default `stale-if-error`.
    pub if_error: Duration,
}

impl Entry {
    /// Builds an entry from an origin response that [`policy::not_storable`] accepted.
    pub fn new(mut header: ResponseHeader, body: Bytes, rules: &Rules) -> Self {
        let defaults = rules.stale;
        let directives = Directives::of_response(&header.headers, &rules.target);
        let lifetime = policy::freshness_lifetime(&header.headers, &directives, rules.heuristic);
        // An invalid `Age` cannot make the response fresh: it arrives stale (and may
        // still be revalidated).
        let (initial_age, lifetime) = match policy::initial_age(&header.headers) {
            Some(age) => (age, lifetime),
            None => (Duration::ZERO, Duration::ZERO),
        };
        let vary = policy::vary_names(&header.headers).unwrap_or_default();
        for name in policy::unstorable_fields(&header.headers) {
            header.remove_header(&name);
        }
        header.remove_header(&http::header::AGE);
        for name in directives.unstored_fields() {
            header.remove_header(name);
        }
        let _ = header.insert_header(http::header::CONTENT_LENGTH, body.len().to_string());
        let never_stale = directives.no_cache || directives.revalidate_when_stale();
        let window = |own: Option<u64>, default: Duration| {
            if never_stale {
                Duration::ZERO
            } else {
                own.map_or(default, Duration::from_secs)
            }
        };
        Self {
            stale_while_revalidate: window(
                directives.stale_while_revalidate,
                defaults.while_revalidate,
            ),
            stale_if_error: window(directives.stale_if_error, defaults.if_error),
            header,
            body,
            stored: Instant::now(),
            initial_age,
            lifetime,
            directives,
            vary,
        }
    }

    /// The current age (RFC 9111 §4.2.3, with the proxy's own receipt as the clock).
    pub fn age(&self) -> Duration {
        self.initial_age.saturating_add(self.stored.elapsed())
    }

    /// Fresh and usable without asking the origin.
    pub fn is_fresh(&self) -> bool {
        !self.directives.no_cache && self.age() < self.lifetime
    }

    /// May answer when every upstream fails: stale by no more than `stale-if-error`.
    pub fn serves_on_error(&self) -> bool {
        !self.stale_if_error.is_zero() && self.staleness() <= self.stale_if_error
    }

    /// How long past its lifetime it is (zero while fresh).
    pub fn staleness(&self) -> Duration {
        self.age().saturating_sub(self.lifetime)
    }

    /// How long the store must keep it: its lifetime plus the longer stale window,
    /// plus room to revalidate it when validators exist.
    pub fn time_to_keep(&self) -> Duration {
        let stale = self.stale_while_revalidate.max(self.stale_if_error);
        let validators = self.header.headers.contains_key(http::header::ETAG)
            || self
                .header
                .headers
                .contains_key(http::header::LAST_MODIFIED);
        let revalidation = if validators {
            Duration::from_secs(300).max(self.lifetime)
        } else {
            Duration::ZERO
        };
        self.lifetime
            .saturating_sub(self.initial_age)
            .saturating_add(stale.max(revalidation))
    }

    /// The bytes this entry costs in the store, header included.
    pub fn weight(&self) -> u32 {
        let headers: usize = self
            .header
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        u32::try_from(self.body.len() + headers + 256).unwrap_or(u32::MAX)
    }

    /// A copy with headers refreshed by an origin 304 (RFC 9111 §4.3.4): the stored body,
    /// the new header fields, and a fresh clock.
    pub fn refreshed(&self, not_modified: &ResponseHeader, rules: &Rules) -> Self {
        let mut header = self.header.clone();
        for (name, value) in &not_modified.headers {
            if name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING {
                continue;
            }
            let _ = header.insert_header(name.clone(), value.clone());
        }
        Self::new(header, self.body.clone(), rules)
    }
}
