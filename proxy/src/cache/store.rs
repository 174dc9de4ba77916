//! The moka store: bounded by bytes through a weigher, each entry expiring when it can
//! no longer be served (lifetime plus stale windows), evictions counted. It is moka's
//! synchronous cache so the gateway can store a response in the body filter the moment
//! its last byte arrives, before the client can ask again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::notification::RemovalCause;
use moka::sync::Cache;

use super::entry::Entry;
use super::key;

/// Responses by key, and the Vary index: which request headers each varying URL's
/// responses vary on. Both are weighed in bytes and share the configured bound.
#[derive(Clone)]
pub struct Store {
    entries: Cache<String, Arc<Entry>>,
    vary: Cache<String, Arc<VaryIndex>>,
    /// Numbers each new Vary index, so variants stored under an index that has since been
    /// evicted or replaced can never be found again (they expire on their own).
    generations: Arc<AtomicU64>,
    evictions: Arc<AtomicU64>,
}

/// What a varying URL's responses vary on.
#[derive(Debug)]
struct VaryIndex {
    names: Vec<String>,
    generation: u64,
}

/// The Vary index gets this share of the byte bound; responses get the rest.
const VARY_INDEX_SHARE: u64 = 16;

struct KeepFor;

impl Expiry<String, Arc<Entry>> for KeepFor {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.time_to_keep())
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Arc<Entry>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.time_to_keep())
    }
}

impl Store {
    /// A store holding at most `max_bytes` of responses and Vary index together.
    pub fn new(max_bytes: u64) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let counter = evictions.clone();
        let index_bytes = max_bytes / VARY_INDEX_SHARE;
        let entries = Cache::builder()
            .max_capacity(max_bytes - index_bytes)
            .weigher(|key: &String, entry: &Arc<Entry>| {
                let key = u32::try_from(key.len()).unwrap_or(u32::MAX);
                entry.weight().saturating_add(key)
            })
            .expire_after(KeepFor)
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        let vary = Cache::builder()
            .max_capacity(index_bytes)
            .weigher(|key: &String, index: &Arc<VaryIndex>| {
                let names: usize = index.names.iter().map(|n| n.len() + 24).sum();
                u32::try_from(key.len() + names + 64).unwrap_or(u32::MAX)
            })
            .build();
        Self {
            entries,
            vary,
            generations: Arc::default(),
            evictions,
        }
    }

    /// The stored response for the URL `primary` that matches `request`. A URL without
    /// `Vary` is one lookup; a varying one reads the index first.
    pub fn get(&self, primary: &str, request: &http::HeaderMap) -> Option<Arc<Entry>> {
        if let Some(entry) = self.entries.get(primary) {
            return Some(entry);
        }
        let index = self.vary.get(primary)?;
        self.entries.get(&key::variant(
            primary,
            index.generation,
            &index.names,
            request,
        ))
    }

    /// Stores `entry` for the URL `primary`, under the variant `request` selects.
    pub fn insert(&self, primary: &str, request: &http::HeaderMap, entry: Entry) {
        self.insert_arc(primary, request, Arc::new(entry));
    }

    /// [`Store::insert`] for an entry that is also being served.
    pub fn insert_arc(&self, primary: &str, request: &http::HeaderMap, entry: Arc<Entry>) {
        if entry.vary.is_empty() {
            // Found first by `get`, so a Vary index left from earlier responses is moot.
            self.entries.insert(primary.to_owned(), entry);
            return;
        }
        // A response without Vary stored earlier would shadow every variant.
        self.entries.invalidate(primary);
        let index = match self.vary.get(primary) {
            Some(index) if index.names == entry.vary => index,
            _ => {
                let index = Arc::new(VaryIndex {
                    names: entry.vary.clone(),
                    generation: self.generations.fetch_add(1, Ordering::Relaxed),
                });
                self.vary.insert(primary.to_owned(), index.clone());
                index
            }
        };
        let key = key::variant(primary, index.generation, &index.names, request);
        self.entries.insert(key, entry);
    }

    /// Drops every stored response for the URL `primary`: the plain one, or every
    /// variant, found by a scan, and the URL's Vary index.
    pub fn invalidate(&self, primary: &str) -> u64 {
        let plain = u64::from(self.entries.remove(primary).is_some());
        if self.vary.remove(primary).is_none() {
            return plain;
        }
        plain + self.purge(|key| key::primary_of(key) == primary)
    }

    /// Drops every response whose URL starts with `prefix`, and those URLs' Vary indexes.
    pub fn purge_prefix(&self, prefix: &str) -> u64 {
        let indexes: Vec<Arc<String>> = self
            .vary
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(key, _)| key)
            .collect();
        for key in &indexes {
            self.vary.invalidate(key.as_str());
        }
        self.purge(|key| key::primary_of(key).starts_with(prefix))
    }

    /// Walks the store once; purges are rare admin actions, so a scan is fine.
    fn purge(&self, matches: impl Fn(&str) -> bool) -> u64 {
        let doomed: Vec<Arc<String>> = self
            .entries
            .iter()
            .filter(|(key, _)| matches(key.as_str()))
            .map(|(key, _)| key)
            .collect();
        for key in &doomed {
            self.entries.invalidate(key.as_str());
        }
        doomed.len() as u64
    }

    /// Weighted bytes held, responses and Vary index (after pending maintenance).
    pub fn bytes(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.vary.run_pending_tasks();
        self.entries.weighted_size() + self.vary.weighted_size()
    }

    /// Entries held.
    pub fn entries(&self) -> u64 {
        self.entries.entry_count()
    }

    /// Entries removed to respect the byte bound, since start.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}
