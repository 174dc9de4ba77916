//! The background service that keeps the certificate current: it checks the stored one,
//! orders when the certificate in service is missing, does not cover `domains`, or is
//! within `renew_before` of expiry, and backs off after failures. A failure is logged at
//! ERROR with the CA's reason and counted; the listeners keep what they have.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::{Acme, order};

/// How often a proxy that waits for another's order looks at the lock and the store.
const LOCK_POLL: Duration = Duration::from_secs(1);
/// How often the store is read for a certificate another proxy renewed, at most.
const STORE_POLL: Duration = Duration::from_secs(60);

/// Exponential back-off between failed orders: `initial`, doubled per failure, at most
/// `max`; reset by a success.
#[derive(Debug)]
pub(super) struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    /// No order before this.
    until: Option<Instant>,
}

impl Backoff {
    pub(super) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            failures: 0,
            until: None,
        }
    }

    /// Records a failure; the wait before the next try.
    fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let factor = 2u32.saturating_pow(self.failures - 1);
        let wait = self.initial.saturating_mul(factor).min(self.max);
        self.until = Some(Instant::now() + wait);
        wait
    }

    fn succeeded(&mut self) {
        self.failures = 0;
        self.until = None;
    }

    /// How long until the next try is allowed; zero when it is.
    fn remaining(&self) -> Duration {
        self.until.map_or(Duration::ZERO, |until| {
            until.saturating_duration_since(Instant::now())
        })
    }
}

impl Acme {
    /// How long until the certificate in service is due for renewal; zero when it is (or
    /// there is none, or it does not cover `domains`).
    fn due_in(&self) -> Duration {
        let current = self.current.load();
        let Some(current) = current.as_ref() else {
            return Duration::ZERO;
        };
        if !current.leaf.covers(&self.config.domains) {
            return Duration::ZERO;
        }
        let not_after = u64::try_from(current.leaf.not_after_unix).unwrap_or(0);
        let due_at = UNIX_EPOCH + Duration::from_secs(not_after);
        let due_at = due_at
            .checked_sub(self.config.renew_before())
            .unwrap_or(UNIX_EPOCH);
        due_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }

    /// One turn of the loop; returns how long to sleep before the next.
    async fn turn(&self) -> Duration {
        self.pick_up_stored();
        let due_in = self.due_in();
        if !due_in.is_zero() {
            return due_in.min(STORE_POLL);
        }
        let backing_off = self.backoff().remaining();
        if !backing_off.is_zero() {
            return backing_off.min(STORE_POLL);
        }
        let lock = match self.store.try_lock() {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                tracing::debug!("another proxy holds the ACME lock; waiting for its certificate");
                return LOCK_POLL;
            }
            Err(error) => {
                tracing::error!(%error, dir = %self.config.storage_dir.display(),
                    "cannot take the ACME storage lock");
                return self.failed();
            }
        };
        // Another proxy may have renewed while this one waited for the lock.
        self.pick_up_stored();
        if !self.due_in().is_zero() {
            return LOCK_POLL;
        }
        let wait = self.order_now().await;
        drop(lock);
        wait
    }

    async fn order_now(&self) -> Duration {
        let renewal = self.current.load().is_some();
        tracing::info!(domains = ?self.config.domains, directory = self.config.directory(),
            renewal, "ordering a certificate");
        let issued = match order::order(&self.config, &self.store, &self.challenges).await {
            Ok(issued) => issued,
            Err(error) => {
                let wait = self.failed();
                tracing::error!(%error, domains = ?self.config.domains,
                    retry_in_secs = wait.as_secs(),
                    "ACME order failed; the listeners keep the certificate they have");
                return wait;
            }
        };
        let loaded = match crate::tls::certificate::load(&issued.chain_pem, &issued.key_pem) {
            Ok(loaded) => loaded,
            Err(error) => {
                let wait = self.failed();
                tracing::error!(%error, retry_in_secs = wait.as_secs(),
                    "the CA's certificate does not load");
                return wait;
            }
        };
        if let Err(error) = self
            .store
            .save_certificate(&issued.chain_pem, &issued.key_pem)
        {
            // Served all the same; only a restart or another proxy misses it.
            tracing::error!(%error, dir = %self.config.storage_dir.display(),
                "cannot store the new certificate");
        }
        tracing::info!(serial = %loaded.leaf.serial, not_after = loaded.leaf.not_after_unix,
            domains = ?loaded.leaf.names, "certificate issued and in service");
        self.install(loaded);
        self.backoff().succeeded();
        self.metrics.certificate_order("success");
        LOCK_POLL
    }

    fn failed(&self) -> Duration {
        self.metrics.certificate_order("failure");
        self.backoff().failed()
    }

    fn backoff(&self) -> std::sync::MutexGuard<'_, Backoff> {
        self.retry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl BackgroundService for Acme {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            // An order cut short by shutdown is simply abandoned; the CA expires it.
            let wait = tokio::select! {
                wait = self.turn() => wait,
                _ = shutdown.changed() => return,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_its_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(35));
        assert_eq!(backoff.failed(), Duration::from_secs(10));
        assert_eq!(backoff.failed(), Duration::from_secs(20));
        assert_eq!(backoff.failed(), Duration::from_secs(35));
        assert_eq!(backoff.failed(), Duration::from_secs(35));
        assert!(!backoff.remaining().is_zero());
        backoff.succeeded();
        assert!(backoff.remaining().is_zero());
        assert_eq!(backoff.failed(), Duration::from_secs(10));
    }
}
