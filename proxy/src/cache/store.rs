//! The moka store: bounded by bytes through a weigher, each entry expiring when it can
//! no longer be served (lifetime plus stale windows), evictions counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;
use moka::notification::RemovalCause;

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
    pub async fn get(&self, primary: &str, request: &http::HeaderMap) -> Option<Arc<Entry>> {
        let names = self.vary.get(primary).await.unwrap_or_default();
        self.entries
            .get(&key::variant(primary, &names, request))
            .await
    }

    /// Stores `entry` for the URL `primary`, under the variant `request` selects.
    pub async fn insert(&self, primary: &str, request: &http::HeaderMap, entry: Entry) {
        self.insert_arc(primary, request, Arc::new(entry)).await;
    }

    /// [`Store::insert`] for an entry that is also being served.
    pub async fn insert_arc(&self, primary: &str, request: &http::HeaderMap, entry: Arc<Entry>) {
        let key = key::variant(primary, &entry.vary, request);
        self.vary
            .insert(primary.to_owned(), Arc::new(entry.vary.clone()))
            .await;
        self.entries.insert(key, entry).await;
    }

    /// Drops every variant of the URL `primary`.
    pub async fn invalidate(&self, primary: &str) -> u64 {
        self.purge(|key| key::primary_of(key) == primary).await
    }

    /// Drops every entry whose URL starts with `prefix`.
    pub async fn purge_prefix(&self, prefix: &str) -> u64 {
        self.purge(|key| key::primary_of(key).starts_with(prefix))
            .await
    }

    /// Walks the store once; purges are rare admin actions, so a scan is fine.
    async fn purge(&self, matches: impl Fn(&str) -> bool) -> u64 {
        let doomed: Vec<Arc<String>> = self
            .entries
            .iter()
            .filter(|(key, _)| matches(key.as_str()))
            .map(|(key, _)| key)
            .collect();
        for key in &doomed {
            self.entries.invalidate(key.as_str()).await;
        }
        doomed.len() as u64
    }

    /// Weighted bytes held (after pending maintenance).
    pub async fn bytes(&self) -> u64 {
        self.entries.run_pending_tasks().await;
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
