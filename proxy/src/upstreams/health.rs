//! The background task: one active-check loop per member, each on its own timer and in
//! parallel, plus DNS refresh; reconciled whenever membership changes.
//!
//! The probe is [`shared::probe`]: a minimal HTTP/1.1 client on a fresh TCP connection
//! (`Connection: close`), so a check measures what a new proxied connection would meet. Its timeout covers connect
//! and the response head: a backend that accepts but never answers fails by timeout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Upstream;
use super::backend::{Backend, HealthChange};
use super::discovery;
use crate::config::upstream::{DnsConfig, HealthConfig};

/// Runs checks and DNS refresh for `upstream` until `shutdown`.
pub(super) async fn supervise(upstream: Arc<Upstream>, shutdown: CancellationToken) {
    let mut checks: HashMap<SocketAddr, CancellationToken> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut resolved_for: Option<DnsConfig> = upstream.config().dns.clone();
    let mut next_lookup = Instant::now();
    loop {
        reconcile(&upstream, &mut checks, &mut tasks, &shutdown);
        let dns = upstream.config().dns.clone();
        if dns != resolved_for {
            // A reload pointed the group at another name: resolve it now.
            next_lookup = Instant::now();
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = upstream.changed.notified() => {}
            () = tokio::time::sleep_until(next_lookup), if dns.is_some() => {
                if let Some(dns) = dns {
                    let answer = discovery::resolve(&dns).await;
                    upstream.apply_discovery(&dns, answer);
                    next_lookup = Instant::now() + Duration::from_millis(dns.refresh_interval_ms);
                    resolved_for = Some(dns);
                }
            }
        }
    }
    for token in checks.values() {
        token.cancel();
    }
    tasks.shutdown().await;
}

/// Starts a check loop for every new member and stops those of removed ones.
fn reconcile(
    upstream: &Arc<Upstream>,
    checks: &mut HashMap<SocketAddr, CancellationToken>,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) {
    while tasks.try_join_next().is_some() {}
    let members = upstream.members.load();
    checks.retain(|addr, token| {
        let keep = members.backends.iter().any(|b| b.addr == *addr);
        if !keep {
            token.cancel();
        }
        keep
    });
    for backend in &members.backends {
        if checks.contains_key(&backend.addr) {
            continue;
        }
        let token = shutdown.child_token();
        checks.insert(backend.addr, token.clone());
        tasks.spawn(check_loop(upstream.clone(), backend.clone(), token));
    }
}

/// Checks one member every `interval_ms` (start to start) until cancelled, reading the
/// health settings afresh each round so a reload applies without a restart.
async fn check_loop(upstream: Arc<Upstream>, backend: Arc<Backend>, cancel: CancellationToken) {
    loop {
        let config = upstream.config();
        let health = &config.health;
        let started = Instant::now();
        if health.enabled {
            let result = tokio::select! {
                () = cancel.cancelled() => return,
                result = probe(backend.addr, health) => result,
            };
            let change = backend.record_check(result, health.rise, health.fall, started.into_std());
            match change {
                Some(HealthChange::Down(reason)) => tracing::info!(
                    upstream = %upstream.name, backend = %backend.addr, %reason, "backend down"),
                Some(HealthChange::Up) => tracing::info!(
                    upstream = %upstream.name, backend = %backend.addr,
                    reason = "checks passed", "backend up"),
                None => {}
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep_until(started + health.interval()) => {}
        }
    }
}

/// One check: `GET path` within `timeout_ms`, passing on an expected status.
pub(crate) async fn probe(addr: SocketAddr, health: &HealthConfig) -> Result<(), String> {
    let status =
        match tokio::time::timeout(health.timeout(), shared::probe::status(addr, &health.path))
            .await
        {
            Ok(result) => result?,
            Err(_) => return Err(format!("no response within {} ms", health.timeout_ms)),
        };
    let expected = health.expected_status.codes();
    if expected.contains(&status) {
        Ok(())
    } else {
        Err(format!("status {status}, expected {expected:?}"))
    }
}

#[cfg(test)]
mod tests;
