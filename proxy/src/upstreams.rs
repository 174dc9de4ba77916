//! PLACEHOLDER for the upstreams module (selection, health, discovery), which another
//! engineer builds against the same API; it replaces this file at merge. This stand-in is
//! a weighted round robin over the static list in which every backend is always healthy.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::UpstreamConfig;

/// What a consistent-hash policy hashes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// A request header's value.
    Header(http::HeaderName),
    /// A cookie's value.
    Cookie(String),
    /// The client's IP address.
    ClientIp,
}

/// How one attempt at a backend ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response that is not a server error.
    Success,
    /// The TCP connection could not be made.
    ConnectFailed,
    /// The backend did not answer in time.
    Timeout,
    /// The connection broke mid-exchange.
    Broken,
    /// A response with this (server error) status.
    Status(u16),
}

/// One backend's state, for `/status` and metrics.
#[derive(Serialize, Clone, Debug)]
pub struct BackendStatus {
    /// Address.
    pub addr: SocketAddr,
    /// Weight.
    pub weight: u32,
    /// Active health.
    pub healthy: bool,
    /// Passively ejected.
    pub ejected: bool,
    /// Selectable.
    pub eligible: bool,
    /// Outstanding requests.
    pub inflight: u64,
    /// RFC 3339 time of the last check.
    pub last_check: Option<String>,
    /// Whether the last check passed.
    pub last_check_ok: Option<bool>,
    /// The last error seen.
    pub last_error: Option<String>,
    /// Passed checks.
    pub checks_ok_total: u64,
    /// Failed checks.
    pub checks_failed_total: u64,
    /// Ejections.
    pub ejections_total: u64,
    /// Attempts sent.
    pub requests_total: u64,
}

struct Backend {
    addr: SocketAddr,
    weight: u32,
    inflight: Arc<AtomicU64>,
    requests: AtomicU64,
}

/// A named group of backends.
pub struct Upstream {
    name: String,
    config: RwLock<Arc<UpstreamConfig>>,
    backends: RwLock<Arc<Vec<Arc<Backend>>>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .finish()
    }
}

/// A chosen backend, held for the duration of one attempt.
#[derive(Debug)]
pub struct Selection {
    addr: SocketAddr,
    inflight: Arc<AtomicU64>,
}

impl Selection {
    /// The backend's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// Records how the attempt ended.
    pub fn finish(self, _outcome: Outcome) {}
}

impl Drop for Selection {
    fn drop(&mut self) {
        self.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn build(config: &UpstreamConfig) -> Arc<Vec<Arc<Backend>>> {
    Arc::new(
        config
            .backends
            .iter()
            .map(|b| {
                Arc::new(Backend {
                    addr: b.addr,
                    weight: b.weight,
                    inflight: Arc::new(AtomicU64::new(0)),
                    requests: AtomicU64::new(0),
                })
            })
            .collect(),
    )
}

impl Upstream {
    /// Builds the group.
    pub fn new(name: &str, config: &UpstreamConfig) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            config: RwLock::new(Arc::new(config.clone())),
            backends: RwLock::new(build(config)),
            next: AtomicUsize::new(0),
        })
    }
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The config in force.
    pub fn config(&self) -> Arc<UpstreamConfig> {
        self.config
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
    fn list(&self) -> Arc<Vec<Arc<Backend>>> {
        self.backends
            .read()
            .map(|b| b.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
    /// Picks a backend not in `tried`.
    pub fn select(&self, _hash_input: Option<&[u8]>, tried: &[SocketAddr]) -> Option<Selection> {
        let list = self.list();
        let slots: Vec<&Arc<Backend>> = list
            .iter()
            .flat_map(|b| std::iter::repeat_n(b, b.weight as usize))
            .collect();
        if slots.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..slots.len())
            .map(|i| slots[(start + i) % slots.len()])
            .find(|b| !tried.contains(&b.addr))
            .map(|b| {
                b.inflight.fetch_add(1, Ordering::Relaxed);
                b.requests.fetch_add(1, Ordering::Relaxed);
                Selection {
                    addr: b.addr,
                    inflight: b.inflight.clone(),
                }
            })
    }
    /// The hash key, when the policy hashes.
    pub fn hash_key(&self) -> Option<HashKey> {
        None
    }
    /// Attempts per request.
    pub fn max_attempts(&self) -> usize {
        self.config().retry.max_attempts
    }
    /// The retry budget.
    pub fn try_acquire_retry(&self) -> bool {
        true
    }
    /// Applies a reloaded config.
    pub fn reconfigure(&self, config: &UpstreamConfig) {
        if let Ok(mut c) = self.config.write() {
            *c = Arc::new(config.clone());
        }
        if let Ok(mut b) = self.backends.write() {
            *b = build(config);
        }
    }
    /// Every backend's state.
    pub fn snapshot(&self) -> Vec<BackendStatus> {
        self.list()
            .iter()
            .map(|b| BackendStatus {
                addr: b.addr,
                weight: b.weight,
                healthy: true,
                ejected: false,
                eligible: true,
                inflight: b.inflight.load(Ordering::Relaxed),
                last_check: None,
                last_check_ok: None,
                last_error: None,
                checks_ok_total: 0,
                checks_failed_total: 0,
                ejections_total: 0,
                requests_total: b.requests.load(Ordering::Relaxed),
            })
            .collect()
    }
    /// Selectable backends.
    pub fn eligible_count(&self) -> usize {
        self.list().len()
    }
    /// Health checks and discovery until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        shutdown.cancelled().await;
    }
}
