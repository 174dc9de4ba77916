//! `[tls.acme]`: the proxy orders its certificate from an ACME (RFC 8555) CA, answers the
//! CA's HTTP-01 challenge itself on a plain-HTTP listener, stores what it got under
//! `storage_dir`, and renews it in the background, swapping it into the listeners'
//! [`Resolver`] without touching an open connection.
//!
//! # Layout
//!
//! - [`store`]: the files under `storage_dir`, and the lock that lets one of several
//!   proxies sharing it order while the others wait and load what it stored.
//! - [`challenges`]: the HTTP-01 key authorizations that `gateway::acme_challenge` serves.
//! - `order`: one order, from account to chain, with instant-acme.
//! - `client`: instant-acme's HTTPS transport.
//! - `renew`: the background service: when to order, back-off after failures.
//!
//! Only HTTP-01: TLS-ALPN-01 needs the listener to negotiate `acme-tls/1`, and Pingora's
//! `TlsSettings` sets one ALPN list (`h2` and `http/1.1`, or one custom protocol) for
//! every handshake, so a listener cannot offer both, and rustls ends a handshake whose
//! ALPN offer shares nothing with that list, whatever certificate the resolver chose.

pub mod challenges;
mod client;
mod order;
mod renew;
pub mod store;

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

pub use challenges::Challenges;

use crate::config::AcmeConfig;
use crate::metrics::Metrics;
use crate::tls::certificate::Loaded;
use crate::tls::resolver::Resolver;
use store::Store;

/// The ACME side of the proxy: configuration, storage, what is in service, and the
/// tokens being answered. Run by Pingora as a background service (`renew`).
#[derive(Debug)]
pub struct Acme {
    config: AcmeConfig,
    store: Store,
    /// Shared with the gateway, which answers `/.well-known/acme-challenge/{token}`.
    challenges: Arc<Challenges>,
    /// Shared with every `tls = { acme = true }` listener.
    resolver: Arc<Resolver>,
    /// The certificate in service, to judge when it is due and whether a stored one is
    /// newer.
    current: ArcSwapOption<Loaded>,
    /// Back-off state after failed orders.
    retry: Mutex<renew::Backoff>,
    metrics: Arc<Metrics>,
}

impl Acme {
    /// Opens `storage_dir` and puts the stored certificate, if any, into service at once,
    /// so a restart serves HTTPS from its first connection.
    ///
    /// # Errors
    ///
    /// When `storage_dir` cannot be created.
    pub fn open(config: &AcmeConfig, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let store = Store::open(&config.storage_dir)?;
        let acme = Self {
            challenges: Arc::new(Challenges::new(store.challenges_dir())),
            resolver: Arc::new(Resolver::default()),
            current: ArcSwapOption::empty(),
            retry: Mutex::new(renew::Backoff::new(
                config.retry_initial(),
                config.retry_max(),
            )),
            config: config.clone(),
            store,
            metrics,
        };
        acme.metrics.certificate_orders_start();
        acme.pick_up_stored();
        Ok(acme)
    }

    /// The resolver the ACME listeners serve from.
    pub fn resolver(&self) -> Arc<Resolver> {
        self.resolver.clone()
    }

    /// The tokens the gateway answers.
    pub fn challenges(&self) -> Arc<Challenges> {
        self.challenges.clone()
    }

    /// Puts `loaded` into service and records its expiry.
    fn install(&self, loaded: Loaded) {
        self.resolver.install(loaded.certified.clone());
        self.metrics.certificate_expiry(&loaded.leaf);
        self.current.store(Some(Arc::new(loaded)));
    }

    /// Loads the stored certificate when it is newer than the one in service (another
    /// proxy on the same `storage_dir` renewed it, or this is the start).
    fn pick_up_stored(&self) {
        let stored = match self.store.load_certificate() {
            Ok(Some(stored)) => stored,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, dir = %self.config.storage_dir.display(),
                    "stored certificate unusable; it will be ordered again");
                return;
            }
        };
        // One that misses a name still beats none; it is due at once, so an order follows.
        let domains = &self.config.domains;
        let newer = match &*self.current.load() {
            None => true,
            Some(current) if stored.chain_pem == current.chain_pem => false,
            Some(current) => match (stored.leaf.covers(domains), current.leaf.covers(domains)) {
                (true, false) => true,
                (false, true) => false,
                _ => stored.leaf.not_after_unix >= current.leaf.not_after_unix,
            },
        };
        if newer {
            tracing::info!(serial = %stored.leaf.serial, not_after = stored.leaf.not_after_unix,
                domains = ?stored.leaf.names, "certificate loaded from storage_dir");
            self.install(stored);
        }
    }
}
