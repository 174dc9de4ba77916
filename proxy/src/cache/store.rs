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

/// Entries by variant key, and the varying header names by primary key.
#[derive(Clone)]
pub struct Store {
    entries: Cache<String, Arc<Entry>>,
    vary: Cache<String, Arc<Vec<String>>>,
    evictions: Arc<AtomicU64>,
}

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
    /// A store holding at most `max_bytes` of responses.
    pub fn new(max_bytes: u64) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let counter = evictions.clone();
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_key: &String, entry: &Arc<Entry>| entry.weight())
            .expire_after(KeepFor)
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        let vary = Cache::builder().max_capacity(100_000).build();
        Self {
            entries,
            vary,
            evictions,
        }
    }

    /// The stored variant matching `request` for the URL `primary`.
    pub fn get(&self, primary: &str, request: &http::HeaderMap) -> Option<Arc<Entry>> {
        let names = self.vary.get(primary).unwrap_or_default();
        self.entries.get(&key::variant(primary, &names, request))
    }

    /// Stores `entry` for the URL `primary`, under the variant `request` selects.
    pub fn insert(&self, primary: &str, request: &http::HeaderMap, entry: Entry) {
        self.insert_arc(primary, request, Arc::new(entry));
    }

    /// [`Store::insert`] for an entry that is also being served.
    pub fn insert_arc(&self, primary: &str, request: &http::HeaderMap, entry: Arc<Entry>) {
        let key = key::variant(primary, &entry.vary, request);
        self.vary
            .insert(primary.to_owned(), Arc::new(entry.vary.clone()));
        self.entries.insert(key, entry);
    }

    /// Drops every variant of the URL `primary`. Without `Vary` that is one key; with
    /// it, the variants' keys are found by a scan.
    pub fn invalidate(&self, primary: &str) -> u64 {
        match self.vary.get(primary) {
            Some(names) if !names.is_empty() => self.purge(|key| key::primary_of(key) == primary),
            _ => match self.entries.remove(primary) {
                Some(_) => 1,
                None => 0,
            },
        }
    }

    /// Drops every entry whose URL starts with `prefix`.
    pub fn purge_prefix(&self, prefix: &str) -> u64 {
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

    /// Weighted bytes held (after pending maintenance).
    pub fn bytes(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
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
